"""Event timestamps as seconds since the epoch: epoch numbers in s, ms, µs or ns (each value
on its own) or date strings in any mix of formats."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tailorkit.errors import DataError

_EPOCH_UNITS = ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3))  # magnitude -> divisor to seconds


def parse_timestamps(values: pd.Series, source: str, column: str) -> np.ndarray:
    """Seconds since the epoch from epoch numbers (s, ms, µs, ns) or date strings in any
    mix of formats; a value that is neither is a DataError naming its row."""
    if values.isna().any():
        row = int(np.argmax(values.isna().to_numpy())) + 2
        raise DataError(f"{source} row {row}: column '{column}' has no timestamp")
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values, utc=True)
        return stamps.astype("int64").to_numpy() / 1e9 * _ns_scale(stamps)
    numeric = pd.to_numeric(values, errors="coerce")
    out = np.full(len(values), np.nan)
    is_number = numeric.notna().to_numpy()
    if is_number.any():
        out[is_number] = _epoch_seconds(numeric[is_number].to_numpy(np.float64))
    if (~is_number).any():
        text = values[~is_number].astype(str)
        parsed = pd.to_datetime(text, format="mixed", utc=True, errors="coerce")
        bad = parsed.isna().to_numpy()
        if bad.any():
            position = np.flatnonzero(~is_number)[np.argmax(bad)]
            raise DataError(
                f"{source} row {position + 2}: column '{column}' value "
                f"{values.iloc[position]!r} is not a date or epoch timestamp"
            )
        seconds = (parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
        out[~is_number] = seconds.to_numpy(np.float64)
    return out


def _ns_scale(stamps: pd.Series) -> float:
    unit = getattr(stamps.dtype, "unit", "ns")
    return {"s": 1e9, "ms": 1e6, "us": 1e3, "ns": 1.0}[unit]


def _epoch_seconds(numbers: np.ndarray) -> np.ndarray:
    """Epoch numbers in seconds; values in ms/µs/ns are recognised by their magnitude
    (each value on its own, so a column mixing units still parses)."""
    out = numbers.astype(np.float64).copy()
    size = np.abs(out)
    for magnitude, divisor in _EPOCH_UNITS:
        big = size >= magnitude
        out[big] = out[big] / divisor
        size[big] = 0.0
    return out
