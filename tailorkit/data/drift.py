"""Drift between training data and new data: PSI and KS per column, added and missing columns
(``compare_frames``, for ``tailorkit profile --new``); PSI plus the per-type test of
``evaluate.drift_tests`` per feature of a live window (``window_drift``, for monitoring)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tailorkit.data.column_values import MISSING_LEVEL, as_number, plain_number
from tailorkit.data.findings import issue
from tailorkit.evaluate.drift_tests import (
    level_test,
    numeric_test,
    population_stability_index,
    seen_only,
)

__all__ = ["compare_frames", "column_drift", "population_stability_index", "window_drift"]

PSI_ALERT = 0.2
PSI_HIGH = 0.5
PSI_BINS = 10
PSI_MAX_LEVELS = 30
OTHER_LEVEL = "(other)"


def compare_frames(
    reference: pd.DataFrame,
    new: pd.DataFrame,
    types: dict[str, str],
    *,
    target: str | None = None,
) -> tuple[list[dict], list[dict]]:
    """PSI (and KS for numbers) per shared column, plus added and missing columns."""
    rows, found = [], []
    for column in new.columns:
        if column not in reference.columns:
            found.append(
                issue(
                    column,
                    "new_column",
                    "low",
                    f"column '{column}' appears in the new data but not in the training data",
                )
            )
    for column in reference.columns:
        if column not in new.columns:
            if column != target:
                found.append(
                    issue(
                        column,
                        "missing_column",
                        "high",
                        f"column '{column}' is in the training data but missing from the new "
                        "data; models that use it cannot score these rows",
                    )
                )
            continue
        if types[column] in ("id", "text") or new.empty or reference.empty:
            continue
        row = column_drift(reference[column], new[column], types[column])
        rows.append(row)
        if row["psi"] > PSI_ALERT:
            found.append(_drift_issue(row))
    return rows, found


def column_drift(reference: pd.Series, new: pd.Series, column_type: str) -> dict:
    """Population stability index of one column (and KS statistic when numeric)."""
    old_numbers = as_number(reference, column_type)
    new_numbers = as_number(new, column_type) if old_numbers is not None else None
    if old_numbers is not None and new_numbers is None:
        new_numbers = pd.to_numeric(new, errors="coerce").to_numpy(dtype=float)
    if old_numbers is not None:
        old_share, new_share = _quantile_shares(old_numbers, new_numbers)
        ks = _ks_statistic(old_numbers, new_numbers)
    else:
        old_share, new_share = _level_shares(reference, new)
        ks = None
    return {
        "column": str(reference.name),
        "type": column_type,
        "psi": plain_number(population_stability_index(old_share, new_share)),
        "ks": plain_number(ks) if ks is not None else None,
        "reference_missing": plain_number(reference.isna().mean()),
        "new_missing": plain_number(new.isna().mean()),
    }


def window_drift(reference: pd.Series, current: pd.Series, column_type: str) -> dict | None:
    """``{feature, type, psi, test, statistic, p_value, threshold, drifted}`` of one feature
    (plus ``unseen_share`` for levels); None when either side has no value to compare."""
    old_numbers = as_number(reference, column_type)
    if old_numbers is not None:
        new_numbers = pd.to_numeric(current, errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(old_numbers).any() or not np.isfinite(new_numbers).any():
            return None
        psi = population_stability_index(*_quantile_shares(old_numbers, new_numbers))
        test, extra = numeric_test(old_numbers, new_numbers), {}
    else:
        old_levels = reference.dropna().astype(str).str.strip().to_numpy()
        new_levels = current.dropna().astype(str).str.strip().to_numpy()
        seen, unseen = seen_only(old_levels, new_levels)
        if not len(old_levels) or not len(new_levels):
            return None
        psi = population_stability_index(*_level_shares(reference, current))
        test = level_test(old_levels, seen) if len(seen) else None
        extra = {"unseen_share": plain_number(unseen)}
    if test is None:  # every current value is a level the reference never had
        found = {"test": None, "statistic": None, "p_value": None, "threshold": None}
        found["drifted"] = True
    else:
        found = test.as_dict()
        found["statistic"] = plain_number(found["statistic"])
    return {
        "feature": str(reference.name),
        "type": column_type,
        "psi": plain_number(psi),
        **found,
        **extra,
    }


def _quantile_shares(old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shares per training-quantile bin, with one extra bin for missing values."""
    finite_old = old[np.isfinite(old)]
    quantiles = np.linspace(0, 1, PSI_BINS + 1)[1:-1]
    edges = np.unique(np.quantile(finite_old, quantiles)) if len(finite_old) else np.array([])

    def shares(values: np.ndarray) -> np.ndarray:
        missing = ~np.isfinite(values)
        bins = np.searchsorted(edges, values[~missing], side="right")
        counts = np.bincount(bins, minlength=len(edges) + 1).astype(float)
        counts = np.append(counts, missing.sum())
        return counts / max(len(values), 1)

    return shares(old), shares(new)


def _level_shares(old: pd.Series, new: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Shares per training level (the most frequent ones), other levels and missing."""
    old_levels = old.astype(str).where(old.notna(), MISSING_LEVEL)
    new_levels = new.astype(str).where(new.notna(), MISSING_LEVEL)
    kept = list(old_levels.value_counts().index[:PSI_MAX_LEVELS])
    categories = kept + [OTHER_LEVEL] if OTHER_LEVEL not in kept else kept

    def shares(levels: pd.Series) -> np.ndarray:
        grouped = levels.where(levels.isin(kept), OTHER_LEVEL)
        counts = grouped.value_counts().reindex(categories, fill_value=0)
        return counts.to_numpy(float) / max(len(levels), 1)

    return shares(old_levels), shares(new_levels)


def _ks_statistic(old: np.ndarray, new: np.ndarray) -> float | None:
    """Largest gap between the two empirical distribution functions."""
    old, new = np.sort(old[np.isfinite(old)]), np.sort(new[np.isfinite(new)])
    if not len(old) or not len(new):
        return None
    grid = np.concatenate([old, new])
    old_cdf = np.searchsorted(old, grid, side="right") / len(old)
    new_cdf = np.searchsorted(new, grid, side="right") / len(new)
    return float(np.max(np.abs(old_cdf - new_cdf)))


def _drift_issue(row: dict) -> dict:
    column, psi = row["column"], row["psi"]
    ks = f", KS {row['ks']:.2f}" if row["ks"] is not None else ""
    return issue(
        column,
        "drift",
        "high" if psi > PSI_HIGH else "medium",
        f"column '{column}' has drifted between training and new data (PSI {psi:.2f}{ks}); "
        "check the source and consider retraining",
    )
