"""``tailorkit init maintenance`` and the offline demo (a simulated fleet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tailorkit.data.simulators.fleet import failure_log, simulate_fleet
from tailorkit.solutions.base import require_columns, require_options, table_columns


def init_template(name: str, options: dict[str, Any]) -> str:
    """A commented ``tailorkit.yaml`` (``--sensors``, ``--asset-col``, ``--time-col``)."""
    require_options("maintenance", options, "sensors", "asset_col", "time_col")
    sensors, asset, time = options["sensors"], options["asset_col"], options["time_col"]
    failures = options.get("failures")
    columns = table_columns(sensors)
    named = {"--asset-col": asset, "--time-col": time}
    require_columns(sensors, columns, named)
    if failures:  # the failures log shares the readings' asset and time columns
        require_columns(failures, table_columns(failures), named)
    settings = [c for c in columns if "setting" in c.lower()]
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
    folder.mkdir(parents=True, exist_ok=True)
    readings = simulate_fleet(40, mean_life=120, conditions=1, random_state=0)
    readings.to_csv(folder / "readings.csv", index=False)
    failure_log(readings).to_csv(folder / "failures.csv", index=False)
    spec = folder / "tailorkit.yaml"
    spec.write_text(DEMO_SPEC)
    return spec, f"simulated fleet, 40 assets, {len(readings)} readings"
