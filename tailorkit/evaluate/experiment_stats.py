"""A/B statistics over per-unit values: SRM, fixed-horizon and sequential intervals, CUPED, BH.

Every estimate compares a ``treatment`` arm (the challenger) with a ``control`` arm (the
champion) on one value per assignment unit (a 0/1 outcome, a number, or a numerator and a
denominator for a ratio metric). The lift is relative, ``mean_t / mean_c - 1``; its interval
comes from the delta method on ``log(mean_t / mean_c)`` (on the ratio itself when a mean is not
positive). The absolute difference and its interval, which the decision reads, are reported
beside it.

- ``fixed``: Welch's t (numbers) or the two-proportion z (0/1 outcomes) from statsmodels, valid
  at one pre-registered look only.
- ``sequential``: the asymptotic confidence sequence of Waudby-Smith et al. (2023,
  "Time-uniform central limit theory and asymptotic confidence sequences"; Howard et al.'s
  normal-mixture boundary), valid at every look: peeking after every batch keeps the error
  rate at ``alpha``. Its always-valid p-value is the smallest ``alpha`` whose sequence excludes
  no effect.
- ``cuped``: values adjusted by a pre-period covariate per unit (Deng et al. 2013), then either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from tailorkit.errors import TailorkitError

SRM_ALPHA = 0.001
METHODS = ("fixed", "sequential")


class ExperimentDataError(TailorkitError):
    """The values cannot be analysed (an empty arm, a constant zero control mean, bad weights)."""


@dataclass(frozen=True)
class Estimate:
    """One metric's comparison of the challenger (treatment) with the champion (control)."""

    name: str
    method: str
    control_mean: float
    treatment_mean: float
    control_units: int
    treatment_units: int
    diff: float
    diff_ci_low: float
    diff_ci_high: float
    lift: float
    ci_low: float  # of the relative lift
    ci_high: float
    p_value: float

    def as_dict(self) -> dict:
        return asdict(self)


def srm_p_value(units: Sequence[int], weights: Sequence[float]) -> float:
    """Chi-square p-value of the units per arm against the configured weights."""
    counts = np.asarray(units, dtype=float)
    share = np.asarray(weights, dtype=float)
    if counts.shape != share.shape or len(counts) < 2:
        raise ExperimentDataError(f"{len(counts)} arms with units but {len(share)} weights")
    if not np.isclose(share.sum(), 1.0) or (share <= 0).any():
        raise ExperimentDataError(f"arm weights {list(share)} must be positive and sum to 1")
    if counts.sum() == 0:
        raise ExperimentDataError("no units in any arm")
    return float(stats.chisquare(counts, f_exp=counts.sum() * share).pvalue)


def cuped(values: np.ndarray, covariate: np.ndarray) -> tuple[np.ndarray, float]:
    """``values`` minus ``theta * (covariate - its mean)``, theta fitted on both arms pooled
    (``values`` and ``covariate`` hold every unit of both arms); returns them and theta."""
    y, x = np.asarray(values, dtype=float), np.asarray(covariate, dtype=float)
    if y.shape != x.shape:
        raise ExperimentDataError(f"{len(x)} covariate values for {len(y)} units")
    variance = x.var()
    theta = 0.0 if variance == 0 else float(np.cov(y, x, bias=True)[0, 1] / variance)
    return y - theta * (x - x.mean()), theta


@dataclass(frozen=True)
class _Arm:
    mean: float
    variance: float  # per unit
    units: int
    values: np.ndarray | None  # per-unit values where a statsmodels test applies


