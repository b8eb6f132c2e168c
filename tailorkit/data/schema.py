"""Column type inference: numeric, categorical, boolean, datetime, text, id."""

from __future__ import annotations

import warnings

import pandas as pd

COLUMN_TYPES = ("numeric", "categorical", "boolean", "datetime", "text", "id")

_BOOL_STRINGS = {"true", "false", "yes", "no", "y", "n", "t", "f"}


def infer_column_type(series: pd.Series) -> str:
    """Guess the semantic type of one column from its values."""
    values = series.dropna()
    n_rows = len(series)
    if values.empty:
        return "numeric"
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    n_unique = values.nunique()
    if pd.api.types.is_numeric_dtype(values):
        if n_unique <= 2 and set(pd.unique(values)) <= {0, 1}:
            return "boolean"
        looks_like_index = (
            pd.api.types.is_integer_dtype(values)
            and n_unique == n_rows
            and n_rows > 50
            and values.is_monotonic_increasing
        )
        return "id" if looks_like_index else "numeric"
    as_text = values.astype(str)
    if n_unique <= 2 and set(as_text.str.lower().unique()) <= _BOOL_STRINGS:
        return "boolean"
    if _looks_like_datetime(as_text):
        return "datetime"
    if n_rows > 50 and n_unique == len(values) and as_text.str.len().mean() < 40:
        return "id"
    if as_text.str.len().mean() > 40 and n_unique > 0.5 * len(values):
        return "text"
    return "categorical"


def _looks_like_datetime(values: pd.Series) -> bool:
    sample = values.head(200)
    if not sample.str.contains(r"\d{1,4}[-/.:]\d{1,2}", regex=True).all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() > 0.95)


def infer_schema(frame: pd.DataFrame, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Map every column to one of ``COLUMN_TYPES``; ``overrides`` win over guesses."""
    overrides = overrides or {}
    return {
        column: overrides.get(column) or infer_column_type(frame[column])
        for column in frame.columns
    }
