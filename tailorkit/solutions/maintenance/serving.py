"""Serving a maintenance version: streamed readings per asset in, updated forecast out."""

from __future__ import annotations

import math
import threading
from typing import Any

from tailorkit.registry import ModelVersion
from tailorkit.solutions.maintenance.bundle import MaintenanceBundle
from tailorkit.solutions.maintenance.monitor import Monitor
from tailorkit.solutions.serving import ServingAdapter


class MaintenanceAdapter(ServingAdapter):
    """Streaming readings per asset: updated RUL with its band, failure probability,
    anomaly score and newly crossed alerts (``Monitor`` state lives with the version)."""

    kinds = frozenset({"monitor"})

    def __init__(self, version: ModelVersion, solution: str) -> None:
        super().__init__(version, solution)
        self.monitor_state = Monitor(MaintenanceBundle.from_version(version))
        self.lock = threading.Lock()

    def monitor(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:  # readings of one asset must be applied in order
            updates = [
                self.monitor_state.update(request["asset"], reading)
                for reading in request["readings"]
            ]
        latest = {  # JSON has no NaN/inf: a value the model cannot give is null
            k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in updates[-1].items()
        }
        latest["alerts"] = sorted({a for u in updates for a in u["alerts"]})
        return {**latest, "readings": len(updates)}
