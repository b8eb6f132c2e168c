"""Streaming: feed one reading per asset at a time, get the updated forecast and alerts.

    monitor = Monitor.from_registry("fleet@champion", workspace=".tailorkit")
    state = monitor.update("engine-7", {"cycle": 131, "s2": 642.1, ...})
    state["rul"], state["rul_low"], state["rul_high"], state["alerts"]

An alert is raised when a threshold is crossed (RUL falls below ``rul_below``, failure
probability or anomaly score rises above theirs) and reported once, on the reading where it
happens; ``state["alerting"]`` lists every threshold currently crossed. Readings must arrive in
time order per asset; a missing sensor value repeats the asset's last known value.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.data.sensors import convert_units, sliding_windows
from tailorkit.errors import DataError
from tailorkit.registry import Registry
from tailorkit.solutions.maintenance.bundle import MaintenanceBundle


class Monitor:
    """Per-asset buffers of the last ``window`` model inputs over a loaded maintenance model.

    Each reading is normalized (and given its life context: drift from the asset's first
    readings, age) on arrival, so a streamed asset gets the same windows as a batch of its
    readings given to ``tailorkit predict``.
    """

    def __init__(self, bundle: MaintenanceBundle, thresholds: dict[str, float] | None = None):
        self.bundle = bundle
        self.thresholds = {**bundle.config["alerts"], **(thresholds or {})}
        self.window = bundle.config["window"]
        self._buffers: dict[str, deque] = {}
        self._last_row: dict[str, dict[str, float]] = {}
        self._context: dict[str, dict] = {}
        self._last_time: dict[str, float] = {}
        self._alerting: dict[str, set[str]] = {}

    @classmethod
    def from_registry(cls, ref: str, workspace: str | Path = ".tailorkit", **kwargs) -> Monitor:
        version = Registry(workspace).resolve(ref, verify=True)
        return cls(MaintenanceBundle.from_version(version), **kwargs)

    def update(self, asset: Any, reading: dict[str, Any]) -> dict[str, Any]:
        """Add one reading of ``asset``; returns its forecast and newly crossed alerts."""
        asset = str(asset)
        row = self._checked(asset, reading)
        time = float(row[self.bundle.config["time"]])
        values = self.bundle.normalizer.transform(pd.DataFrame([row]), f"asset {asset!r}")[0]
        if self.bundle.context is not None:
            values, self._context[asset] = self.bundle.context.step(
                values, time, self._context.get(asset)
            )
        buffer = self._buffers.setdefault(asset, deque(maxlen=self.window))
        buffer.append(values)
        self._last_row[asset] = row
        windows = sliding_windows(
            np.stack(buffer), np.zeros(len(buffer), int), self.window, last_only=True
        )
        forecast = {k: float(v[0]) for k, v in self.bundle.forecast_windows(windows.values).items()}
        crossed = self._crossed(forecast)
        new = sorted(crossed - self._alerting.get(asset, set()))
        self._alerting[asset] = crossed
        maintain_by = self.bundle.maintain_by(
            np.array([time]), {k: np.array([v]) for k, v in forecast.items()}
        )[0]
        return {
            "asset": asset,
            "time": time,
            **forecast,
            "maintain_by": float(maintain_by),
            "padded": bool(windows.padded[0]),
            "alerts": new,
            "alerting": sorted(crossed),
        }

    def _checked(self, asset: str, reading: dict[str, Any]) -> dict[str, float]:
        config = self.bundle.config
        time_column = config["time"]
        needed = self.bundle.needed_columns
        missing = [c for c in [time_column, *needed] if c not in reading]
        if missing:
            raise DataError(
                f"reading for asset {asset!r} lacks {', '.join(map(repr, missing))}; "
                f"model {self.bundle.ref} needs every sensor it was trained on"
            )
        try:
            time = float(reading[time_column])
        except (TypeError, ValueError):
            raise DataError(
                f"reading for asset {asset!r}: '{time_column}' must be a number "
                f"(got {reading[time_column]!r})"
            ) from None
        last = self._last_time.get(asset)
        if last is not None and time <= last:
            raise DataError(
                f"reading for asset {asset!r} at {time_column} {time:g} is not after the previous "
                f"one ({last:g}); send readings in time order, once each"
            )
        row = {time_column: time}
        for column in needed:
            value = pd.to_numeric(pd.Series([reading[column]]), errors="coerce").iloc[0]
            if pd.isna(value) and reading[column] is not None and not _is_nan(reading[column]):
                raise DataError(
                    f"reading for asset {asset!r}: sensor '{column}' must be numeric "
                    f"(got {reading[column]!r})"
                )
            row[column] = float(value)
        converted, _ = convert_units(pd.DataFrame([row]), config.get("units", {}), "model")
        row = {k: float(v) for k, v in converted.iloc[0].items()}
        previous = self._last_row.get(asset)
        for column in needed:
            if np.isnan(row[column]):
                row[column] = previous[column] if previous else self._training_mean(column)
        self._last_time[asset] = time
        return row

    def _training_mean(self, column: str) -> float:
        normalizer = self.bundle.normalizer
        if column in normalizer.kept_:
            return float(normalizer.mean_[0, normalizer.kept_.index(column)])
        return float(normalizer.settings_mean_[normalizer.settings.index(column)])

    def _crossed(self, forecast: dict[str, float]) -> set[str]:
        crossed = set()
        if forecast["rul"] <= self.thresholds["rul_below"]:
            crossed.add("rul")
        probability = forecast["failure_probability"]
        if (
            not np.isnan(probability)
            and probability >= self.thresholds["failure_probability_above"]
        ):
            crossed.add("failure_probability")
        anomaly = forecast["anomaly_score"]
        if not np.isnan(anomaly) and anomaly >= self.thresholds["anomaly_above"]:
            crossed.add("anomaly")
        return crossed


def _is_nan(value: Any) -> bool:
    try:
        return bool(np.isnan(value))
    except TypeError:
        return False
