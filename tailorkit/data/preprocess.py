"""Tabular preprocessing fitted on training rows only and saved as JSON with the model.

``TabularPreprocessor`` turns a raw DataFrame into two arrays:

- ``numeric``: float32, imputed (median) with missing indicators, optionally standardized;
  datetime columns become year/month/day-of-week/hour parts; booleans become 0/1.
- ``categorical``: int64 codes, 0 = missing or unseen at fit time, 1..k = known levels.

``to_matrix`` gives one float matrix for linear models: numeric block plus one-hot
(low cardinality) or cross-fitted target encoding (high cardinality).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.errors import DataError

DATETIME_PARTS = ("year", "month", "dayofweek", "hour")
MAX_ONEHOT_LEVELS = 20
MAX_LEVELS = 200


def feature_columns(schema: dict[str, str]) -> list[str]:
    """Columns a model uses: everything except ids and free text."""
    return [c for c, t in schema.items() if t not in ("id", "text")]


class TabularPreprocessor:
    """Impute, encode and scale a DataFrame according to a column schema."""

    def __init__(self, *, schema: dict[str, str], scale: bool = True, min_frequency: int = 1):
        self.schema = schema
        self.scale = scale
        self.min_frequency = min_frequency

    # ----------------------------------------------------------------- fitting
    def fit(self, frame: pd.DataFrame, y: np.ndarray | None = None) -> TabularPreprocessor:
        self.columns_ = feature_columns(self.schema)
        check_columns(frame, self.columns_)
        self.numeric_columns_ = [
            c for c in self.columns_ if self.schema[c] in ("numeric", "boolean", "datetime")
        ]
        self.categorical_columns_ = [c for c in self.columns_ if self.schema[c] == "categorical"]
        numeric = self._raw_numeric(frame)
        self.numeric_names_ = list(numeric.columns)
        self.medians_ = {c: _finite_or(numeric[c].median(), 0.0) for c in numeric.columns}
        self.missing_indicators_ = [c for c in numeric.columns if numeric[c].isna().any()]
        filled = numeric.fillna(self.medians_)
        self.means_ = {c: float(filled[c].mean()) for c in filled.columns}
        self.stds_ = {c: _finite_or(filled[c].std(ddof=0), 1.0) or 1.0 for c in filled.columns}
        self.levels_ = {}
        for column in self.categorical_columns_:
            counts = _as_category_strings(frame[column]).value_counts()
            kept = counts[counts >= self.min_frequency].index[:MAX_LEVELS]
            self.levels_[column] = sorted(map(str, kept))
        self.target_means_: dict[str, dict[str, float]] = {}
        self.prior_ = 0.5
        if y is not None:
            self._fit_target_encoding(frame, np.asarray(y, dtype=float))
        return self

    def _fit_target_encoding(self, frame: pd.DataFrame, y: np.ndarray, smoothing: float = 10.0):
        self.prior_ = float(y.mean())
        for column in self.high_cardinality_columns:
            self.target_means_[column] = _smoothed_means(
                _as_category_strings(frame[column]), y, self.prior_, smoothing
            )

    @property
    def high_cardinality_columns(self) -> list[str]:
        return [c for c in self.categorical_columns_ if len(self.levels_[c]) > MAX_ONEHOT_LEVELS]

    # ---------------------------------------------------------- transforming
    def _raw_numeric(self, frame: pd.DataFrame) -> pd.DataFrame:
        parts: dict[str, pd.Series] = {}
        for column in self.numeric_columns_:
            kind = self.schema[column]
            if kind == "datetime":
                stamps = _to_datetime(frame[column], column)
                for part in DATETIME_PARTS:
                    parts[f"{column}__{part}"] = getattr(stamps.dt, part).astype(float)
            elif kind == "boolean":
                parts[column] = _to_boolean(frame[column], column)
            else:
                parts[column] = _to_numeric(frame[column], column)
        return pd.DataFrame(parts, index=frame.index)

    def transform_numeric(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """Imputed (and scaled) numeric block plus missing indicators, with names."""
        numeric = self._raw_numeric(frame)
        indicators = numeric[self.missing_indicators_].isna().to_numpy(float)
        values = numeric[self.numeric_names_].to_numpy(float)
        nan = float("nan")
        medians = np.array([self.medians_.get(n, nan) for n in self.numeric_names_])
        values = np.where(np.isnan(values), medians, values)
        if self.scale:
            values = values - np.array([self.means_.get(n, nan) for n in self.numeric_names_])
            values = values / np.array([self.stds_.get(n, nan) for n in self.numeric_names_])
        names = self.numeric_names_ + [f"{c}__missing" for c in self.missing_indicators_]
        return np.hstack([values, indicators]).astype(np.float32), names

    def transform_categorical(self, frame: pd.DataFrame) -> np.ndarray:
        """Integer codes per categorical column; 0 means missing or unseen."""
        codes = np.zeros((len(frame), len(self.categorical_columns_)), dtype=np.int64)
        for j, column in enumerate(self.categorical_columns_):
            lookup = {level: i + 1 for i, level in enumerate(self.levels_[column])}
            codes[:, j] = _category_codes(frame[column], lookup)
        return codes

    def transform(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        check_columns(frame, self.columns_)
        numeric, _ = self.transform_numeric(frame)
        return numeric, self.transform_categorical(frame)

    def to_matrix(
        self, frame: pd.DataFrame, y: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[str], list[str]]:
        """One float matrix for linear models, its column names and each column's source.

        With ``y`` (training rows), target encoding is cross-fitted over 5 folds so that a
        row's own label never leaks into its encoding.
        """
        check_columns(frame, self.columns_)
        numeric, names = self.transform_numeric(frame)
        sources = [_source_of(n, self.columns_) for n in names]
        blocks = [numeric]
        for column in self.categorical_columns_:
            values = _as_category_strings(frame[column])
            if column in self.target_means_:
                encoded = self._target_encode(column, values, y)
                blocks.append(encoded[:, None])
                names.append(f"{column}__target")
                sources.append(column)
            else:
                levels = self.levels_[column]
                onehot = (values.to_numpy()[:, None] == np.array(levels)[None, :]).astype(
                    np.float32
                )
                blocks.append(onehot)
                names.extend(f"{column}={level}" for level in levels)
                sources.extend([column] * len(levels))
        return np.hstack(blocks).astype(np.float32), names, sources

    def _target_encode(self, column: str, values: pd.Series, y: np.ndarray | None) -> np.ndarray:
        if y is None:
            return values.map(self.target_means_[column]).fillna(self.prior_).to_numpy(np.float32)
        y = np.asarray(y, dtype=float)
        encoded = np.empty(len(values), dtype=np.float32)
        folds = np.random.default_rng(0).integers(0, 5, size=len(values))
        for fold in range(5):
            inside = folds != fold
            means = _smoothed_means(values[inside], y[inside], self.prior_, 10.0)
            encoded[~inside] = values[~inside].map(means).fillna(self.prior_).to_numpy()
        return encoded

    # -------------------------------------------------------- serialization
    def to_dict(self) -> dict[str, Any]:
        keys = (
            "columns_",
            "numeric_columns_",
            "categorical_columns_",
            "numeric_names_",
            "medians_",
            "missing_indicators_",
            "means_",
            "stds_",
            "levels_",
            "target_means_",
            "prior_",
        )
        return {
            "schema": self.schema,
            "scale": self.scale,
            "min_frequency": self.min_frequency,
            "fitted": {k: getattr(self, k) for k in keys},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TabularPreprocessor:
        prep = cls(schema=data["schema"], scale=data["scale"], min_frequency=data["min_frequency"])
        for key, value in data["fitted"].items():
            setattr(prep, key, value)
        return prep


# --------------------------------------------------------------- helpers
def check_columns(frame: pd.DataFrame, expected: list[str]) -> None:
    """Raise a DataError naming every expected column that the frame lacks."""
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(map(repr, missing))}: the model was trained with "
            f"them; add them to the file (empty values are allowed)"
        )


def _finite_or(value: float, default: float) -> float:
    return float(value) if value is not None and np.isfinite(value) else default


def _as_category_strings(series: pd.Series) -> pd.Series:
    """Stripped strings (None for missing), converting each distinct value once."""
    codes, strings = _distinct_strings(series)
    table = np.array(strings + [None], dtype=object)
    return pd.Series(table[codes], index=series.index, dtype=object)  # code -1 -> None


def _category_codes(series: pd.Series, lookup: dict[str, int]) -> np.ndarray:
    """``lookup`` of each value's category string; 0 for missing or unseen values."""
    codes, strings = _distinct_strings(series)
    table = np.array([lookup.get(value, 0) for value in strings] + [0], dtype=np.int64)
    return table[codes]


