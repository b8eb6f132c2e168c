"""Validation and cleaning of one readings table: required columns, numeric sensors and time,
sorted time steps, duplicates, gaps and NaN bursts, each reported in a ``ReadingsCheck``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.errors import DataError

GAP_FACTOR = 1.5  # a step this many times the usual step counts as a gap


@dataclass
class ReadingsCheck:
    """What ``check_readings`` found and fixed, for warnings and the report."""

    warnings: list[str] = field(default_factory=list)
    unsorted_assets: list[str] = field(default_factory=list)
    duplicates_dropped: int = 0
    gaps: dict[str, int] = field(default_factory=dict)
    filled_values: dict[str, int] = field(default_factory=dict)
    longest_nan_burst: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "unsorted_assets": self.unsorted_assets[:20],
            "duplicates_dropped": self.duplicates_dropped,
            "assets_with_gaps": dict(list(self.gaps.items())[:20]),
            "filled_values": self.filled_values,
            "longest_nan_burst": self.longest_nan_burst,
        }


def check_readings(
    frame: pd.DataFrame,
    *,
    asset: str,
    time: str,
    sensors: list[str],
    source: str = "readings",
) -> tuple[pd.DataFrame, ReadingsCheck]:
    """Validate and clean one readings table; returns it sorted by asset and time."""
    found = ReadingsCheck()
    _require_columns(frame, [asset, time, *sensors], source)
    if frame.empty:
        raise DataError(f"{source}: the table has no rows")
    frame = frame[[asset, time, *sensors]].copy()
    frame.index = pd.RangeIndex(len(frame))
    if frame[asset].isna().any():
        row = int(np.flatnonzero(frame[asset].isna().to_numpy())[0]) + 1
        raise DataError(f"{source}: row {row}: column '{asset}' (the asset id) is empty")
    frame[asset] = frame[asset].astype(str)
    frame[time] = _numeric_time(frame[time], time, source)
    for column in sensors:
        frame[column] = _numeric_column(frame[column], column, source)
    frame = _sorted(frame, asset, time, source, found)
    frame = _deduplicated(frame, asset, time, sensors, source, found)
    _flag_gaps(frame, asset, time, source, found)
    frame = _filled(frame, asset, sensors, source, found)
    return frame.reset_index(drop=True), found


def _require_columns(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: column(s) {', '.join(map(repr, missing))} not found; "
            f"the table has {', '.join(map(str, list(frame.columns)[:15]))}"
        )


def _numeric_time(values: pd.Series, column: str, source: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return (values - values.min()).dt.total_seconds()
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna()
    if bad.any():
        parsed = pd.to_datetime(values, errors="coerce")
        if parsed.notna().all():
            return (parsed - parsed.min()).dt.total_seconds()
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise DataError(
            f"{source}: row {row}: column '{column}' (time) must be a number or a date "
            f"(got {values.iloc[row - 1]!r})"
        )
    return numbers.astype(float)


def _numeric_column(values: pd.Series, column: str, source: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise DataError(
            f"{source}: row {row}: sensor column '{column}' must be numeric "
            f"(got {values.iloc[row - 1]!r})"
        )
    return numbers.astype(float)


def _sorted(
    frame: pd.DataFrame, asset: str, time: str, source: str, found: ReadingsCheck
) -> pd.DataFrame:
    steps = frame.groupby(asset, sort=False)[time].diff()
    backwards = frame.loc[steps < 0, asset].unique().tolist()
    if backwards:
        found.unsorted_assets = [str(a) for a in backwards]
        found.warnings.append(
            f"{source}: time steps of {len(backwards)} asset(s) were not in order "
            f"(first: asset {backwards[0]!r}); the readings were sorted by '{time}'"
        )
    return frame.sort_values([asset, time], kind="stable")


def _deduplicated(
    frame: pd.DataFrame,
    asset: str,
    time: str,
    sensors: list[str],
    source: str,
    found: ReadingsCheck,
) -> pd.DataFrame:
    repeated = frame.duplicated([asset, time], keep=False)
    if not repeated.any():
        return frame
    exact = frame.duplicated([asset, time, *sensors], keep="first")
    frame = frame.loc[~exact]
    found.duplicates_dropped = int(exact.sum())
    clash = frame.duplicated([asset, time], keep=False)
    if clash.any():
        rows = frame.index[clash.to_numpy()][:2] + 1
        first = frame.loc[clash].iloc[0]
        raise DataError(
            f"{source}: rows {rows[0]} and {rows[1]}: asset {first[asset]!r} has two different "
            f"readings at {time} {first[time]:g}; keep one of them"
        )
    found.warnings.append(
        f"{source}: {found.duplicates_dropped} duplicated reading(s) (same asset, time and "
        "values) were dropped"
    )
    return frame


def _flag_gaps(
    frame: pd.DataFrame, asset: str, time: str, source: str, found: ReadingsCheck
) -> None:
    steps = frame.groupby(asset, sort=False)[time].diff()
    usual = steps[steps > 0].median()
    if not np.isfinite(usual):
        return
    gap = steps > GAP_FACTOR * usual
    if gap.any():
        counts = frame.loc[gap, asset].value_counts()
        found.gaps = {str(k): int(v) for k, v in counts.items()}
        first = frame.index[gap.to_numpy()][0]
        found.warnings.append(
            f"{source}: {int(gap.sum())} gap(s) in time across {len(counts)} asset(s) (first: "
            f"asset {frame.at[first, asset]!r} jumps to {time} {frame.at[first, time]:g}, the "
            f"usual step is {usual:g}); windows span the gaps as consecutive readings"
        )


def _filled(
    frame: pd.DataFrame, asset: str, sensors: list[str], source: str, found: ReadingsCheck
) -> pd.DataFrame:
    missing = frame[sensors].isna()
    if not missing.to_numpy().any():
        return frame
    found.filled_values = {c: int(n) for c, n in missing.sum().items() if n}
    found.longest_nan_burst = _longest_run(missing, frame[asset])
    grouped = frame.groupby(asset, sort=False)[sensors]
    frame[sensors] = grouped.ffill()
    frame[sensors] = frame[sensors].fillna(frame.groupby(asset, sort=False)[sensors].bfill())
    empty = [c for c in sensors if frame[c].isna().all()]
    if empty:
        raise DataError(f"{source}: sensor column(s) {', '.join(map(repr, empty))} are all empty")
    total = sum(found.filled_values.values())
    found.warnings.append(
        f"{source}: {total} missing sensor value(s) in {len(found.filled_values)} column(s) "
        f"(longest run {found.longest_nan_burst} readings) were filled with the asset's last "
        "known value"
    )
    return frame


def _longest_run(missing: pd.DataFrame, assets: pd.Series) -> int:
    longest = 0
    new_asset = (assets != assets.shift()).to_numpy()
    for column in missing.columns:
        values = missing[column].to_numpy()
        if not values.any():
            continue
        breaks = ~values | new_asset
        run_id = np.cumsum(breaks)
        lengths = np.bincount(run_id[values])
        longest = max(longest, int(lengths.max()))
    return longest
