"""Binary-classification metrics, bootstrap intervals and plot-ready curves.

Every function takes ``y`` (0/1 labels) and ``p`` (predicted probability of class 1) and
returns plain Python values (float, int, list, dict) so results go straight into JSON;
a metric that is undefined for the data (AUC with one class, precision with no predicted
positives) is ``None``. A row is predicted positive when ``p > threshold``, as in
``TabularModel.predict``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

METRIC_NAMES: tuple[str, ...] = (
    "auc",
    "ks",
    "gini",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "brier",
    "log_loss",
    "pr_auc",
)
HIGHER_IS_BETTER: dict[str, bool] = {
    "auc": True,
    "ks": True,
    "gini": True,
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "brier": False,
    "log_loss": False,
    "pr_auc": True,
}
_LOG_LOSS_EPS = 1e-15
_BOOTSTRAP_CHUNK = 64

Metric = Callable[[np.ndarray, np.ndarray, float], float | None]


def as_binary_arrays(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels as int 0/1 and scores as float; the same length, no missing scores."""
    y_arr = np.asarray(y, dtype=float).ravel()
    p_arr = np.asarray(p, dtype=float).ravel()
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"y has {y_arr.size} rows but p has {p_arr.size}; pass one score per row")
    if np.isnan(p_arr).any() or np.isnan(y_arr).any():
        raise ValueError("y and p must not contain NaN; drop rows without a prediction first")
    if not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValueError("y must hold only 0 and 1 labels")
    return y_arr.astype(np.int64), p_arr


def _plain(value: float | None) -> float | None:
    """A Python float, or None for a missing or non-finite value."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def _has_both_classes(y: np.ndarray) -> bool:
    return 0 < int(y.sum()) < y.size


def roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Area under the ROC curve from score ranks (ties count one half); None with one class."""
    if not _has_both_classes(y):
        return None
    ranks = rankdata(p)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float | None:
    """Kolmogorov-Smirnov distance between the score distributions of the two classes."""
    if not _has_both_classes(y):
        return None
    order = np.argsort(p, kind="mergesort")
    sorted_scores, sorted_y = p[order], y[order]
    # evaluate the two empirical CDFs only after the last row of each run of tied scores
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    cdf_pos = np.cumsum(sorted_y)[last_of_tie] / sorted_y.sum()
    cdf_neg = np.cumsum(1 - sorted_y)[last_of_tie] / (1 - sorted_y).sum()
    return float(np.max(np.abs(cdf_pos - cdf_neg)))


def _confusion(y: np.ndarray, p: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    predicted = p > threshold
    tp = int(np.sum(predicted & (y == 1)))
    fp = int(np.sum(predicted & (y == 0)))
    fn = int(np.sum(~predicted & (y == 1)))
    tn = int(np.sum(~predicted & (y == 0)))
    return tp, fp, fn, tn


def _accuracy(y: np.ndarray, p: np.ndarray, threshold: float) -> float | None:
    tp, fp, fn, tn = _confusion(y, p, threshold)
    return _ratio(tp + tn, y.size)


def _precision(y: np.ndarray, p: np.ndarray, threshold: float) -> float | None:
    tp, fp, _, _ = _confusion(y, p, threshold)
    return _ratio(tp, tp + fp)


def _recall(y: np.ndarray, p: np.ndarray, threshold: float) -> float | None:
    tp, _, fn, _ = _confusion(y, p, threshold)
    return _ratio(tp, tp + fn)


def _f1(y: np.ndarray, p: np.ndarray, threshold: float) -> float | None:
    tp, fp, fn, _ = _confusion(y, p, threshold)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _brier(y: np.ndarray, p: np.ndarray, threshold: float) -> float | None:
    return float(np.mean((p - y) ** 2)) if y.size else None


def _log_loss(y: np.ndarray, p: np.ndarray, threshold: float) -> float | None:
    if not y.size:
        return None
    clipped = np.clip(p, _LOG_LOSS_EPS, 1 - _LOG_LOSS_EPS)
    return float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))


def _pr_auc(y: np.ndarray, p: np.ndarray, threshold: float) -> float | None:
    """Average precision (step-wise area under the precision-recall curve)."""
    if not _has_both_classes(y):
        return None
    return float(average_precision_score(y, p))


def _gini(y: np.ndarray, p: np.ndarray, threshold: float) -> float | None:
    auc = roc_auc(y, p)
    return None if auc is None else 2 * auc - 1