def _distinct_strings(series: pd.Series) -> tuple[np.ndarray, list]:
    """Per row, the index of its distinct value (-1 when missing); each value's string."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if (
        series.dtype == object
        or isinstance(series.dtype, pd.StringDtype)
        or series.dtype.kind in "iub"
    ):
        return codes, [str(value).strip() for value in uniques]  # the common case, fast
    # floats, datetimes, categoricals: pandas' own formatting
    converted = pd.Series(uniques.astype(series.dtype) if series.dtype.kind == "f" else uniques)
    converted = converted.astype("string").str.strip()
    return codes, converted.astype(object).where(converted.notna(), None).tolist()


def _smoothed_means(values: pd.Series, y: np.ndarray, prior: float, smoothing: float) -> dict:
    stats = pd.DataFrame({"v": values.to_numpy(), "y": y}).groupby("v")["y"].agg(["sum", "count"])
    means = (stats["sum"] + prior * smoothing) / (stats["count"] + smoothing)
    return {str(k): float(v) for k, v in means.items()}


def _first_bad_row(original: pd.Series, converted: pd.Series) -> tuple[Any, Any]:
    """0-based data row (the frame's integer index, so chunks count on) and its value."""
    bad = original.notna() & converted.isna()
    if isinstance(original.dtype, pd.StringDtype) or original.dtype == object:
        bad &= original.astype(str).str.strip() != ""
    if not bad.any():
        return None, None
    position = int(np.flatnonzero(bad.to_numpy())[0])
    label = original.index[position]
    row = int(label) if isinstance(label, (int, np.integer)) else position
    return row, original.iloc[position]


def _to_numeric(series: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(float)
    converted = pd.to_numeric(series, errors="coerce")
    position, value = _first_bad_row(series, converted)
    if position is not None:
        raise DataError(
            f"column {column!r} must be numeric (as in training) but data row {position + 1} "
            f"holds {value!r}; fix the value or leave it empty"
        )
    return converted.astype(float)


def _to_boolean(series: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    mapping = {
        "true": 1.0,
        "yes": 1.0,
        "y": 1.0,
        "t": 1.0,
        "1": 1.0,
        "false": 0.0,
        "no": 0.0,
        "n": 0.0,
        "f": 0.0,
        "0": 0.0,
    }
    converted = series.astype("string").str.strip().str.lower().map(mapping).astype(float)
    position, value = _first_bad_row(series, converted)
    if position is not None:
        raise DataError(
            f"column {column!r} must be boolean (true/false, yes/no, 1/0) but data row "
            f"{position + 1} holds {value!r}"
        )
    return converted


def _to_datetime(series: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = pd.to_datetime(series, errors="coerce", format="mixed")
    position, value = _first_bad_row(series, converted)
    if position is not None:
        raise DataError(
            f"column {column!r} must hold dates (as in training) but data row {position + 1} "
            f"holds {value!r}"
        )
    return converted


def _source_of(name: str, columns: list[str]) -> str:
    for suffix in ("__missing", *(f"__{p}" for p in DATETIME_PARTS)):
        if name.endswith(suffix) and name[: -len(suffix)] in columns:
            return name[: -len(suffix)]
    return name
