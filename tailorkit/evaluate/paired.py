"""Paired comparisons of two models scored on the same cases (a shadow experiment's champion
and challenger): the difference in AUC by DeLong's method, and the difference in a per-case
metric (log loss per row, NDCG per request) by a paired bootstrap.

Each returns an ``Estimate`` (``experiment_stats``): ``control`` is the champion,
``treatment`` the challenger, ``diff`` = challenger - champion, the relative lift
``challenger / champion - 1``. Inference, as for A/B results:

- ``fixed``: DeLong's normal interval and z-test (DeLong, DeLong and Clarke-Pearson 1988, in the
  fast midrank form of Sun and Xu 2014); for per-case metrics a percentile bootstrap of the
  pairs (scipy.stats.bootstrap over the per-case differences, a fixed seed). Valid at one look.
- ``sequential``: the asymptotic confidence sequence (``experiment_stats``) around the same
  estimate with its DeLong (or per-case) standard error: valid at every look.

The relative lift's interval is the delta method on ``log(challenger / champion)`` with the
pair's covariance, radius as above.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from tailorkit.evaluate.experiment_stats import (
    METHODS,
    Estimate,
    ExperimentDataError,
    always_valid_p_value,
    confidence_sequence_radius,
    lift_interval,
    mixture_rho2,
)

LOG_LOSS_EPS = 1e-15
BOOTSTRAP_SEED = 0
BOOTSTRAP_RESAMPLES = 2000


def delong(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The AUC of each row of ``scores`` (models × cases) against 0/1 ``labels``, and the
    DeLong covariance matrix of those AUCs."""
    y = _labels(labels)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    positives, negatives = scores[:, y], scores[:, ~y]
    m, n = positives.shape[1], negatives.shape[1]
    if m < 2 or n < 2:
        raise ExperimentDataError(
            f"the AUC needs at least 2 positive and 2 negative labels; there are {m} and {n}"
        )
    within_pos = stats.rankdata(positives, axis=1)
    within_neg = stats.rankdata(negatives, axis=1)
    overall = stats.rankdata(np.hstack([positives, negatives]), axis=1)
    aucs = (overall[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v_pos = (overall[:, :m] - within_pos) / n  # each positive's share of negatives beaten
    v_neg = 1.0 - (overall[:, m:] - within_neg) / m  # each negative's share of positives above
    covariance = np.atleast_2d(np.cov(v_pos)) / m + np.atleast_2d(np.cov(v_neg)) / n
    return aucs, covariance


def compare_auc(
    labels: np.ndarray,
    control: np.ndarray,
    treatment: np.ndarray,
    *,
    name: str = "auc",
    method: str = "sequential",
    alpha: float = 0.05,
    planned_units: int = 1_000,
) -> Estimate:
    """Challenger's AUC minus the champion's on the same labelled cases (DeLong)."""
    _check_method(method)
    c, t = _paired(control, treatment, name)
    aucs, cov = delong(labels, np.vstack([c, t]))
    auc_c, auc_t = float(aucs[0]), float(aucs[1])
    diff = auc_t - auc_c
    se_diff = math.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0))
    if auc_c <= 0:
        raise ExperimentDataError(f"{name}: the champion's AUC is 0, so no relative lift")
    units = len(c)
    low, high, p_value = _normal(diff, se_diff, method, alpha, units, planned_units)
    return _estimate(
        name,
        f"delong-{method}" if method == "sequential" else "delong",
        (auc_c, auc_t),
        units,
        (diff, low, high, p_value),
        _log_ratio_se(auc_c, auc_t, cov),
        (method, alpha, planned_units),
    )


