"""Column values as the data-quality checks see them: numbers, levels and JSON-safe floats."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

OUTLIER_IQR_FACTOR = 3.0
MISSING_LEVEL = "(missing)"


def count_unique(values: pd.Series) -> int:
    """Distinct non-missing values (unhashable values are compared as text)."""
    try:
        return int(values.nunique())
    except TypeError:
        return int(values.astype(str).nunique())


def as_number(values: pd.Series, column_type: str) -> np.ndarray | None:
    """Numbers (dates as epoch seconds) for ranking and binning; None when not numeric."""
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        numeric = values.to_numpy(dtype=float)
    elif column_type == "datetime":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            moments = pd.to_datetime(values, errors="coerce", format="mixed")
        numeric = (moments - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(float)
    else:
        return None
    return numeric if np.isfinite(numeric).any() else None


def numeric_summary(values: np.ndarray, column_type: str) -> dict:
    """Min, max, mean, std and median (and the outlier share of numeric columns)."""
    summary = {
        "min": plain_number(values.min()),
        "max": plain_number(values.max()),
        "mean": plain_number(values.mean()),
        "std": plain_number(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "median": plain_number(np.median(values)),
    }
    if column_type == "numeric":
        summary["outlier_fraction"] = plain_number(_outlier_fraction(values))
    return summary


def _outlier_fraction(values: np.ndarray) -> float:
    """Share of values beyond ``OUTLIER_IQR_FACTOR`` interquartile ranges from the quartiles."""
    if len(values) < 20:
        return 0.0
    q1, q3 = np.percentile(values, [25, 75])
    spread = q3 - q1
    if spread <= 0:
        return 0.0
    low, high = q1 - OUTLIER_IQR_FACTOR * spread, q3 + OUTLIER_IQR_FACTOR * spread
    return float(np.mean((values < low) | (values > high)))


def plain_number(value: Any) -> float | None:
    """A plain float rounded for reports; NaN and infinity become None (valid JSON)."""
    number = float(value)
    return round(number, 6) if np.isfinite(number) else None
