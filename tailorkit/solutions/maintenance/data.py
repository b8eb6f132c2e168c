"""Maintenance data: the spec's sensor and failure tables as checked, labeled readings per life."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.data.io import read_table
from tailorkit.data.sensors import (
    ReadingsCheck,
    check_readings,
    convert_units,
    life_ids,
    remaining_life,
)
from tailorkit.errors import DataError

EVENT_KINDS = ("failure", "maintenance")


@dataclass
class FleetData:
    """Checked readings (sorted by asset, time) with one life id and RUL label per row."""

    readings: pd.DataFrame
    sensors: list[str]
    settings: list[str]
    lives: np.ndarray
    rul: np.ndarray  # uncapped; NaN where the life did not end in a failure
    failed: np.ndarray
    check: ReadingsCheck
    warnings: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def failure_time(self) -> dict[str, float]:
        times = self.readings[self.time_column].to_numpy(float)
        known = ~np.isnan(self.rul)
        ends = pd.Series(times[known] + self.rul[known]).groupby(self.lives[known]).first()
        return {str(k): float(v) for k, v in ends.items()}

    time_column: str = ""

    def summary(self) -> dict[str, Any]:
        lives = pd.Series(self.lives)
        failed_lives = lives[self.failed].nunique()
        return {
            "source": self.source,
            "rows": int(len(self.readings)),
            "assets": int(self.readings.iloc[:, 0].nunique()),
            "lives": int(lives.nunique()),
            "failed_lives": int(failed_lives),
            "sensors": len(self.sensors),
            "settings": self.settings,
            "life_length_median": float(lives.value_counts().median()),
            "checks": self.check.to_dict(),
        }


def sensor_columns(frame: pd.DataFrame, data) -> list[str]:
    """The spec's sensors, or every numeric column except asset, time and settings."""
    if data.columns:
        return list(data.columns)
    excluded = {data.asset, data.time, *data.settings}
    return [
        c for c in frame.columns if c not in excluded and pd.api.types.is_numeric_dtype(frame[c])
    ]


def load_fleet(spec, base_dir: Path, *, path: str | None = None) -> FleetData:
    """Read, check, convert and label the readings named in the spec (or ``path``)."""
    data = spec.data
    source = path or data.sensors
    frame = read_table(source, table=data.table, encoding=data.encoding, base_dir=base_dir)
    sensors = sensor_columns(frame, data)
    if not sensors:
        raise DataError(
            f"{source}: no numeric sensor columns besides '{data.asset}', '{data.time}'"
        )
    frame, unit_notes = convert_units(frame, dict(data.units), "spec")
    readings, check = check_readings(
        frame,
        asset=data.asset,
        time=data.time,
        sensors=sensors + list(data.settings),
        source=source,
    )
    events = load_events(spec, base_dir) if path is None else None
    if path is None and events is None and not data.run_to_failure:
        raise DataError(
            "no failure labels: add `data.failures` (a table of asset, time, event) or set "
            "`data.run_to_failure: true` when every asset's last reading is its failure"
        )
    lives = life_ids(readings, data.asset, data.time, events)
    rul, failed = remaining_life(
        readings, data.asset, data.time, lives, events, run_to_failure=data.run_to_failure
    )
    fleet = FleetData(
        readings=readings,
        sensors=sensors,
        settings=list(data.settings),
        lives=lives,
        rul=rul,
        failed=failed,
        check=check,
        warnings=list(check.warnings) + unit_notes,
        source=source,
        time_column=data.time,
    )
    return fleet


def load_events(spec, base_dir: Path) -> pd.DataFrame | None:
    """The failures / maintenance log as ``asset, time, event`` rows (None when absent)."""
    data = spec.data
    if not data.failures:
        return None
    frame = read_table(data.failures, encoding=data.encoding, base_dir=base_dir)
    missing = [c for c in (data.asset, data.time) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{data.failures}: column(s) {', '.join(map(repr, missing))} not found; the "
            "failures table needs the same asset and time columns as the readings"
        )
    if data.event_column not in frame.columns and "event_column" in data.model_fields_set:
        raise DataError(
            f"{data.failures}: column '{data.event_column}' (data.event_column) not found; "
            f"columns: {', '.join(map(str, frame.columns))}"
        )
    events = pd.DataFrame(
        {
            "asset": frame[data.asset].astype(str),
            "time": pd.to_numeric(frame[data.time], errors="coerce"),
            "event": (
                frame[data.event_column].astype(str).str.strip().str.lower()
                if data.event_column in frame.columns
                else "failure"
            ),
        }
    )
    if events["time"].isna().any():
        row = int(np.flatnonzero(events["time"].isna().to_numpy())[0]) + 1
        raise DataError(f"{data.failures}: row {row}: column '{data.time}' must be a number")
    unknown = sorted(set(events["event"]) - set(EVENT_KINDS))
    if unknown:
        raise DataError(
            f"{data.failures}: column '{data.event_column}' holds {unknown[:3]}; use "
            f"{' or '.join(EVENT_KINDS)}"
        )
    return events
