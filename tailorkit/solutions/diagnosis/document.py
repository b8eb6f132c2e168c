"""The diagnosis run's report content: the operating point (chosen and cross-fitted),
calibration, decision curve, subgroup tables, modality comparison, explanations."""

from __future__ import annotations

from typing import Any

import numpy as np

from tailorkit.data.splits import local_splits
from tailorkit.errors import DataError
from tailorkit.evaluate.clinical import (
    calibration,
    cross_fitted_operating_point,
    decision_curve,
    subgroup_table,
)
from tailorkit.evaluate.metrics import curves
from tailorkit.solutions.diagnosis.candidates import Candidate, fold_workers_for, is_twin
from tailorkit.solutions.diagnosis.data import PatientData
from tailorkit.solutions.diagnosis.spec import DiagnosisSpec
from tailorkit.training.ablation import pretraining_ablation


def result_document(spec, data, evaluation, final) -> dict[str, Any]:
    """The run's report content: leaderboard, operating point, calibration, decision curve,
    subgroups, modality comparison, example explanations."""
    evaluated = evaluation["evaluated"]
    twins = {c.name for c in evaluation["candidates"] if is_twin(c)}
    y = data.y[evaluated]
    best = evaluation["best"]
    p_best = evaluation["oof"][best["model"]][evaluated]
    threshold = best["row"]["threshold"]
    policy = spec.operating_point.policy()
    try:
        honest = cross_fitted_operating_point(
            y, p_best, local_splits(evaluation["splits"]), policy, spec.prevalence
        )
    except DataError as error:  # a fold's threshold could not be chosen on the others
        honest = {"error": str(error)}
    document: dict[str, Any] = {
        "protocol": protocol_description(spec, data, len(evaluation["splits"])),
        "data": {
            "rows": int(len(data.y)),
            "patients": None if data.patients is None else int(len(set(data.patients))),
            "table_features": int(data.tabular.X.shape[1]),
            "modalities": data.inputs.modalities(),
            "positive_rate": float(data.y.mean()),
            "positive_label": data.tabular.positive_label,
            "load_counts": data.report.counts,
        },
        "leaderboard": evaluation["leaderboard"],
        "operating_point": {
            "policy": policy.describe(),
            "chosen_on": "pooled out-of-fold predictions",
            "threshold": threshold,
            "prevalence": spec.prevalence or float(data.y.mean()),
            "prevalence_source": "spec" if spec.prevalence else "this sample",
            "at_threshold": {
                k: best["row"].get(k) for k in ("sensitivity", "specificity", "ppv", "npv")
            },
            "cross_fitted": honest,
        },
        "curves": {
            row["model"]: curves(y, evaluation["oof"][row["model"]][evaluated])
            for row in evaluation["leaderboard"]
        },
        "calibration": {
            "recalibration": spec.recalibration,
            "after": calibration(y, p_best),
            "before": calibration(y, evaluation["raw_oof"][best["model"]][evaluated]),
        },
        "decision_curve": decision_curve(y, p_best),
        "subgroups": {
            column: subgroup_table(y, p_best, data.subgroups[column].iloc[evaluated], threshold)
            for column in data.subgroups.columns
        },
        "modality_comparison": modality_comparison(
            [r for r in evaluation["leaderboard"] if r["model"] not in twins]
        ),
        "warnings": list(data.tabular.warnings) + data.report.warnings,
    }
    ablation = pretraining_ablation(evaluation["leaderboard"], auc="auroc")
    if ablation:
        document["ablation"] = {"pretraining": ablation}
    document["explanations"] = example_explanations(best["candidate"], final, data)
    return document


def protocol_description(spec: DiagnosisSpec, data: PatientData, n_splits: int) -> dict:
    evaluation = spec.evaluation
    grouped = data.patients is not None
    kind = "StratifiedGroupKFold by patient" if grouped else "StratifiedKFold"
    unit = "patients" if grouped else "rows"
    text = (
        f"{kind} ({evaluation.folds} folds, shuffled, seed {evaluation.seed})"
        if evaluation.protocol == "kfold"
        else f"stratified holdout of {evaluation.holdout_fraction:.0%} of the {unit} "
        f"(seed {evaluation.seed})"
    )
    text += (
        "; every metric on pooled out-of-fold predictions; preprocessing fitted on training "
        "folds only; the operating point is chosen on the out-of-fold predictions (the "
        "'cross-fitted' rates choose it on the other folds, an honest estimate); 95% "
        "intervals by percentile bootstrap"
        + (" resampling whole patients" if grouped else " stratified by class")
    )
    if spec.recalibration != "none":
        text += (
            f"; {spec.recalibration} recalibration cross-fitted: the calibrator for each "
            "fold is fitted on the other folds' out-of-fold predictions"
        )
    workers = fold_workers_for(spec, n_splits)
    if workers > 1:
        text += f"; the folds ran in {workers} worker processes"
    return {
        "kind": evaluation.protocol,
        "folds": evaluation.folds,
        "seed": evaluation.seed,
        "grouped_by_patient": grouped,
        "fold_workers": workers,
        "description": text,
    }


def modality_comparison(rows: list[dict]) -> list[dict[str, Any]]:
    """Best AUROC per modality (table, note, image, visits, fusion)."""
    best: dict[str, dict] = {}
    for row in rows:
        current = best.get(row["modality"])
        if current is None or (row.get("auroc") or 0) > (current.get("auroc") or 0):
            best[row["modality"]] = row
    return [
        {"modality": m, "model": r["model"], "auroc": r.get("auroc"), "auroc_ci": r.get("auroc_ci")}
        for m, r in best.items()
    ]


def example_explanations(candidate: Candidate, model, data: PatientData, n: int = 5) -> list:
    sample = data.inputs.take(np.arange(min(n, len(data.y))))
    factors = top_factors(candidate.modality, model, sample, top=3)
    return [{"row": i + 1, "factors": f} for i, f in enumerate(factors)]


def top_factors(modality: str, model, inputs, top: int = 3) -> list[list[str]]:
    """Per row, the factors that raised the score most (tabular columns, modalities)."""
    if modality in ("text", "image", "visits"):
        name = f"[{modality}]"
        return [[name] for _ in range(inputs.n_rows)]
    try:
        frame = model.explain(inputs.tabular if modality == "tabular" else inputs)
    except NotImplementedError:
        return [[] for _ in range(inputs.n_rows)]
    values = frame.to_numpy()
    names = np.array(frame.columns)
    out = []
    for row in values:
        order = np.argsort(-row)[:top]
        out.append([str(names[j]) for j in order if row[j] > 0])
    return out
