"""One diagnosis run: every candidate cross-validated (grouped by patient), recalibrated
if asked, scored clinically at the operating point; the best refitted and saved with its
decision policy (``diagnosis.json``)."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from tailorkit.data.splits import local_splits, patient_holdout, patient_splits
from tailorkit.errors import DataError
from tailorkit.evaluate.clinical import (
    calibration,
    choose_threshold,
    cross_fitted_recalibration,
    discrimination,
    fit_recalibration,
    metrics_at,
    net_benefit,
)
from tailorkit.evaluate.fairness import group_fairness
from tailorkit.execution.process_pool import fold_executor
from tailorkit.models import make_model
from tailorkit.models.ensemble import select_weights
from tailorkit.solutions.base import Evaluation, RunContext
from tailorkit.solutions.diagnosis.candidates import (
    Candidate,
    PatientFolds,
    blend_members,
    candidates_for,
    fit_candidate,
    fold_workers_for,
    is_twin,
)
from tailorkit.solutions.diagnosis.data import PatientData, load_patient_data
from tailorkit.solutions.diagnosis.document import result_document
from tailorkit.solutions.diagnosis.spec import DiagnosisSpec
from tailorkit.training.crossval import FoldJobs, cross_fitted_blend, cross_validate

DECISION_FILE = "diagnosis.json"
MODEL_FOLDER = "model"


def fit_candidates(context: RunContext) -> Evaluation:
    """Cross-validated candidates per modality, clinical evaluation, refit, save."""
    spec: DiagnosisSpec = context.spec
    say = context.say
    say("reading data")
    data = load_patient_data(spec, context.base_dir)
    for warning in data.report.warnings:
        say(f"warning: {warning}")
    evaluation = evaluate_candidates(spec, data, say)
    best = evaluation["best"]
    say(f"refitting {best['model']} on all {len(data.y)} rows")
    final, recalibration = refit_best(spec, data, evaluation)
    folder = context.artifact_dir
    save_artifact(folder, spec, context.base_dir, data, evaluation, final, recalibration)
    fairness = audit_fairness(data, evaluation)
    document = result_document(spec, data, evaluation, final)
    document["fairness"] = fairness
    return Evaluation(
        leaderboard=evaluation["leaderboard"],
        best=best["model"],
        family=best["family"],
        document=document,
        metrics=best["row"],
        fairness=fairness,
        model=final,
        baseline={"name": "a constant score, the prevalence", "auroc": 0.5},
    )


def audit_fairness(data: PatientData, evaluation: dict[str, Any]) -> list[dict]:
    """Group fairness of the chosen model at its operating point, per ``features.protected``
    column, on the pooled out-of-fold predictions (what fairness requirements check)."""
    evaluated = evaluation["evaluated"]
    best = evaluation["best"]
    scores = evaluation["oof"][best["model"]][evaluated]
    threshold = best["row"]["threshold"]
    protected = data.tabular.protected
    return [
        group_fairness(
            data.y[evaluated], scores, protected[column].iloc[evaluated], threshold=threshold
        )
        for column in protected.columns
    ]


def make_fold_splits(spec: DiagnosisSpec, data: PatientData) -> list:
    evaluation = spec.evaluation
    if evaluation.protocol == "holdout":
        fraction = evaluation.holdout_fraction
        return patient_holdout(data.y, data.patients, fraction=fraction, seed=evaluation.seed)
    return patient_splits(data.y, data.patients, folds=evaluation.folds, seed=evaluation.seed)


def evaluate_candidates(spec: DiagnosisSpec, data: PatientData, say) -> dict[str, Any]:
    """Out-of-fold predictions of every candidate, recalibrated if asked, and scored."""
    splits = make_fold_splits(spec, data)
    candidates = candidates_for(spec, data)
    oof: dict[str, np.ndarray] = {}
    timings: dict[str, tuple[float, float]] = {}
    with contextlib.ExitStack() as stack:
        executor = _fold_pool(stack, candidates, fold_workers_for(spec, len(splits)), say)
        for candidate in candidates:
            say(f"training {candidate.name}")
            oof[candidate.name], timings[candidate.name] = _cross_validate(
                candidate, data, splits, say, executor
            )
    tabular = [c.name for c in blend_members(candidates)]
    if spec.ensemble and len(tabular) > 1:
        oof["ensemble"] = cross_fitted_blend(
            {n: oof[n] for n in tabular}, data.y, splits, spec.evaluation.seed
        )
        timings["ensemble"] = tuple(sum(timings[n][i] for n in tabular) for i in (0, 1))
        candidates.append(Candidate("ensemble", "ensemble", "tabular", {}))
    evaluated = _evaluated_rows(splits, len(data.y))
    raw = dict(oof)
    if spec.recalibration != "none":
        for name in oof:
            oof[name] = oof[name].copy()
            oof[name][evaluated] = cross_fitted_recalibration(
                spec.recalibration, data.y[evaluated], oof[name][evaluated], local_splits(splits)
            )
    say("scoring candidates")
    rows = [
        score_candidate(spec, c, data, oof[c.name], evaluated, splits, timings[c.name])
        for c in candidates
    ]
    metric = "auroc" if spec.evaluation.metric == "auc" else spec.evaluation.metric
    higher = metric not in ("brier", "ece")
    twins = {c.name for c in candidates if is_twin(c)}
    rows.sort(
        key=lambda r: (
            r["model"] in twins,
            -(r.get(metric) or -1e9) if higher else (r.get(metric) or 1e9),
        )
    )
    best_row = rows[0]
    if best_row.get("threshold") is None:
        raise DataError(best_row["operating_point_error"])
    best = next(c for c in candidates if c.name == best_row["model"])
    return {
        "splits": splits,
        "evaluated": evaluated,
        "candidates": candidates,
        "oof": oof,
        "raw_oof": raw,
        "leaderboard": rows,
        "best": {"model": best.name, "family": best.family, "candidate": best, "row": best_row},
    }


def _evaluated_rows(splits, n: int) -> np.ndarray:
    seen = np.zeros(n, dtype=bool)
    for _, valid in splits:
        seen[valid] = True
    return np.flatnonzero(seen)


def _fold_pool(stack: contextlib.ExitStack, candidates: list[Candidate], workers: int, say):
    """Worker processes for the folds (torch preloaded when a candidate is neural), or
    ``None`` for one worker."""
    if workers < 2:
        return None
    neural = any(c.modality != "tabular" or c.family == "ft_transformer" for c in candidates)
    modules = (__name__, "torch") if neural else (__name__,)
    say(f"running the folds in {workers} worker processes")
    return stack.enter_context(fold_executor(workers, modules))


def _cross_validate(candidate: Candidate, data: PatientData, splits, say, executor=None):
    """Out-of-fold probabilities (NaN for rows never validated) and timings (fit seconds,
    predict ms per 1000 rows); the folds run in ``executor``'s workers when one is given."""
    task = PatientFolds(candidate, data)
    if executor is None:
        result = cross_validate(candidate.name, task, data.y, splits, progress=say)
    else:
        result = FoldJobs(candidate.name, task, data.y, splits, executor=executor).result(say)
    return result.oof, (result.fit_seconds, result.predict_ms_per_1000)