def compare(
    name: str,
    control: np.ndarray,
    treatment: np.ndarray,
    *,
    binary: bool = False,
    method: str = "sequential",
    alpha: float = 0.05,
    planned_units: int = 10_000,
    require_lift: bool = True,
) -> Estimate:
    """Compare per-unit values of two arms (``binary``: 0/1 outcomes). ``require_lift`` False:
    a champion's mean of 0 (no errors yet) gives a NaN lift instead of an error."""
    arms = []
    for label, values in (("control", control), ("treatment", treatment)):
        x = _checked(values, label, name)
        if binary and not np.isin(x, (0.0, 1.0)).all():
            raise ExperimentDataError(f"{name}: {label} values must be 0 or 1 for a binary metric")
        mean = float(x.mean())
        variance = mean * (1 - mean) if binary else float(x.var(ddof=1))
        arms.append(_Arm(mean, variance, len(x), x))
    return _estimate(name, method, alpha, planned_units, *arms, binary, require_lift)


def compare_ratio(
    name: str,
    control: tuple[np.ndarray, np.ndarray],
    treatment: tuple[np.ndarray, np.ndarray],
    *,
    method: str = "sequential",
    alpha: float = 0.05,
    planned_units: int = 10_000,
    require_lift: bool = True,
) -> Estimate:
    """Compare a ratio metric (sum of numerators / sum of denominators per arm, e.g. clicks per
    impression) whose unit is not the denominator's: the delta method gives each arm's
    variance per unit."""
    arms = []
    for label, (numerator, denominator) in (("control", control), ("treatment", treatment)):
        x, y = _checked(numerator, label, name), _checked(denominator, label, name)
        if x.shape != y.shape:
            raise ExperimentDataError(
                f"{name}: {label} has {len(x)} numerators for {len(y)} denominators"
            )
        mx, my = float(x.mean()), float(y.mean())
        if my == 0:
            raise ExperimentDataError(f"{name}: every {label} denominator is 0")
        ratio = mx / my
        influence = (x - ratio * y) / my  # the ratio's linearisation per unit
        arms.append(_Arm(ratio, float(influence.var(ddof=1)), len(x), None))
    return _estimate(name, method, alpha, planned_units, *arms, False, require_lift)


def benjamini_hochberg(p_values: Sequence[float], alpha: float = 0.05) -> list[float]:
    """BH-adjusted p-values (false discovery rate across the non-guardrail metrics)."""
    if not p_values:
        return []
    return [float(p) for p in multipletests(list(p_values), alpha=alpha, method="fdr_bh")[1]]


def confidence_sequence_radius(std_error: float, units: int, alpha: float, rho2: float) -> float:
    """Half-width of the asymptotic confidence sequence at level ``alpha`` for an estimate with
    standard error ``std_error`` after ``units`` units (``rho2``: ``mixture_rho2``)."""
    n = units
    per_unit_sd = std_error * math.sqrt(n)
    return per_unit_sd * math.sqrt(
        2 * (n * rho2 + 1) / (n**2 * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha)
    )


def always_valid_p_value(estimate: float, std_error: float, units: int, rho2: float) -> float:
    """The smallest alpha at which the confidence sequence (same ``rho2``) excludes 0."""
    if std_error == 0:
        return 1.0 if estimate == 0 else 0.0
    n = units
    variance_per_unit = std_error**2 * n
    exponent = -(estimate**2) * n**2 * rho2 / (2 * variance_per_unit * (n * rho2 + 1))
    return float(min(1.0, math.sqrt(n * rho2 + 1) * math.exp(exponent)))


def mixture_rho2(alpha: float, planned_units: int) -> float:
    """Howard et al.'s mixture variance: the boundary at level ``alpha`` is tightest after
    ``planned_units`` units."""
    log_term = -2 * math.log(alpha)
    return (log_term + math.log(log_term + 1)) / planned_units


