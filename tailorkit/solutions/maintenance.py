"""Predictive maintenance: sensor readings per asset in; remaining useful life with a band,
failure probability within a horizon, an anomaly score and when to maintain out.

Defaults: windows of 30 readings, RUL capped at 125, LightGBM on window features beside an
LSTM, a 1-D CNN and a transformer encoder (each pretrained on masked sensor segments, with
the no-pretraining ablation), their equal-weight ensemble; grouped holdout by asset; the
maintenance policy chosen from the predicted RUL distribution under the spec's costs.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Literal

from pydantic import Field, field_validator

from tailorkit.data.sensors import UNITS
from tailorkit.solutions import require_options
from tailorkit.spec import ModelEntry, SpecBase, _Strict

MODEL_FAMILIES = ("lightgbm", "lstm", "cnn", "transformer")
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
HEADLINE = "rmse"
BOARD_COLUMNS = {
    "model": "model",
    "rmse": "RMSE",
    "phm08_score": "PHM08",
    "rmse_all_windows": "RMSE all",
    "band_coverage": "band",
    "pr_auc": "PR-AUC",
    "f1": "F1",
    "fit_seconds": "fit s",
}


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
            if family not in MODEL_FAMILIES:
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
        return [
            m if isinstance(m, ModelEntry) else ModelEntry(name=m, family=m) for m in self.models
        ]


SPEC = MaintenanceSpec
COMMANDS: tuple = ()
DEFAULTS: dict[str, Any] = {"models": list(MODEL_FAMILIES)}


def init_template(name: str, options: dict[str, Any]) -> str:
    """A commented ``tailorkit.yaml`` (``--sensors``, ``--asset-col``, ``--time-col``)."""
    require_options("maintenance", options, "sensors", "asset_col", "time_col")
    sensors, asset, time = options["sensors"], options["asset_col"], options["time_col"]
    failures = options.get("failures")
    settings = _setting_columns(sensors)
    failures_line = (
        f"failures: {failures}          # asset, time and event (failure | maintenance)"
        if failures
        else "# failures: data/failures.csv   # asset, time, event (failure | maintenance)"
    )
    return f"""\
# tailorkit project spec. Check it with `tailorkit validate --show`, train with `tailorkit run`.
name: {name}
solution: maintenance

data:
  sensors: {sensors}         # one row per asset and time step (CSV, Parquet, SQL URL, ...)
  asset: {asset}
  time: {time}
  {failures_line}
  run_to_failure: {"false" if failures else "true"}   # true: last reading of an asset = failure
  settings: [{", ".join(settings)}]    # operating settings (conditions are found by clustering)
  # columns: [s1, s2]          # sensor columns (default: every other numeric column)
  # units: {{T24: degF, T30: K}}   # sensors of one quantity in mixed units are converted

tasks:
  window: 30                   # readings per window
  rul_cap: 125                 # piecewise-linear RUL target capped here
  horizon: 30                  # failure-within-horizon classification
  life_context: true           # + each sensor's drift from the life's first `window` readings
                               #   and the life's age; false when records start mid-life

# models: [lightgbm, lstm, cnn, transformer]   # sequence models pretrain on masked segments
# ensemble: true

evaluation:
  validation_fraction: 0.25    # assets held out (grouped: no asset on both sides)
  seed: 0
  metric: rmse

costs:                         # the maintenance policy minimizes the long-run cost
  unplanned_failure: 100
  planned_maintenance: 20
  downtime_per_cycle: 1
  planned_downtime: 2          # time steps a planned maintenance takes
  unplanned_downtime: 10       # time steps a repair after failure takes

alerts:                        # Monitor.update and predictions flag these
  rul_below: 20
  failure_probability_above: 0.5
  anomaly_above: 1.0           # 1.0 = the 99th percentile of healthy early-life windows

requirements:                  # checked after every run; the champion moves only when all pass
  - rmse <= 40
"""


def _setting_columns(path: str) -> list[str]:
    """Columns that look like operating settings, read from the file's header if possible."""
    try:
        from tailorkit.data.io import read_table

        columns = read_table(path, base_dir=Path.cwd()).columns
    except Exception:  # the template still works without a readable file
        return []
    return [str(c) for c in columns if "setting" in str(c).lower()]


DEMO_SPEC = """\
# tailorkit demo: a simulated fleet wearing out (tailorkit/data/simulators/fleet.py):
# operating settings, noisy sensors (one constant, two in mixed units), exponential wear,
# failures. Small model settings so that it runs in about two minutes on two cores.
name: fleet-demo
solution: maintenance
data:
  sensors: readings.csv
  asset: asset_id
  time: cycle
  failures: failures.csv
  settings: [setting_1, setting_2, setting_3]
  units: {temp_k: K, temp_f: degF}
tasks:
  window: 20
  rul_cap: 100
  horizon: 20
  train_stride: 2
models:
  - lightgbm
  - {name: cnn, family: cnn, params: {max_epochs: 12, pretrain_epochs: 3, channels: 16}}
  - {name: lstm, family: lstm, params: {max_epochs: 8, pretrain_epochs: 2, hidden: 24, layers: 1}}
  - {name: transformer, family: transformer, params: {max_epochs: 10, pretrain_epochs: 3}}
evaluation:
  validation_fraction: 0.25
  seed: 0
  pretraining_ablation: [transformer]
requirements:
  - rmse <= 30
  - policy_saving_vs_fixed >= 0
"""


def demo_project(folder: Path) -> tuple[Path, str]:
    """The demo: a simulated fleet of 40 assets run to failure (documented simulator)."""
    from tailorkit.data.simulators.fleet import failure_log, simulate_fleet

    folder.mkdir(parents=True, exist_ok=True)
    readings = simulate_fleet(40, mean_life=120, conditions=1, random_state=0)
    readings.to_csv(folder / "readings.csv", index=False)
    failure_log(readings).to_csv(folder / "failures.csv", index=False)
    spec = folder / "tailorkit.yaml"
    spec.write_text(DEMO_SPEC)
    return spec, f"simulated fleet, 40 assets, {len(readings)} readings"


def describe_data(spec: MaintenanceSpec, base_dir: Path) -> tuple[list[str], str]:
    from tailorkit.solutions.maintenance_data import load_fleet

    fleet = load_fleet(spec, base_dir)
    summary = fleet.summary()
    text = (
        f"data: {summary['rows']} readings, {summary['assets']} assets, "
        f"{summary['failed_lives']} lives ending in failure, {summary['sensors']} sensors"
    )
    return fleet.warnings, text


def train(project, registry, run_id: int, say):
    """Grouped split, candidates, C-MAPSS-style evaluation, policy, gates, register, report."""
    from tailorkit.solutions.maintenance_train import run_maintenance

    return run_maintenance(project, registry, run_id, say)


def predict_file(version, source: str, handle: IO[str], chunk_rows: int, warn) -> int:
    """One row per asset at its last reading: RUL band, failure probability, anomaly, policy."""
    from tailorkit.data.io import read_table
    from tailorkit.errors import DataError
    from tailorkit.solutions.maintenance_bundle import MaintenanceBundle

    bundle = MaintenanceBundle.from_version(version)
    frame = read_table(source, base_dir=Path.cwd())
    try:
        forecast, warnings = bundle.forecast_assets(frame, source)
    except DataError as error:
        message = str(error)
        raise DataError(message if message.startswith(source) else f"{source}: {message}") from None
    for warning in warnings:
        warn(warning)
    forecast.to_csv(handle, index=False)
    return len(forecast)
