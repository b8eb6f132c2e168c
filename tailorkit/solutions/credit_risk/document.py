"""The credit-risk run's report content: protocol, leaderboard, curves, threshold choice,
fairness, reason codes, scorecard, pretraining ablation, blend weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tailorkit.data.dataset import TrainingData
from tailorkit.evaluate.metrics import curves
from tailorkit.evaluate.threshold import best_threshold
from tailorkit.models.base import TabularModel
from tailorkit.training.ablation import pretraining_ablation


def result_document(
    spec, data, rows, best, results, threshold, cost, fairness, final
) -> dict[str, Any]:
    """The run's report content: protocol, data, leaderboard, curves, threshold, fairness,
    explanations, the pretraining ablation and the blend's weights."""
    evaluation = spec.evaluation
    if evaluation.protocol == "kfold":
        protocol = (
            f"Stratified {evaluation.folds}-fold cross-validation (shuffled, seed "
            f"{evaluation.seed}); every metric is computed on the pooled out-of-fold "
            "predictions; preprocessing is fitted on training folds only; the "
            "ensemble's weights for each fold are chosen on the other folds."
        )
    else:
        protocol = (
            f"Stratified holdout of {evaluation.holdout_fraction:.0%} (seed "
            f"{evaluation.seed}); metrics on the holdout rows only."
        )
    scored = [r for r in rows if r["model"] in results]
    document: dict[str, Any] = {
        "protocol": {
            "kind": evaluation.protocol,
            "folds": evaluation.folds,
            "seed": evaluation.seed,
            "stratified": True,
            "description": protocol,
        },
        "data": {
            "source": data.source,
            "rows": int(len(data.y)),
            "features": int(data.X.shape[1]),
            "target": spec.target,
            "positive_rate": float(data.y.mean()),
            "positive_label": data.positive_label,
            "dropped_columns": list(data.dropped),
            "protected": list(spec.features.protected),
            "excluded_from_model": [
                c for c, why in data.dropped.items() if why.startswith("is protected")
            ],
            "unlabeled_rows": 0 if data.X_unlabeled is None else len(data.X_unlabeled),
        },
        "leaderboard": scored,
        "best": best,
        "curves": {
            r["model"]: curves(
                data.y[~np.isnan(results[r["model"]].oof)],
                results[r["model"]].oof[~np.isnan(results[r["model"]].oof)],
            )
            for r in scored
        },
        "fairness": fairness,
        "warnings": data.warnings,
    }
    if cost:
        seen = ~np.isnan(results[best].oof)
        found = best_threshold(data.y[seen], results[best].oof[seen], cost)
        document["threshold"] = {
            "chosen": threshold,
            "method": "bayes (minimum expected cost for calibrated probabilities)",
            "cost_matrix": cost.__dict__,
            "cost_at_chosen": found["bayes_cost"],
            "cost_reject_all": found["reject_all_cost"],
            "cost_accept_all": found["accept_all_cost"],
            "empirical_best": found["empirical_threshold"],
            "cost_at_empirical_best": found["empirical_cost"],
            "cost_curve": found["cost_curve"],
        }
    document.update(explanations(final, data))
    ablation = pretraining_ablation(rows)
    if ablation:
        document["ablation"] = {"pretraining": ablation}
    if isinstance(getattr(final, "weights", None), dict):
        document["ensemble"] = {
            "weights": final.weights,
            "method": "greedy forward selection with replacement (Caruana et al. 2004) "
            "on out-of-fold predictions, maximizing AUC",
        }
    return document


def explanations(model: TabularModel, data: TrainingData) -> dict[str, Any]:
    importance = model.feature_importances_.sort_values(ascending=False)
    out: dict[str, Any] = {"importance": {k: float(v) for k, v in importance.items()}}
    try:
        sample = data.X.head(5)
        contributions = model.explain(sample)
        scores = model.predict_proba(sample)[:, 1]
        out["reason_code_examples"] = [
            {
                "row": int(i) + 1,
                "score": float(scores[n]),
                "reasons": reason_codes(contributions.iloc[n], sample.iloc[n], top=3),
            }
            for n, i in enumerate(sample.index)
        ]
    except NotImplementedError:
        pass
    scorecard = _find_scorecard(model)
    if scorecard is not None:
        out["scorecard"] = scorecard.scorecard_table().to_dict(orient="records")
    return out


def reason_codes(contributions: pd.Series, values: pd.Series, top: int = 3) -> list[dict]:
    """The features pushing this row's score up the most (positive contributions)."""
    ranked = contributions.sort_values(ascending=False).head(top)
    return [
        {"feature": str(f), "value": _plain(values.get(f)), "contribution": float(c)}
        for f, c in ranked.items()
        if c > 0
    ]


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _find_scorecard(model: TabularModel):
    if hasattr(model, "scorecard_table"):
        return model
    for member in getattr(model, "models_", {}).values():
        if hasattr(member, "scorecard_table"):
            return member
    return None