def _estimate(
    name: str,
    method: str,
    alpha: float,
    planned_units: int,
    c: _Arm,
    t: _Arm,
    binary: bool,
    require_lift: bool = True,
) -> Estimate:
    if method not in METHODS:
        raise ExperimentDataError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if c.mean == 0 and require_lift:
        raise ExperimentDataError(f"{name}: the champion's mean is 0, so no relative lift")
    diff = t.mean - c.mean
    se_diff = math.sqrt(t.variance / t.units + c.variance / c.units)
    units, rho2 = c.units + t.units, mixture_rho2(alpha, planned_units)
    z = float(stats.norm.ppf(1 - alpha / 2))

    def radius(std_error: float) -> float:
        if method == "fixed":
            return std_error * z
        return confidence_sequence_radius(std_error, units, alpha, rho2)

    if method == "fixed":
        (low, high), p_value = _fixed_diff(c, t, diff, se_diff, alpha, binary)
    else:
        low, high = diff - radius(se_diff), diff + radius(se_diff)
        p_value = always_valid_p_value(diff, se_diff, units, rho2)
    lift = lift_low = lift_high = math.nan
    if c.mean != 0:
        lift = t.mean / c.mean - 1
        se_lift, log_scale = _lift_std_error(c, t)
        lift_low, lift_high = lift_interval(lift, radius(se_lift), log_scale)
    return Estimate(
        name=name,
        method=method,
        control_mean=c.mean,
        treatment_mean=t.mean,
        control_units=c.units,
        treatment_units=t.units,
        diff=diff,
        diff_ci_low=float(low),
        diff_ci_high=float(high),
        lift=lift,
        ci_low=float(lift_low),
        ci_high=float(lift_high),
        p_value=float(p_value),
    )


def _lift_std_error(c: _Arm, t: _Arm) -> tuple[float, bool]:
    """Standard error of the relative lift by the delta method: of ``log(mean_t / mean_c)``
    when both means are positive (an interval that respects the ratio's skew), else of
    ``mean_t / mean_c`` itself; and whether it is on the log scale."""
    if c.mean > 0 and t.mean > 0:
        variance = t.variance / (t.units * t.mean**2) + c.variance / (c.units * c.mean**2)
        return math.sqrt(variance), True
    variance = t.variance / (t.units * c.mean**2) + t.mean**2 * c.variance / (c.units * c.mean**4)
    return math.sqrt(variance), False


def lift_interval(lift: float, radius: float, log_scale: bool) -> tuple[float, float]:
    """The relative lift's interval from a radius on ``log(1 + lift)`` (or on the lift)."""
    if log_scale:  # a mean near 0 gives a huge radius: the bound is then infinite
        centre = math.log1p(lift)
        return _expm1(centre - radius), _expm1(centre + radius)
    return lift - radius, lift + radius


def _expm1(x: float) -> float:
    return math.inf if x > 700 else math.expm1(x)


def _fixed_diff(
    c: _Arm, t: _Arm, diff: float, se_diff: float, alpha: float, binary: bool
) -> tuple[tuple[float, float], float]:
    """The absolute difference's interval and p-value at one look (statsmodels' tests)."""
    if c.values is None or t.values is None:  # a ratio metric: the delta method's Wald z
        z = float(stats.norm.ppf(1 - alpha / 2))
        p_value = 2 * float(stats.norm.sf(abs(diff) / se_diff)) if se_diff > 0 else float(diff == 0)
        return (diff - z * se_diff, diff + z * se_diff), p_value
    if binary:
        counts = (int(t.values.sum()), t.units, int(c.values.sum()), c.units)
        interval = confint_proportions_2indep(*counts, method="wald", alpha=alpha)
        result = test_proportions_2indep(*counts, method="wald")
        return (float(interval[0]), float(interval[1])), float(result.pvalue)
    comparison = CompareMeans(DescrStatsW(t.values), DescrStatsW(c.values))
    _, p_value, _ = comparison.ttest_ind(usevar="unequal")
    low, high = comparison.tconfint_diff(alpha=alpha, usevar="unequal")
    return (float(low), float(high)), float(p_value)


def _checked(values: np.ndarray, label: str, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) < 2:
        raise ExperimentDataError(f"{name}: the {label} arm has {x.size} units; 2 are needed")
    if not np.isfinite(x).all():
        raise ExperimentDataError(f"{name}: the {label} arm has a missing or infinite value")
    return x
