"""Guardrail statistics read from served requests, not feedback: a high quantile of latency per
arm (p99), and the demographic parity gap of each arm's decisions; each compares the
challenger (treatment) with the champion (control) through a percentile bootstrap (scipy's
``bootstrap``, the arms resampled independently) under a fixed seed, so the same data always
give the same interval.

Latency is per request and decisions are per scored row, not per unit: a request's latency or
a row's decision hardly depends on who sent it. The intervals hold at one look; the decision
(``loop.decision``) adds a tolerance before it calls a breach. At most ``MAX_BOOTSTRAP_VALUES``
values per arm enter the resampling (a seeded sample of them), which only widens the interval;
the point estimates use every value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import demographic_parity_difference
from scipy import stats

from tailorkit.evaluate.experiment_stats import Estimate, ExperimentDataError
from tailorkit.evaluate.fairness import band_groups

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 29  # fixed: an analysis of the same data gives the same interval
MAX_BOOTSTRAP_VALUES = 20_000
NAN = float("nan")


def compare_quantile(
    name: str,
    control: Sequence[float],
    treatment: Sequence[float],
    *,
    q: float = 0.99,
    alpha: float = 0.05,
    min_values: int = 500,
) -> Estimate:
    """The ``q`` quantile of each arm's values (latency in ms), their difference and the
    relative lift (``treatment / control - 1``) with bootstrap intervals."""
    c = _values(control, "control", name, min_values)
    t = _values(treatment, "treatment", name, min_values)
    qc, qt = float(np.quantile(c, q)), float(np.quantile(t, q))
    if qc <= 0:
        raise ExperimentDataError(f"{name}: the champion's quantile is {qc:g}, so no lift")

    def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        low, high = np.quantile(x, q, axis=axis), np.quantile(y, q, axis=axis)
        return np.stack([high - low, high / low - 1])

    (diff_low, lift_low), (diff_high, lift_high) = _bootstrap((c, t), statistic, alpha)
    lift = (qt / qc - 1, lift_low, lift_high)
    return _estimate(name, (qc, qt), (len(c), len(t)), (diff_low, diff_high), lift)


def parity_gap(groups: Sequence[str], selected: Sequence[bool]) -> float:
    """fairlearn's demographic parity difference: the largest gap between the groups' shares
    of ``selected`` rows."""
    chosen = np.asarray(selected, dtype=bool)
    return float(
        demographic_parity_difference(chosen, chosen, sensitive_features=np.asarray(groups))
    )


def compare_parity_gap(
    name: str,
    attribute: str,
    control: tuple[Sequence, Sequence[bool]],
    treatment: tuple[Sequence, Sequence[bool]],
    *,
    alpha: float = 0.05,
    min_group_rows: int = 30,
) -> Estimate:
    """Each arm's demographic parity gap of its decisions (``(group value, selected)`` per
    row) over the groups of ``attribute`` with at least ``min_group_rows`` rows in both arms,
    and the difference of the gaps with a bootstrap interval. The values are banded as the
    offline fairness audit bands them (age bands, quantile bands), over both arms pooled."""
    values = [*control[0], *treatment[0]]
    labels = band_groups(pd.Series(values, name=attribute))[0].to_numpy().astype(str)
    arms = (labels[: len(control[0])], labels[len(control[0]) :])
    chosen = [np.asarray(arm[1], dtype=bool) for arm in (control, treatment)]
    eligible = sorted(set.intersection(*(_groups_with(a, min_group_rows) for a in arms)))
    if len(eligible) < 2:
        raise ExperimentDataError(
            f"{name}: fewer than 2 groups of '{attribute}' with {min_group_rows} scored rows "
            "in each arm yet"
        )
    gaps, cells = [], []
    for arm, selected in zip(arms, chosen, strict=True):
        keep = np.isin(arm, eligible)
        gaps.append(parity_gap(arm[keep], selected[keep]))
        cells.append(_cells(np.searchsorted(eligible, arm[keep]), selected[keep], len(eligible)))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    diff = _cell_gaps(_resampled(cells[1], rng)) - _cell_gaps(_resampled(cells[0], rng))
    low, high = np.quantile(diff, [alpha / 2, 1 - alpha / 2])
    rows = (int(cells[0].sum()), int(cells[1].sum()))
    return _estimate(name, (gaps[0], gaps[1]), rows, (low, high), (NAN, NAN, NAN))


def _groups_with(labels: np.ndarray, min_rows: int) -> set[str]:
    found, counts = np.unique(labels, return_counts=True)
    return {str(g) for g, n in zip(found, counts, strict=True) if n >= min_rows}


def _cells(codes: np.ndarray, selected: np.ndarray, k: int) -> np.ndarray:
    """Counts per group (rows) of rows not selected and selected (columns)."""
    return np.stack(
        [np.bincount(codes[~selected], minlength=k), np.bincount(codes[selected], minlength=k)],
        axis=-1,
    )


def _resampled(cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-bootstrap resamples of one arm through its sufficient statistics: drawing its ``n``
    rows with replacement draws each (group, decision) cell's count from a multinomial."""
    n = int(cells.sum())
    draws = rng.multinomial(n, cells.ravel() / n, size=BOOTSTRAP_RESAMPLES)
    return draws.reshape(BOOTSTRAP_RESAMPLES, *cells.shape)


def _cell_gaps(cells: np.ndarray) -> np.ndarray | float:
    """The parity gap from (group, [not selected, selected]) counts (resamples on the first
    axes): the largest minus the smallest group share of selected rows, over the groups
    present."""
    count = cells.sum(axis=-1)
    share = np.where(count > 0, cells[..., 1] / np.maximum(count, 1), np.nan)
    gap = np.nanmax(share, axis=-1) - np.nanmin(share, axis=-1)
    return float(gap) if np.ndim(gap) == 0 else gap


def _bootstrap(samples: tuple[np.ndarray, ...], statistic: Callable, alpha: float) -> tuple:
    """The percentile interval of ``statistic`` over independent resamples of each sample."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    capped = tuple(
        rng.choice(s, MAX_BOOTSTRAP_VALUES, replace=False) if len(s) > MAX_BOOTSTRAP_VALUES else s
        for s in samples
    )
    result = stats.bootstrap(
        capped,
        statistic,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=1 - alpha,
        method="percentile",
        vectorized=True,
        batch=50,
        random_state=rng,
    )
    return result.confidence_interval.low, result.confidence_interval.high


def _values(values: Sequence[float], label: str, name: str, min_values: int) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) < min_values:
        raise ExperimentDataError(
            f"{name}: the {label} arm has {x.size} values yet; {min_values} are needed"
        )
    if not np.isfinite(x).all():
        raise ExperimentDataError(f"{name}: the {label} arm has a missing or infinite value")
    return x


def _estimate(
    name: str,
    means: tuple[float, float],
    units: tuple[int, int],
    diff_ci: tuple[float, float],
    lift: tuple[float, float, float],
) -> Estimate:
    """A bootstrap comparison as an ``Estimate`` (no p-value: the decision reads intervals)."""
    return Estimate(
        name=name,
        method="bootstrap",
        control_mean=means[0],
        treatment_mean=means[1],
        control_units=units[0],
        treatment_units=units[1],
        diff=means[1] - means[0],
        diff_ci_low=float(diff_ci[0]),
        diff_ci_high=float(diff_ci[1]),
        lift=float(lift[0]),
        ci_low=float(lift[1]),
        ci_high=float(lift[2]),
        p_value=NAN,
    )
