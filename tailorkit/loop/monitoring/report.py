"""One monitoring answer: per-feature drift of a live window against the version's training
reference (``data.drift.window_drift``: PSI plus the per-type test of
``evaluate.drift_tests``), dataset drift, score drift, and realised quality once labels came.

The JSON shape (stable: alert rules read it)::

    {project, model_version, window, rows, reference_rows,
     features: [{feature, type, psi, test, statistic, p_value, threshold, drifted,
                 unseen_share?}],
     drifted_features, dataset_drift,
     prediction: {rows, psi, test, statistic, p_value, threshold, drifted, mean,
                  reference_mean} | {rows, psi: null, reason},
     realised: {labelled, positives, auc, auc_interval, log_loss, log_loss_interval,
                interval_level, bootstrap, metrics: {auc: {value, ci_low, ci_high,
                reference}, ...}, reason?},
     reason?}

A window without observed rows, or a version without a reference, gives ``features: []`` and
the ``reason``; never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.data.drift import window_drift
from tailorkit.evaluate.drift_tests import dataset_drift
from tailorkit.evaluate.metrics import binary_metrics, bootstrap_ci
from tailorkit.solutions.reference_sample import Reference

BOOTSTRAP = 1000
BOOTSTRAP_SEED = 0
INTERVAL_LEVEL = 0.95


@dataclass
class Window:
    """What the service observed in a window: input rows, their scores, labelled pairs."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # feedback 0/1 ...
    labelled_scores: list[float] = field(default_factory=list)  # ... and the score it got


def monitoring_report(
    reference: Reference | None,
    window: Window,
    *,
    project: str,
    model_version: int | None,
    window_text: str,
) -> dict[str, Any]:
    """The monitoring JSON of one window (see the module's docstring)."""
    report: dict[str, Any] = {
        "project": project,
        "model_version": model_version,
        "window": window_text,
        "rows": len(window.rows),
        "reference_rows": 0 if reference is None else len(reference.frame),
        "features": [],
        "drifted_features": 0,
        "dataset_drift": False,
    }
    reason = _no_drift_reason(reference, window)
    if reason is None:
        report["features"] = feature_drift(reference, pd.DataFrame.from_records(window.rows))
        drifted = [row["drifted"] for row in report["features"]]
        report["drifted_features"] = int(sum(drifted))
        report["dataset_drift"] = dataset_drift(drifted)
        if not report["features"]:
            reason = "no feature of the reference had a value in the window"
    if reason is not None:
        report["reason"] = reason
    report["prediction"] = prediction_drift(reference, window.scores)
    report["realised"] = realised_quality(window.labels, window.labelled_scores)
    return report


def _no_drift_reason(reference: Reference | None, window: Window) -> str | None:
    if reference is None:
        return (
            "the model version has no training reference (reference.json); versions "
            "registered by `tailorkit run` of a tabular solution carry one"
        )
    if not window.rows:
        return "no observed request rows in the window"
    return None


def feature_drift(reference: Reference, current: pd.DataFrame) -> list[dict[str, Any]]:
    """One ``window_drift`` entry per reference column the window has values of."""
    found = []
    for column, kind in reference.types.items():
        if column not in current.columns or kind in ("id", "text"):
            continue
        row = window_drift(reference.frame[column].rename(column), current[column], kind)
        if row is not None:
            found.append(row)
    return found


def prediction_drift(reference: Reference | None, scores: list[float]) -> dict[str, Any]:
    """PSI (and the numeric test) of the window's scores against the reference's."""
    current = np.asarray(scores, dtype=float)
    base: dict[str, Any] = {"rows": len(current), "psi": None}
    old = None if reference is None else reference.scores[np.isfinite(reference.scores)]
    if old is None or not len(old):
        return {**base, "reason": "the model version stores no reference scores"}
    if not np.isfinite(current).any():
        return {**base, "reason": "no scored rows in the window"}
    found = window_drift(pd.Series(old, name="score"), pd.Series(current), "numeric")
    kept = {k: found[k] for k in ("psi", "test", "statistic", "p_value", "threshold", "drifted")}
    return {
        **base,
        **kept,
        "mean": float(np.nanmean(current)),
        "reference_mean": float(old.mean()),
    }


def realised_quality(labels: list[int], scores: list[float]) -> dict[str, Any]:
    """AUC and log loss of the labelled rows with percentile-bootstrap intervals (class-
    stratified, ``BOOTSTRAP`` resamples, seed ``BOOTSTRAP_SEED``)."""
    y, p = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    found: dict[str, Any] = {
        "labelled": len(y),
        "positives": int(y.sum()),
        "auc": None,
        "auc_interval": None,
        "log_loss": None,
        "log_loss_interval": None,
        "interval_level": INTERVAL_LEVEL,
        "bootstrap": BOOTSTRAP,
    }
    if not len(y):
        return {**found, "reason": "no feedback labels (value 0 or 1) for the window's requests"}
    metrics = binary_metrics(y, p)
    found["log_loss"] = metrics["log_loss"]
    found["log_loss_interval"] = _interval(y, p, "log_loss")
    if 0 < y.sum() < len(y):
        found["auc"] = metrics["auc"]
        found["auc_interval"] = _interval(y, p, "auc")
    else:
        found["reason"] = "the labels are all of one class: AUC is undefined"
    return found


def realised_metrics(realised: dict[str, Any], reference: dict[str, Any]) -> dict[str, dict]:
    """``{metric: {value, ci_low, ci_high, reference}}`` of the realised metrics that the
    version's own evaluation also measured (``reference``: its cross-validated metrics), as
    the alert rules read them (``loop.alerts``)."""
    found = {}
    for name in ("auc", "log_loss"):
        value, interval, before = realised.get(name), realised.get(f"{name}_interval"), None
        if isinstance(reference.get(name), (int, float)):
            before = float(reference[name])
        if value is not None and before is not None:
            low, high = interval or (None, None)
            found[name] = {"value": value, "ci_low": low, "ci_high": high, "reference": before}
    return found


def _interval(y: np.ndarray, p: np.ndarray, metric: str) -> list[float | None]:
    low, high = bootstrap_ci(
        y, p, metric, n_boot=BOOTSTRAP, level=INTERVAL_LEVEL, random_state=BOOTSTRAP_SEED
    )
    return [low, high]