def compare_per_case(
    name: str,
    control: np.ndarray,
    treatment: np.ndarray,
    *,
    method: str = "sequential",
    alpha: float = 0.05,
    planned_units: int = 1_000,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Estimate:
    """Challenger's mean minus the champion's of a metric with one value per case for each
    model (log loss per row, NDCG per request), the cases paired."""
    _check_method(method)
    c, t = _paired(control, treatment, name)
    mean_c, mean_t = float(c.mean()), float(t.mean())
    if mean_c == 0:
        raise ExperimentDataError(f"{name}: the champion's mean is 0, so no relative lift")
    differences = t - c
    diff = float(differences.mean())
    units = len(c)
    if method == "fixed":
        low, high, p_value = paired_bootstrap(differences, alpha, resamples, seed)
    else:
        se = float(differences.std(ddof=1)) / math.sqrt(units)
        low, high, p_value = _normal(diff, se, method, alpha, units, planned_units)
    cov = np.cov(np.vstack([c, t])) / units
    return _estimate(
        name,
        "paired-bootstrap" if method == "fixed" else "paired-sequential",
        (mean_c, mean_t),
        units,
        (diff, low, high, p_value),
        _log_ratio_se(mean_c, mean_t, cov),
        (method, alpha, planned_units),
    )


def paired_bootstrap(
    differences: np.ndarray, alpha: float, resamples: int, seed: int
) -> tuple[float, float, float]:
    """Percentile interval of the mean paired difference and a two-sided bootstrap p-value
    (twice the smaller share of resampled means on either side of 0)."""
    d = np.asarray(differences, dtype=float)
    if np.all(d == d[0]):  # no variation: the interval is the point
        return float(d[0]), float(d[0]), 1.0 if d[0] == 0 else 0.0
    result = stats.bootstrap(
        (d,),
        np.mean,
        n_resamples=resamples,
        confidence_level=1 - alpha,
        method="percentile",
        batch=max(1, 2_000_000 // len(d)),
        rng=np.random.default_rng(seed),
    )
    draws = result.bootstrap_distribution
    below = (np.count_nonzero(draws <= 0) + 1) / (resamples + 1)
    above = (np.count_nonzero(draws >= 0) + 1) / (resamples + 1)
    interval = result.confidence_interval
    return float(interval.low), float(interval.high), float(min(1.0, 2 * min(below, above)))


def log_losses(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Each row's log loss (probabilities clipped as ``metrics``' log loss)."""
    y = _labels(labels).astype(float)
    p = np.clip(np.asarray(probabilities, dtype=float), LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _normal(
    estimate: float, se: float, method: str, alpha: float, units: int, planned_units: int
) -> tuple[float, float, float]:
    """(low, high, p-value) of an asymptotically normal estimate with standard error ``se``."""
    if method == "fixed":
        radius = float(stats.norm.ppf(1 - alpha / 2)) * se
        if se > 0:
            p_value = 2 * float(stats.norm.sf(abs(estimate) / se))
        else:
            p_value = 1.0 if estimate == 0 else 0.0
    else:
        rho2 = mixture_rho2(alpha, planned_units)
        radius = confidence_sequence_radius(se, units, alpha, rho2)
        p_value = always_valid_p_value(estimate, se, units, rho2)
    return estimate - radius, estimate + radius, p_value


def _log_ratio_se(control: float, treatment: float, cov: np.ndarray) -> tuple[float, bool]:
    """Delta-method standard error of ``log(treatment / control)`` (of the ratio itself when
    the challenger's value is 0) from the pair's covariance; and whether on the log scale."""
    var_c, var_t, cov_ct = float(cov[0, 0]), float(cov[1, 1]), float(cov[0, 1])
    if treatment > 0:
        variance = var_t / treatment**2 + var_c / control**2 - 2 * cov_ct / (treatment * control)
        return math.sqrt(max(variance, 0.0)), True
    ratio = treatment / control
    variance = (var_t + ratio**2 * var_c - 2 * ratio * cov_ct) / control**2
    return math.sqrt(max(variance, 0.0)), False


def _estimate(
    name: str,
    label: str,
    values: tuple[float, float],
    units: int,
    difference: tuple[float, float, float, float],
    lift_se: tuple[float, bool],
    inference: tuple[str, float, int],
) -> Estimate:
    control, treatment = values
    diff, low, high, p_value = difference
    se_lift, log_scale = lift_se
    method, alpha, planned_units = inference
    lift = treatment / control - 1
    if method == "fixed":
        radius = float(stats.norm.ppf(1 - alpha / 2)) * se_lift
    else:
        radius = confidence_sequence_radius(
            se_lift, units, alpha, mixture_rho2(alpha, planned_units)
        )
    lift_low, lift_high = lift_interval(lift, radius, log_scale)
    return Estimate(
        name=name,
        method=label,
        control_mean=control,
        treatment_mean=treatment,
        control_units=units,
        treatment_units=units,
        diff=diff,
        diff_ci_low=float(low),
        diff_ci_high=float(high),
        lift=lift,
        ci_low=float(lift_low),
        ci_high=float(lift_high),
        p_value=float(p_value),
    )


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ExperimentDataError(f"method must be one of {', '.join(METHODS)}, not {method!r}")


def _labels(labels: np.ndarray) -> np.ndarray:
    y = np.asarray(labels, dtype=float)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ExperimentDataError("labels must be 0 or 1")
    return y == 1.0


def _paired(control: np.ndarray, treatment: np.ndarray, name: str) -> tuple[np.ndarray, ...]:
    c, t = np.asarray(control, dtype=float), np.asarray(treatment, dtype=float)
    if c.ndim != 1 or c.shape != t.shape:
        raise ExperimentDataError(f"{name}: {c.size} champion values for {t.size} challenger")
    if len(c) < 2:
        raise ExperimentDataError(f"{name}: {len(c)} paired cases; 2 are needed")
    if not (np.isfinite(c).all() and np.isfinite(t).all()):
        raise ExperimentDataError(f"{name}: a missing or infinite value")
    return c, t
