"""Per-column statistics of a table and the findings they raise (missing, constant,
identifier-like, high-cardinality, outliers, duplicate rows)."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.data.column_values import (
    OUTLIER_IQR_FACTOR,
    count_unique,
    numeric_summary,
    plain_number,
)
from tailorkit.data.findings import issue

MISSING_WARN_FRACTION = 0.05
MISSING_HIGH_FRACTION = 0.5
MAX_CATEGORICAL_LEVELS = 50
OUTLIER_WARN_FRACTION = 0.01
TOP_VALUES = 5
_ID_NAME = re.compile(r"(^|[_\s-])(id|key|uuid|guid)$", re.IGNORECASE)


def column_statistics(series: pd.Series, column_type: str) -> dict:
    """Missing values, distinct values, and numeric summaries or most frequent values."""
    rows = len(series)
    missing = int(series.isna().sum())
    present = series.dropna()
    n_unique = count_unique(present)
    stats: dict[str, Any] = {
        "column": str(series.name),
        "type": column_type,
        "dtype": str(series.dtype),
        "missing": missing,
        "missing_fraction": plain_number(missing / rows) if rows else 0.0,
        "n_unique": n_unique,
        "unique_fraction": plain_number(n_unique / len(present)) if len(present) else 0.0,
        "id_like": False,
    }
    numeric = _numeric_values(present, column_type)
    if numeric is not None and len(numeric):
        stats.update(numeric_summary(numeric, column_type))
    elif column_type == "datetime":
        stats.update(_datetime_summary(present))
    if column_type != "numeric":
        stats["top_values"] = _top_values(present, rows)
    stats["id_like"] = _looks_like_id(stats, present)
    return stats


def _numeric_values(present: pd.Series, column_type: str) -> np.ndarray | None:
    if pd.api.types.is_bool_dtype(present):
        return None
    if pd.api.types.is_numeric_dtype(present):
        return present.to_numpy(dtype=float)
    if column_type == "numeric":
        return pd.to_numeric(present, errors="coerce").dropna().to_numpy(dtype=float)
    return None


def _datetime_summary(present: pd.Series) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        moments = pd.to_datetime(present, errors="coerce", format="mixed").dropna()
    if moments.empty:
        return {}
    return {"min": str(moments.min()), "max": str(moments.max())}


def _top_values(present: pd.Series, rows: int) -> list[dict]:
    counts = present.astype(str).value_counts().head(TOP_VALUES)
    return [
        {
            "value": _shorten(str(value), 80),
            "count": int(count),
            "fraction": plain_number(count / rows),
        }
        for value, count in counts.items()
    ]


def _looks_like_id(stats: dict, present: pd.Series) -> bool:
    if stats["type"] == "id":
        return True
    if len(present) < 20 or stats["type"] in ("text", "datetime", "boolean"):
        return False
    all_distinct = stats["unique_fraction"] >= 0.95
    is_float = pd.api.types.is_float_dtype(present)
    textual = not pd.api.types.is_numeric_dtype(present)
    named_like_id = bool(_ID_NAME.search(stats["column"]))
    return all_distinct and not is_float and (textual or named_like_id)


def column_issues(stats: dict) -> list[dict]:
    """Missing, empty, constant, identifier-like, high-cardinality and outlier findings."""
    column = stats["column"]
    fraction = stats["missing_fraction"]
    if stats["n_unique"] == 0:
        return [issue(column, "all_missing", "high", f"column '{column}' is empty in every row")]
    found = []
    if fraction > MISSING_WARN_FRACTION:
        severity = "high" if fraction > MISSING_HIGH_FRACTION else "medium"
        found.append(
            issue(
                column,
                "missing_values",
                severity,
                f"column '{column}' is missing in {fraction:.1%} of rows ({stats['missing']}); "
                "find out why, or the models will rely on imputed values",
            )
        )
    if stats["n_unique"] == 1:
        value = stats.get("top_values", [{}])[0].get("value", stats.get("min"))
        found.append(
            issue(
                column,
                "constant",
                "medium",
                f"column '{column}' has the same value ({value}) in every non-missing row; "
                "it carries no information",
            )
        )
    elif stats["id_like"]:
        found.append(
            issue(
                column,
                "id_like",
                "medium",
                f"column '{column}' looks like an identifier ({stats['n_unique']} distinct "
                "values); keep it out of the features",
            )
        )
    elif _high_cardinality(stats):
        found.append(
            issue(
                column,
                "high_cardinality",
                "low",
                f"categorical column '{column}' has {stats['n_unique']} levels "
                f"({stats['unique_fraction']:.0%} distinct); rare levels are hard to learn",
            )
        )
    outliers = stats.get("outlier_fraction") or 0.0
    if outliers > OUTLIER_WARN_FRACTION:
        found.append(
            issue(
                column,
                "outliers",
                "low",
                f"{outliers:.1%} of values of '{column}' lie beyond {OUTLIER_IQR_FACTOR:g}x the "
                "interquartile range; check units and extreme values",
            )
        )
    return found


def _high_cardinality(stats: dict) -> bool:
    if stats["type"] != "categorical":
        return False
    present = stats["n_unique"] / stats["unique_fraction"] if stats["unique_fraction"] else 0
    many_levels = stats["n_unique"] > MAX_CATEGORICAL_LEVELS
    mostly_distinct = present >= 20 and stats["unique_fraction"] > 0.5
    return many_levels or mostly_distinct


def duplicate_rows(frame: pd.DataFrame) -> int:
    if frame.empty:
        return 0
    try:
        return int(frame.duplicated().sum())
    except TypeError:
        return int(frame.astype(str).duplicated().sum())


def duplicate_issues(duplicates: int, rows: int) -> list[dict]:
    if not duplicates:
        return []
    severity = "medium" if duplicates > 0.01 * rows else "low"
    return [
        issue(
            None,
            "duplicate_rows",
            severity,
            f"{duplicates} rows ({duplicates / rows:.1%}) are exact copies of an earlier row; "
            "remove them unless they are real repeated events",
        )
    ]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
