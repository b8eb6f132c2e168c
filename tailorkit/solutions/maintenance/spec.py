"""The maintenance spec: readings (+ failures), tasks, models, costs, alert thresholds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from tailorkit.data.sensors import UNITS
from tailorkit.spec import ModelEntry, SpecBase, _Strict

# the spec's model names -> the catalogue's families
MODEL_FAMILIES = {
    "lightgbm": "sensor_lightgbm",
    "lstm": "sensor_lstm",
    "cnn": "sensor_cnn",
    "transformer": "sensor_transformer",
}
METRICS = (
    "rmse",
    "mae",
    "phm08_score",
    "rmse_all_windows",
    "band_coverage",
    "pr_auc",
    "roc_auc",
    "f1",
    "precision",
    "recall",
    "alert_lead_time",
    "failures_alerted",
    "anomaly_auroc",
    "policy_cost_rate",
    "policy_saving_vs_fixed",
    "fit_seconds",
    "predict_ms_per_1000",
)
DEFAULTS: dict[str, Any] = {"models": list(MODEL_FAMILIES)}


class MaintenanceData(_Strict):
    sensors: str = Field(description="readings table: one row per asset and time step")
    asset: str = Field(description="asset id column")
    time: str = Field(description="time or cycle column (numbers)")
    table: str | None = None
    encoding: str = "utf-8"
    columns: list[str] = Field([], description="sensor columns (default: every numeric one)")
    settings: list[str] = Field([], description="operating-setting columns")
    units: dict[str, str] = Field({}, description="sensor -> unit; mixed units are converted")
    failures: str | None = Field(None, description="failures / maintenance log table")
    event_column: str = "event"
    run_to_failure: bool = Field(
        False, description="without failures: each asset's last reading is its failure"
    )

    @field_validator("units")
    @classmethod
    def _known_units(cls, value: dict[str, str]) -> dict[str, str]:
        for sensor, unit in value.items():
            if unit not in UNITS:
                raise ValueError(
                    f"sensor '{sensor}' has unknown unit {unit!r}; known: {', '.join(UNITS)}"
                )
        return value


class Tasks(_Strict):
    window: int = Field(30, ge=2, le=512)
    rul_cap: float = Field(125.0, gt=0)
    horizon: float = Field(30.0, gt=0, description="failure within this many time steps")
    train_stride: int = Field(1, ge=1, description="train on every k-th window")
    life_context: bool = Field(
        True,
        description="add each sensor's drift from the life's first `window` readings and the "
        "life's age; turn off when records start mid-life rather than at install/maintenance",
    )


class MaintenanceEvaluation(_Strict):
    validation_fraction: float = Field(0.25, gt=0.0, lt=0.9)
    seed: int = 0
    metric: str = "rmse"
    cuts_per_asset: int = Field(3, ge=1, le=100)
    pretraining_ablation: bool | list[str] = True


class MaintenanceCosts(_Strict):
    unplanned_failure: float = Field(100.0, ge=0)
    planned_maintenance: float = Field(20.0, ge=0)
    downtime_per_cycle: float = Field(1.0, ge=0)
    planned_downtime: float = Field(2.0, ge=0)
    unplanned_downtime: float = Field(10.0, ge=0)


class Alerts(_Strict):
    rul_below: float = 20.0
    failure_probability_above: float = Field(0.5, ge=0, le=1)
    anomaly_above: float = Field(1.0, gt=0)


class MaintenanceSpec(SpecBase):
    """The maintenance spec: readings (+ failures), tasks, models, costs, alert thresholds."""

    solution: Literal["maintenance"]
    data: MaintenanceData
    tasks: Tasks = Tasks()
    models: list[ModelEntry | str] = []
    ensemble: bool = True
    evaluation: MaintenanceEvaluation = MaintenanceEvaluation()
    costs: MaintenanceCosts = MaintenanceCosts()
    costs_horizon: float = Field(1000.0, gt=0, description="time steps per asset for totals")
    alerts: Alerts = Alerts()

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: list) -> list:
        for entry in value:
            family = entry if isinstance(entry, str) else entry.family
            if family not in MODEL_FAMILIES and family not in MODEL_FAMILIES.values():
                raise ValueError(
                    f"unknown model {family!r}; choose from {', '.join(MODEL_FAMILIES)}"
                )
        return value

    @field_validator("evaluation")
    @classmethod
    def _known_metric(cls, value: MaintenanceEvaluation) -> MaintenanceEvaluation:
        if value.metric not in METRICS:
            raise ValueError(f"metric {value.metric!r} is not one of {', '.join(METRICS)}")
        return value

    def model_entries(self) -> list[ModelEntry]:
        """The candidates, their families as the catalogue names them (``lstm`` is the
        catalogue's ``sensor_lstm``)."""
        entries = [
            m if isinstance(m, ModelEntry) else ModelEntry(name=m, family=m) for m in self.models
        ]
        return [
            e.model_copy(update={"family": MODEL_FAMILIES.get(e.family, e.family)}) for e in entries
        ]
