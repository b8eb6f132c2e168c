"""Metrics for remaining-useful-life regression and failure-within-horizon classification.

The PHM08 score (Saxena et al. 2008) penalizes late predictions more than early ones:
``sum(exp(-d/13) - 1 if d < 0 else exp(d/10) - 1)`` with ``d = predicted - true``.
"""

from __future__ import annotations

import numpy as np

RUL_METRICS = ("rmse", "mae", "phm08_score", "rmse_all_windows", "band_coverage")
CLASSIFICATION_METRICS = ("pr_auc", "roc_auc", "f1", "precision", "recall", "alert_lead_time")


def phm08_score(predicted: np.ndarray, true: np.ndarray) -> float:
    """The PHM08 challenge score summed over predictions (lower is better, 0 is perfect)."""
    d = np.asarray(predicted, float) - np.asarray(true, float)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


def rul_metrics(predicted: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and PHM08 score of one prediction per asset."""
    predicted, true = np.asarray(predicted, float), np.asarray(true, float)
    error = predicted - true
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "phm08_score": phm08_score(predicted, true),
    }


def band_coverage(low: np.ndarray, high: np.ndarray, true: np.ndarray) -> float:
    """Share of true values inside the predicted band."""
    true = np.asarray(true, float)
    return float(np.mean((true >= low - 1e-9) & (true <= high + 1e-9)))


def classification_metrics(
    labels: np.ndarray, probability: np.ndarray, threshold: float
) -> dict[str, float | None]:
    """PR-AUC, ROC-AUC, and precision/recall/F1 at ``threshold``."""
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    labels, probability = np.asarray(labels, int), np.asarray(probability, float)
    if len(np.unique(labels)) < 2 or np.isnan(probability).all():
        return {"pr_auc": None, "roc_auc": None, "f1": None, "precision": None, "recall": None}
    decided = probability >= threshold
    true_positive = float((decided & (labels == 1)).sum())
    return {
        "pr_auc": float(average_precision_score(labels, probability)),
        "roc_auc": float(roc_auc_score(labels, probability)),
        "f1": float(f1_score(labels, decided)),
        "precision": true_positive / max(decided.sum(), 1),
        "recall": true_positive / max((labels == 1).sum(), 1),
    }


def alert_lead_times(
    lives: np.ndarray, times: np.ndarray, failure_time: dict, alert: np.ndarray
) -> dict[str, float | None]:
    """Per failed life: failure time minus the first alert (streamed in time order).

    Returns the median lead time over failures that were alerted before they happened,
    the share of failures alerted at all, and the share of lives alerted more than
    ``early`` cycles before failure is not judged here (that is the policy's job).
    """
    leads, missed = [], 0
    for life, failed_at in failure_time.items():
        rows = np.flatnonzero(lives == life)
        if not len(rows):
            continue
        rows = rows[np.argsort(times[rows])]
        fired = rows[alert[rows]]
        if len(fired):
            leads.append(failed_at - times[fired[0]])
        else:
            missed += 1
    total = len(leads) + missed
    return {
        "alert_lead_time": float(np.median(leads)) if leads else None,
        "failures_alerted": len(leads) / total if total else None,
    }
