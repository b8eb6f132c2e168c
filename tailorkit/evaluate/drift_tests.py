"""Drift tests between a reference sample (the training data) and a current one (a live window):
pure functions over arrays, chosen per column by type and size as Evidently's DataDriftPreset
chooses them (Evidently's default algorithm, docs "Data drift algorithm"):

- reference with <= 1000 rows (``SMALL_REFERENCE_ROWS``): a numeric column with more than 5
  distinct values gets the two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``); a
  categorical one (or numeric with <= 5 distinct values) the chi-square goodness-of-fit test of
  the current counts against the reference shares (``scipy.stats.chisquare``), and a binary one
  (<= 2 distinct values) the two-proportion Z test. Drift when the p-value is below 0.05
  (Evidently's 0.95 confidence level);
- reference with > 1000 rows: the Wasserstein distance divided by the reference's standard
  deviation (at least 0.001; ``scipy.stats.wasserstein_distance``) for numeric columns, the
  Jensen-Shannon distance (natural log, empty shares floored at 1e-4;
  ``scipy.spatial.distance.jensenshannon``) for categorical ones. Drift when the distance is
  at least 0.1;
- the dataset drifts when at least half the tested columns drift (``DATASET_DRIFT_SHARE``).

Categorical levels the reference never had are set apart before a test (their share is
reported on its own, ``unseen_share``); the population stability index is given beside every
test (``population_stability_index``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

SMALL_REFERENCE_ROWS = 1000
FEW_VALUES = 5  # a numeric column with at most this many distinct values is tested as levels
P_VALUE_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1
DATASET_DRIFT_SHARE = 0.5
MIN_STD = 0.001  # Wasserstein normalisation floor (Evidently's)
SHARE_FLOOR = 1e-4  # empty shares in PSI and Jensen-Shannon


@dataclass(frozen=True)
class DriftTest:
    """One test's result: its name, statistic, p-value (None for distances), threshold."""

    test: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool

    def as_dict(self) -> dict:
        return asdict(self)


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI = sum((actual - expected) * ln(actual / expected)) over bins, shares floored."""
    expected = np.clip(expected, SHARE_FLOOR, None)
    actual = np.clip(actual, SHARE_FLOOR, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def choose_test(numeric: bool, reference_rows: int, distinct: int) -> str:
    """The test Evidently's default algorithm picks: ``ks``, ``wasserstein``, ``chisquare``,
    ``z`` or ``jensenshannon``."""
    as_numbers = numeric and distinct > FEW_VALUES
    if reference_rows <= SMALL_REFERENCE_ROWS:
        if as_numbers:
            return "ks"
        return "z" if distinct <= 2 else "chisquare"
    return "wasserstein" if as_numbers else "jensenshannon"


def numeric_test(reference: np.ndarray, current: np.ndarray) -> DriftTest:
    """KS or normalised Wasserstein on the finite values (levels when few distinct values)."""
    reference = reference[np.isfinite(reference)]
    current = current[np.isfinite(current)]
    distinct = len(np.unique(np.concatenate([reference, current])))
    test = choose_test(True, len(reference), distinct)
    if test == "ks":
        result = stats.ks_2samp(reference, current)
        return _p_value_test("ks", result.statistic, result.pvalue)
    if test == "wasserstein":
        scale = max(float(np.std(reference)), MIN_STD)
        value = stats.wasserstein_distance(reference, current) / scale
        return _distance_test("wasserstein", value)
    reference_levels = reference.astype(str)
    return level_test(reference_levels, seen_only(reference_levels, current.astype(str))[0])


def level_test(reference: np.ndarray, current: np.ndarray) -> DriftTest:
    """Chi-square, Z or Jensen-Shannon over the reference's levels; the current values must be
    reference levels already (``seen_only`` sets the others apart)."""
    levels, reference_counts = np.unique(reference, return_counts=True)
    current_counts = _counts_of(current, levels)
    test = choose_test(False, len(reference), len(levels))
    if test == "jensenshannon":
        value = distance.jensenshannon(
            _floored_shares(reference_counts), _floored_shares(current_counts)
        )
        return _distance_test("jensenshannon", float(value))
    if test == "z":
        return _z_test(reference_counts, current_counts)
    expected = reference_counts / reference_counts.sum() * current_counts.sum()
    result = stats.chisquare(current_counts, expected)
    return _p_value_test("chisquare", result.statistic, result.pvalue)


def seen_only(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, float]:
    """The current values that are reference levels, and the share of those that are not."""
    seen = np.isin(current, np.unique(reference))
    share = float(1.0 - seen.mean()) if len(current) else 0.0
    return current[seen], share


def dataset_drift(drifted: list[bool]) -> bool:
    """At least ``DATASET_DRIFT_SHARE`` of the tested columns drift (False when none tested)."""
    return bool(drifted) and sum(drifted) / len(drifted) >= DATASET_DRIFT_SHARE


def _z_test(reference_counts: np.ndarray, current_counts: np.ndarray) -> DriftTest:
    """Two-proportion Z test on the first level's share (pooled variance), two-sided."""
    n_ref, n_cur = reference_counts.sum(), current_counts.sum()
    p_ref, p_cur = reference_counts[0] / n_ref, current_counts[0] / max(n_cur, 1)
    pooled = (reference_counts[0] + current_counts[0]) / (n_ref + n_cur)
    spread = np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / max(n_cur, 1)))
    if spread == 0:
        return _p_value_test("z", 0.0, 1.0)
    z = (p_cur - p_ref) / spread
    return _p_value_test("z", z, 2 * stats.norm.sf(abs(z)))


def _counts_of(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    found, counts = np.unique(values, return_counts=True)
    lookup = dict(zip(found.tolist(), counts.tolist(), strict=True))
    return np.array([lookup.get(level, 0) for level in levels.tolist()], dtype=float)


def _floored_shares(counts: np.ndarray) -> np.ndarray:
    shares = counts / max(counts.sum(), 1)
    return np.where(shares == 0, SHARE_FLOOR, shares)


def _p_value_test(name: str, statistic: float, p_value: float) -> DriftTest:
    p = float(p_value)
    return DriftTest(name, float(statistic), p, P_VALUE_THRESHOLD, p < P_VALUE_THRESHOLD)


def _distance_test(name: str, value: float) -> DriftTest:
    value = float(value)
    return DriftTest(name, value, None, DISTANCE_THRESHOLD, value >= DISTANCE_THRESHOLD)