def score_candidate(spec, candidate, data, scores, evaluated, splits, timing) -> dict[str, Any]:
    """The leaderboard row: discrimination with CIs, calibration, the operating point."""
    y, p = data.y[evaluated], scores[evaluated]
    groups = None if data.patients is None else data.patients[evaluated]
    row: dict[str, Any] = {"model": candidate.name, "modality": candidate.modality}
    row.update(
        discrimination(
            y, p, n_boot=spec.evaluation.bootstrap, seed=spec.evaluation.seed, groups=groups
        )
    )
    fitted = calibration(y, p)
    row["brier"], row["ece"] = fitted["brier"], fitted["ece"]
    prevalence = spec.prevalence
    try:
        threshold = choose_threshold(
            y, p, spec.operating_point.policy(), model=f"model '{candidate.name}'"
        )
    except DataError as error:
        row["threshold"], row["operating_point_error"] = None, str(error)
    else:
        at = metrics_at(y, p, threshold, prevalence)
        row.update({k: at[k] for k in ("threshold", "sensitivity", "specificity", "ppv", "npv")})
        row.update(accuracy=at["accuracy"], f1=at["f1"])
        row["net_benefit"] = net_benefit(y, p, threshold) if threshold < 1 else None
    row["fit_seconds"] = round(timing[0], 3)
    row["predict_ms_per_1000"] = round(timing[1], 3)
    return row


def refit_best(spec: DiagnosisSpec, data: PatientData, evaluation: dict):
    """The best candidate refitted on every row, and its recalibration on all OOF scores."""
    best: Candidate = evaluation["best"]["candidate"]
    all_rows = np.arange(len(data.y))
    if best.name == "ensemble":
        members = blend_members(evaluation["candidates"])
        raw = evaluation["raw_oof"]
        evaluated = evaluation["evaluated"]
        weights = select_weights(
            {c.name: raw[c.name][evaluated] for c in members}, data.y[evaluated]
        )
        described = [{"name": c.name, "family": c.family, "params": c.params} for c in members]
        final = make_model("ensemble", members=described, weights=weights)
        final.fit(
            data.inputs.tabular,
            data.y,
            schema=data.tabular.schema,
            X_unlabeled=data.tabular.X_unlabeled,
        )
    else:
        final = fit_candidate(best, data, all_rows)
    evaluated = evaluation["evaluated"]
    recalibration = fit_recalibration(
        spec.recalibration, evaluation["raw_oof"][best.name][evaluated], data.y[evaluated]
    )
    return final, recalibration


def save_artifact(folder: Path, spec, base_dir: Path, data, evaluation, final, recalibration):
    best = evaluation["best"]
    final.save(folder / MODEL_FOLDER)
    decision = {
        "project": spec.name,
        "solution": "diagnosis",
        "target": spec.target,
        "positive_label": data.tabular.positive_label,
        "model": best["model"],
        "family": best["family"],
        "modality": best["candidate"].modality,
        "threshold": best["row"]["threshold"],
        "operating_point": spec.operating_point.model_dump(exclude_none=True),
        "prevalence": spec.prevalence,
        "recalibration": recalibration,
        "base_rate": float(data.y.mean()),
        "key": spec.data.key,
        "columns": list(data.tabular.X.columns),
        "spec": spec.model_dump(mode="json"),
        "image_size": data.image_size,
        "base_dir": str(Path(base_dir).resolve()),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (folder / DECISION_FILE).write_text(json.dumps(decision, indent=1))
