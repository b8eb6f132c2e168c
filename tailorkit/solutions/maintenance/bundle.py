"""The registered maintenance model: normalizer, RUL model, anomaly detector and policy, as one
folder (``maintenance.json`` + ``rul/`` + ``anomaly/``), and per-asset forecasts from readings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.data.sensors import (
    LifeContext,
    SensorNormalizer,
    check_readings,
    convert_units,
    sliding_windows,
)
from tailorkit.errors import DataError, RegistryError
from tailorkit.evaluate.maintenance_policy import rul_quantile
from tailorkit.models import load_model
from tailorkit.models.sensor_base import WindowModel

BUNDLE_FILE = "maintenance.json"
FORECAST_COLUMNS = (
    "rul",
    "rul_low",
    "rul_high",
    "failure_probability",
    "anomaly_score",
)


class MaintenanceBundle:
    """Everything ``tailorkit predict`` and ``Monitor`` need, loaded from JSON and weights."""

    def __init__(
        self,
        config: dict[str, Any],
        normalizer: SensorNormalizer,
        model: WindowModel,
        detector: WindowModel | None,
        ref: str = "",
        context: LifeContext | None = None,
    ):
        self.config = config
        self.normalizer = normalizer
        self.context = context
        self.model = model
        self.detector = detector
        self.ref = ref

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save(path / "rul")
        if self.detector is not None:
            if self.detector is self.model:
                self.config["anomaly_model"] = "rul"
            else:
                self.detector.save(path / "anomaly")
                self.config["anomaly_model"] = "anomaly"
        else:
            self.config["anomaly_model"] = None
        document = {
            **self.config,
            "normalizer": self.normalizer.to_dict(),
            "life_context": self.context.to_dict() if self.context is not None else None,
        }
        (path / BUNDLE_FILE).write_text(json.dumps(document, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path, ref: str = "") -> MaintenanceBundle:
        path = Path(path)
        if not (path / BUNDLE_FILE).exists():
            raise RegistryError(f"{path} is not a maintenance model (no {BUNDLE_FILE})")
        config = json.loads((path / BUNDLE_FILE).read_text())
        normalizer = SensorNormalizer.from_dict(config.pop("normalizer"))
        context = config.pop("life_context", None)
        context = LifeContext.from_dict(context) if context else None
        model = load_model(path / "rul")
        detector = None
        if config.get("anomaly_model") == "rul":
            detector = model
        elif config.get("anomaly_model"):
            detector = load_model(path / config["anomaly_model"])
        return cls(config, normalizer, model, detector, ref, context)

    @classmethod
    def from_version(cls, version) -> MaintenanceBundle:
        return cls.load(version.path, f"{version.project}:{version.version}")

    # --------------------------------------------------------------- columns
    @property
    def needed_columns(self) -> list[str]:
        return list(self.normalizer.kept_) + list(self.normalizer.settings)

    def require_columns(self, columns, source: str) -> None:
        missing = [c for c in self.needed_columns if c not in columns]
        for column in (self.config["asset"], self.config["time"]):
            if column not in columns:
                missing.insert(0, column)
        if missing:
            raise DataError(
                f"{source}: column(s) {', '.join(map(repr, missing))} that model {self.ref} "
                "needs are missing; add them (the sensors it was trained on)"
            )

    # -------------------------------------------------------------- forecast
    def forecast_windows(self, windows: np.ndarray) -> dict[str, np.ndarray]:
        """RUL distribution, failure probability and anomaly score for each window."""
        out = self.model.predict_distribution(windows)
        if self.detector is not None:
            error = self.detector.anomaly_error(windows)
            out["anomaly_score"] = error / max(self.detector.healthy_q99_, 1e-12)
        else:
            out["anomaly_score"] = np.full(len(windows), np.nan)
        return out

    def maintain_by(self, times: np.ndarray, forecast: dict[str, np.ndarray]) -> np.ndarray:
        policy = self.config["policy"]
        if not policy:
            return np.full(len(times), np.nan)
        quantile = rul_quantile(
            forecast["rul_low"], forecast["rul"], forecast["rul_high"], policy["alpha"]
        )
        return np.maximum(times + quantile - policy["offset"], times)

    def alerts(self, forecast: dict[str, np.ndarray]) -> np.ndarray:
        """Which thresholds each forecast crosses, as ``;``-joined names ('' for none)."""
        thresholds = self.config["alerts"]
        reasons = []
        for i in range(len(forecast["rul"])):
            hit = []
            if forecast["rul"][i] <= thresholds["rul_below"]:
                hit.append("rul")
            if forecast["failure_probability"][i] >= thresholds["failure_probability_above"]:
                hit.append("failure_probability")
            if forecast["anomaly_score"][i] >= thresholds["anomaly_above"]:
                hit.append("anomaly")
            reasons.append(";".join(hit))
        return np.array(reasons, dtype=object)

    def prepare(self, frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[str]]:
        """Checked, unit-converted readings (sorted); returns them with the warnings."""
        self.require_columns(frame.columns, source)
        frame, _ = convert_units(frame, self.config.get("units", {}), "model")
        readings, check = check_readings(
            frame,
            asset=self.config["asset"],
            time=self.config["time"],
            sensors=self.needed_columns,
            source=source,
        )
        return readings, check.warnings

    def forecast_assets(
        self, frame: pd.DataFrame, source: str = "readings"
    ) -> tuple[pd.DataFrame, list[str]]:
        """One row per asset at its last reading: RUL band, failure probability, anomaly."""
        readings, warnings = self.prepare(frame, source)
        asset, time = self.config["asset"], self.config["time"]
        values = self.normalizer.transform(readings, source)
        if self.context is not None:
            values = self.context.transform(
                values, readings[time].to_numpy(float), readings[asset].to_numpy()
            )
        windows = sliding_windows(
            values, readings[asset].to_numpy(), self.config["window"], last_only=True
        )
        forecast = self.forecast_windows(windows.values)
        times = readings[time].to_numpy(float)[windows.end]
        counts = readings.groupby(asset, sort=False).size()
        out = pd.DataFrame({asset: windows.asset, time: times})
        out["readings"] = counts.loc[windows.asset].to_numpy()
        for column in FORECAST_COLUMNS:
            out[column] = np.round(forecast[column], 4)
        out["padded"] = windows.padded
        out["maintain_by"] = np.round(self.maintain_by(times, forecast), 2)
        out["alerts"] = self.alerts(forecast)
        if windows.padded.any():
            warnings.append(
                f"{source}: {int(windows.padded.sum())} asset(s) have fewer than "
                f"{self.config['window']} readings; their windows were padded with the first "
                "reading (column 'padded'); treat those forecasts with care"
            )
        return out, warnings