_METRICS: dict[str, Metric] = {
    "auc": lambda y, p, threshold: roc_auc(y, p),
    "ks": lambda y, p, threshold: ks_statistic(y, p),
    "gini": _gini,
    "accuracy": _accuracy,
    "precision": _precision,
    "recall": _recall,
    "f1": _f1,
    "brier": _brier,
    "log_loss": _log_loss,
    "pr_auc": _pr_auc,
}


def binary_metrics(y: Any, p: Any, threshold: float = 0.5) -> dict[str, float | None]:
    """Every metric in ``METRIC_NAMES``; the threshold-dependent ones at ``threshold``."""
    y_arr, p_arr = as_binary_arrays(y, p)
    return {name: _plain(_METRICS[name](y_arr, p_arr, threshold)) for name in METRIC_NAMES}


def _bootstrap_auc(
    y: np.ndarray, p: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """AUC of ``n_boot`` class-stratified resamples without sorting each resample.

    Negatives are sorted once; a resample's AUC is, per drawn positive, the number of
    drawn negatives below its score (plus half the tied ones), read off a cumulative
    count of how often each sorted negative was drawn.
    """
    negatives = np.sort(p[y == 0])
    positives = p[y == 1]
    n_pos, n_neg = positives.size, negatives.size
    below = np.searchsorted(negatives, positives, side="left")
    below_or_tied = np.searchsorted(negatives, positives, side="right")
    aucs = []
    for start in range(0, n_boot, _BOOTSTRAP_CHUNK):
        size = min(_BOOTSTRAP_CHUNK, n_boot - start)
        drawn_neg = rng.integers(0, n_neg, size=(size, n_neg))
        offsets = (np.arange(size) * n_neg)[:, None]
        counts = np.bincount((drawn_neg + offsets).ravel(), minlength=size * n_neg)
        cumulative = np.zeros((size, n_neg + 1))
        cumulative[:, 1:] = np.cumsum(counts.reshape(size, n_neg), axis=1)
        drawn_pos = rng.integers(0, n_pos, size=(size, n_pos))
        lower = np.take_along_axis(cumulative, below[drawn_pos], axis=1)
        upper = np.take_along_axis(cumulative, below_or_tied[drawn_pos], axis=1)
        aucs.append((lower + 0.5 * (upper - lower)).sum(axis=1) / (n_pos * n_neg))
    return np.concatenate(aucs)


def _resampler(
    y: np.ndarray, groups: np.ndarray | None, rng: np.random.Generator
) -> Callable[[], np.ndarray]:
    """Draws row indices of one resample: whole groups if given, else stratified by class."""
    if groups is not None:
        _, members = np.unique(groups, return_inverse=True)
        order = np.argsort(members, kind="stable")
        starts = np.r_[0, np.cumsum(np.bincount(members))]
        n_groups = starts.size - 1

        def draw_groups() -> np.ndarray:
            chosen = rng.integers(0, n_groups, size=n_groups)
            return np.concatenate([order[starts[g] : starts[g + 1]] for g in chosen])

        return draw_groups
    strata = [rows for rows in (np.flatnonzero(y == 0), np.flatnonzero(y == 1)) if rows.size]

    def draw_stratified() -> np.ndarray:
        return np.concatenate([rows[rng.integers(0, rows.size, size=rows.size)] for rows in strata])

    return draw_stratified


def bootstrap_ci(
    y: Any,
    p: Any,
    metric: str = "auc",
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int = 0,
    groups: Any = None,
    threshold: float = 0.5,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of ``metric``.

    Resampling keeps the class counts fixed (stratified); with ``groups`` (e.g. a customer
    id with several rows) whole groups are resampled instead. ``(None, None)`` when the
    metric is undefined on the data.
    """
    if metric not in _METRICS:
        raise ValueError(f"unknown metric '{metric}'; choose one of {', '.join(METRIC_NAMES)}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    y_arr, p_arr = as_binary_arrays(y, p)
    rng = np.random.default_rng(random_state)
    group_arr = None if groups is None else np.asarray(groups).ravel()
    if group_arr is not None and group_arr.size != y_arr.size:
        raise ValueError(f"groups has {group_arr.size} rows but y has {y_arr.size}")
    if not y_arr.size:
        return None, None
    if group_arr is None and metric in ("auc", "gini") and _has_both_classes(y_arr):
        values = _bootstrap_auc(y_arr, p_arr, n_boot, rng)
        if metric == "gini":
            values = 2 * values - 1
    else:
        compute, draw = _METRICS[metric], _resampler(y_arr, group_arr, rng)
        values = np.empty(n_boot)
        for b in range(n_boot):
            rows = draw()
            value = compute(y_arr[rows], p_arr[rows], threshold)
            values[b] = np.nan if value is None else value
    values = values[np.isfinite(values)]
    if not values.size:
        return None, None
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def fold_summary(fold_values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean and (population) standard deviation of per-fold values, skipping missing ones."""
    values = np.array([v for v in fold_values if v is not None], dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(values.mean()), "std": float(values.std()), "n": int(values.size)}


def _downsample(n_available: int, n_points: int) -> np.ndarray:
    """At most ``n_points`` evenly spread indices, always keeping the first and last."""
    if n_available <= n_points:
        return np.arange(n_available)
    return np.unique(np.linspace(0, n_available - 1, max(n_points, 2)).round().astype(int))


def _roc_points(y: np.ndarray, p: np.ndarray, n_points: int) -> dict[str, list[float]]:
    if not _has_both_classes(y):
        return {"fpr": [], "tpr": []}
    fpr, tpr, _ = roc_curve(y, p)
    keep = _downsample(fpr.size, n_points)
    return {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}


def _pr_points(y: np.ndarray, p: np.ndarray, n_points: int) -> dict[str, list[float]]:
    if not _has_both_classes(y):
        return {"recall": [], "precision": []}
    precision, recall, _ = precision_recall_curve(y, p)
    keep = _downsample(recall.size, n_points)
    return {"recall": recall[keep].tolist(), "precision": precision[keep].tolist()}


def _quantile_bins(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin number of each score for (at most) ``n_bins`` equal-count bins."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    return np.searchsorted(edges[1:-1], p, side="right")


def _calibration_points(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> dict[str, list]:
    if not y.size:
        return {"predicted": [], "observed": [], "count": []}
    bins = _quantile_bins(p, n_bins)
    count = np.bincount(bins)
    used = count > 0
    predicted = np.bincount(bins, weights=p)[used] / count[used]
    observed = np.bincount(bins, weights=y)[used] / count[used]
    return {
        "predicted": predicted.tolist(),
        "observed": observed.tolist(),
        "count": count[used].astype(int).tolist(),
    }


def _score_histogram(y: np.ndarray, p: np.ndarray, n_bins: int = 20) -> dict[str, list]:
    low, high = (0.0, 1.0) if p.size == 0 or (p.min() >= 0 and p.max() <= 1) else (p.min(), p.max())
    edges = np.linspace(low, high, n_bins + 1)
    positive, _ = np.histogram(p[y == 1], bins=edges)
    negative, _ = np.histogram(p[y == 0], bins=edges)
    return {
        "edges": edges.tolist(),
        "positive": positive.astype(int).tolist(),
        "negative": negative.astype(int).tolist(),
    }


def curves(y: Any, p: Any, n_points: int = 101) -> dict[str, dict[str, list]]:
    """ROC, precision-recall, calibration (10 quantile bins) and score-histogram data.

    ROC and PR curves are thinned to at most ``n_points`` points; both are empty lists
    when ``y`` holds one class.
    """
    y_arr, p_arr = as_binary_arrays(y, p)
    return {
        "roc": _roc_points(y_arr, p_arr, n_points),
        "pr": _pr_points(y_arr, p_arr, n_points),
        "calibration": _calibration_points(y_arr, p_arr),
        "score_hist": _score_histogram(y_arr, p_arr, n_bins=min(20, max(1, n_points - 1))),
    }


def calibration_error(y: Any, p: Any, n_bins: int = 10) -> float | None:
    """Expected calibration error: row-weighted mean |mean score - observed rate| over
    ``n_bins`` equal-width probability bins."""
    y_arr, p_arr = as_binary_arrays(y, p)
    if not y_arr.size:
        return None
    bins = np.clip((p_arr * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    used = count > 0
    gap = np.abs(
        np.bincount(bins, weights=p_arr, minlength=n_bins)[used]
        - np.bincount(bins, weights=y_arr, minlength=n_bins)[used]
    )
    return float(gap.sum() / y_arr.size)
