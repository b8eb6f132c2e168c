"""The maintenance solution: bad inputs, conditions, a tiny run, predict, Monitor, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tailorkit import load_spec
from tailorkit.data.sensors import LifeContext, SensorNormalizer, check_readings, convert_units
from tailorkit.data.simulators.fleet import failure_log, simulate_fleet, truncate_fleet
from tailorkit.errors import DataError, SpecError
from tailorkit.pipeline import Project
from tailorkit.solutions.maintenance.train import split_assets
from tests.conftest import tk

SENSORS = [f"s{i}" for i in range(1, 12)] + ["temp_k", "temp_f"]
SETTINGS = ["setting_1", "setting_2", "setting_3"]
TINY_MODELS = [
    {"name": "lightgbm", "family": "lightgbm", "params": {"n_estimators": 60}},
    {
        "name": "cnn",
        "family": "cnn",
        "params": {"channels": 8, "layers": 2, "max_epochs": 3, "pretrain_epochs": 2},
    },
]


def fleet_spec(folder: Path, **changes) -> Path:
    spec = {
        "name": "tiny-fleet",
        "solution": "maintenance",
        "data": {
            "sensors": "readings.csv",
            "asset": "asset_id",
            "time": "cycle",
            "failures": "failures.csv",
            "settings": SETTINGS,
            "units": {"temp_k": "K", "temp_f": "degF"},
        },
        "tasks": {"window": 10, "rul_cap": 80, "horizon": 15},
        "models": TINY_MODELS,
        "evaluation": {"cuts_per_asset": 2, "pretraining_ablation": False},
        "requirements": ["rmse <= 60"],
    }
    spec.update(changes)
    path = folder / "tailorkit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fleet")
    readings = simulate_fleet(14, mean_life=70, random_state=2)
    readings.to_csv(folder / "readings.csv", index=False)
    failure_log(readings).to_csv(folder / "failures.csv", index=False)
    result = Project.from_yaml(fleet_spec(folder)).run()
    return folder, result


# ----------------------------------------------------------------------- bad input
def frame_of(rows):
    return pd.DataFrame(rows, columns=["asset", "t", "x", "y"])


def test_unsorted_time_steps_are_sorted_with_a_warning():
    frame = frame_of([["a", 2, 1.0, 2.0], ["a", 1, 0.5, 1.0], ["b", 1, 3.0, 1.0]])
    fixed, found = check_readings(frame, asset="asset", time="t", sensors=["x", "y"])
    assert fixed["t"].tolist() == [1, 2, 1] and fixed["x"].tolist() == [0.5, 1.0, 3.0]
    assert "not in order" in found.warnings[0] and found.unsorted_assets == ["a"]


def test_exact_duplicates_dropped_conflicting_duplicates_are_an_error():
    frame = frame_of([["a", 1, 1.0, 2.0], ["a", 1, 1.0, 2.0], ["a", 2, 1.0, 2.0]])
    fixed, found = check_readings(frame, asset="asset", time="t", sensors=["x", "y"])
    assert len(fixed) == 2 and found.duplicates_dropped == 1
    clash = frame_of([["a", 1, 1.0, 2.0], ["a", 1, 9.0, 2.0]])
    with pytest.raises(DataError, match=r"rows 1 and 2: asset 'a' has two different readings"):
        check_readings(clash, asset="asset", time="t", sensors=["x", "y"], source="r.csv")


def test_gaps_in_time_are_flagged():
    frame = frame_of([["a", t, 1.0, 2.0] for t in (1, 2, 3, 9, 10)])
    _, found = check_readings(frame, asset="asset", time="t", sensors=["x", "y"])
    assert found.gaps == {"a": 1} and "gap" in found.warnings[0]


def test_nan_bursts_are_filled_within_the_asset_and_reported():
    rows = [["a", t, np.nan if 3 <= t <= 6 else float(t), 1.0] for t in range(1, 9)]
    rows += [["b", 1, np.nan, 1.0], ["b", 2, 5.0, 1.0]]
    fixed, found = check_readings(frame_of(rows), asset="asset", time="t", sensors=["x", "y"])
    assert fixed["x"].tolist()[:8] == [1, 2, 2, 2, 2, 2, 7, 8]
    assert fixed["x"].tolist()[8:] == [5.0, 5.0]  # a leading gap is filled backwards
    assert found.longest_nan_burst == 4 and found.filled_values == {"x": 5}


def test_non_numeric_sensor_names_row_and_column():
    frame = frame_of([["a", 1, 1.0, 2.0], ["a", 2, "broken", 2.0]])
    with pytest.raises(DataError, match=r"r.csv: row 2: sensor column 'x' must be numeric"):
        check_readings(frame, asset="asset", time="t", sensors=["x", "y"], source="r.csv")


@pytest.mark.slow
def test_constant_sensor_dropped_and_conditions_found_when_settings_cluster():
    readings = simulate_fleet(6, mean_life=60, conditions=3, random_state=0)
    normalizer = SensorNormalizer(sensors=SENSORS, settings=SETTINGS).fit(readings)
    assert normalizer.dropped_ == ["s11"] and normalizer.n_conditions_ == 3
    z = normalizer.transform(readings)
    assert abs(z.mean()) < 0.05 and np.isfinite(z).all()
    single = SensorNormalizer(sensors=SENSORS, settings=SETTINGS).fit(simulate_fleet(4))
    assert single.n_conditions_ == 1
    restored = SensorNormalizer.from_dict(json.loads(json.dumps(normalizer.to_dict())))
    np.testing.assert_allclose(restored.transform(readings), z)


def test_mixed_units_are_converted_and_unknown_units_rejected(tmp_path: Path):
    frame = pd.DataFrame({"a": [300.0], "b": [80.33]})
    converted, notes = convert_units(frame, {"a": "K", "b": "degF"})
    assert converted["b"].iloc[0] == pytest.approx(300.0, abs=0.01)
    assert "converted from degF to K" in notes[0]
    path = fleet_spec(tmp_path)
    spec = yaml.safe_load(path.read_text())
    spec["data"]["units"]["temp_f"] = "furlongs"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(SpecError, match=r"line \d+: field 'data.units'.*unknown unit 'furlongs'"):
        load_spec(path)


def test_life_context_is_causal_per_life_and_streams_as_it_batches():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(12, 2)).astype(np.float32)
    lives = np.array(["a"] * 7 + ["b"] * 5)
    times = np.r_[np.arange(1, 8), np.arange(10, 15)].astype(float)
    context = LifeContext(baseline=3).fit(times, lives)
    assert context.age_scale_ == 5.0  # median of the lives' spans 6 and 4
    out = context.transform(values, times, lives)
    assert out.shape == (12, 5)
    np.testing.assert_allclose(out[:, :2], values)
    expected_base = [values[:1].mean(0), values[:2].mean(0)] + [values[:3].mean(0)] * 5
    np.testing.assert_allclose(out[:7, 2:4], values[:7] - np.array(expected_base), atol=1e-6)
    second = [values[7:8].mean(0), values[7:9].mean(0)] + [values[7:10].mean(0)] * 3
    np.testing.assert_allclose(out[7:, 2:4], values[7:] - np.array(second), atol=1e-6)
    np.testing.assert_allclose(out[:, 4], (times - np.r_[[1.0] * 7, [10.0] * 5]) / 5.0)
    changed = values.copy()
    changed[5:] += 100.0  # later readings never change earlier rows' context
    np.testing.assert_allclose(context.transform(changed, times, lives)[:5], out[:5])
    state, streamed = None, []
    for i in range(12):
        row, state = context.step(values[i], times[i], None if i == 7 else state)
        streamed.append(row)
    np.testing.assert_allclose(np.array(streamed), out, atol=1e-6)
    assert LifeContext.from_dict(context.to_dict()).age_scale_ == context.age_scale_


@pytest.mark.slow
def test_life_context_channels_follow_the_spec_switch(trained):
    folder, _ = trained
    from tailorkit.solutions.maintenance.data import load_fleet
    from tailorkit.solutions.maintenance.train import Split

    spec, _ = load_spec(folder / "tailorkit.yaml")
    assert spec.tasks.life_context  # on by default
    fleet = load_fleet(spec, folder)
    train, _ = split_assets(fleet, spec)
    normalizer = SensorNormalizer(sensors=fleet.sensors, settings=fleet.settings).fit(
        fleet.readings
    )
    times = fleet.readings["cycle"].to_numpy(float)
    context = LifeContext(baseline=spec.tasks.window).fit(times, fleet.lives)
    plain = Split(fleet, spec, normalizer, None, train).windows.values
    rich = Split(fleet, spec, normalizer, context, train).windows.values
    k = len(normalizer.kept_)
    assert plain.shape[2] == k and rich.shape[2] == 2 * k + 1
    np.testing.assert_array_equal(rich[:, :, :k], plain)
    off = yaml.safe_load((folder / "tailorkit.yaml").read_text())
    off["tasks"]["life_context"] = False
    (folder / "off.yaml").write_text(yaml.safe_dump(off))
    assert not load_spec(folder / "off.yaml")[0].tasks.life_context


def test_grouped_split_has_no_asset_on_both_sides(trained):
    folder, _ = trained
    from tailorkit.solutions.maintenance.data import load_fleet

    spec, _ = load_spec(folder / "tailorkit.yaml")
    train, valid = split_assets(load_fleet(spec, folder), spec)
    assert valid and not set(train) & set(valid)


# --------------------------------------------------------------------- run, predict
def test_run_registers_a_bundle_with_report_policy_and_gates(trained):
    folder, result = trained
    assert result.gates_passed and result.promoted
    board = result.leaderboard.set_index("model")
    assert {"lightgbm", "cnn", "ensemble"} <= set(board.index)
    assert board["phm08_score"].notna().all() and (board["rmse"] < 60).all()
    document = json.loads(result.json_path.read_text())
    assert document["data"]["constant_sensors_dropped"] == ["s11"]
    assert any("converted from degF" in w for w in document["warnings"])
    policies = document["policy"]["policies"]
    assert policies["predictive policy"]["cost_rate"] < policies["run to failure"]["cost_rate"]
    html = result.report_path.read_text()
    assert "Maintenance policy" in html and "data:image/png;base64" in html


def test_predict_per_asset_with_band_probability_anomaly_and_padding(trained):
    folder, result = trained
    from tailorkit.registry import Registry
    from tailorkit.solutions.maintenance.bundle import MaintenanceBundle

    bundle = MaintenanceBundle.from_version(
        Registry(folder / ".tailorkit").resolve(result.model_ref)
    )
    readings, truth = truncate_fleet(
        simulate_fleet(5, mean_life=70, random_state=9), random_state=3
    )
    short = readings[readings["asset_id"] == "A001"].head(4)
    readings = pd.concat([readings[readings["asset_id"] != "A001"], short])
    forecast, warnings = bundle.forecast_assets(readings, "new.csv")
    assert len(forecast) == 5
    assert (forecast["rul_low"] <= forecast["rul"]).all() and (
        forecast["rul"] <= forecast["rul_high"]
    ).all()
    assert forecast["anomaly_score"].notna().all()
    assert forecast["failure_probability"].between(0, 1).all()
    full = forecast.merge(truth, on="asset_id", suffixes=("", "_true"))
    full = full[full["asset_id"] != "A001"]  # cut to 4 readings: its truth no longer holds
    error = full["rul"] - full["rul_true"].clip(upper=80)  # the spec's rul_cap
    assert len(full) == 4 and np.sqrt(np.mean(error**2)) <= 60  # the spec's gate
    assert forecast.set_index("asset_id").loc["A001", "padded"]
    assert any("padded" in w for w in warnings)


def test_sensors_missing_at_predict_time_are_named(trained):
    folder, result = trained
    from tailorkit.registry import Registry
    from tailorkit.solutions.maintenance.bundle import MaintenanceBundle

    bundle = MaintenanceBundle.from_version(
        Registry(folder / ".tailorkit").resolve(result.model_ref)
    )
    readings = simulate_fleet(2, mean_life=40, random_state=1).drop(columns=["s3", "temp_f"])
    with pytest.raises(DataError, match=r"new.csv: column\(s\) 's3', 'temp_f' .* are missing"):
        bundle.forecast_assets(readings, "new.csv")


def test_monitor_streams_readings_and_alerts_once_when_rul_crosses(trained):
    folder, result = trained
    from tailorkit.solutions.maintenance.monitor import Monitor

    monitor = Monitor.from_registry(result.model_ref, workspace=folder / ".tailorkit",
                                    thresholds={"rul_below": 25})  # fmt: skip
    life = simulate_fleet(1, mean_life=70, random_state=11)
    states = [monitor.update("X1", row) for row in life.to_dict(orient="records")]
    assert states[0]["padded"] and not states[-1]["padded"]
    assert states[-1]["rul"] < states[len(states) // 4]["rul"]
    raised = [s for s in states if "rul" in s["alerts"]]
    assert raised and all("rul" in s["alerting"] for s in states[-3:])
    first = states.index(raised[0])
    assert states[first - 1]["rul"] > 25 >= states[first]["rul"]
    with pytest.raises(DataError, match="not after the previous one"):
        monitor.update("X1", life.to_dict(orient="records")[-1])
    with pytest.raises(DataError, match=r"lacks 's2'"):
        monitor.update("X2", {k: v for k, v in life.iloc[0].items() if k != "s2"})
    gap = {**life.iloc[0].to_dict(), "s4": None}
    assert np.isfinite(monitor.update("X3", gap)["rul"])  # a missing value is filled


def test_monitor_streaming_gives_the_batch_forecast(trained):
    folder, result = trained
    from tailorkit.solutions.maintenance.monitor import Monitor

    monitor = Monitor.from_registry(result.model_ref, workspace=folder / ".tailorkit")
    assert monitor.bundle.context is not None  # the default adds drift and age channels
    life = simulate_fleet(1, mean_life=70, random_state=12)
    rows = life.to_dict(orient="records")
    for stop in (10, 45, len(rows)):  # padded, past the baseline, the whole life
        fresh = Monitor.from_registry(result.model_ref, workspace=folder / ".tailorkit")
        states = [fresh.update("Y", row) for row in rows[:stop]]
        batch, _ = monitor.bundle.forecast_assets(life.head(stop), "batch")
        for column in ("rul", "rul_low", "rul_high", "failure_probability", "anomaly_score"):
            assert states[-1][column] == pytest.approx(batch[column].iloc[0], abs=1e-3)


def test_no_failure_labels_is_a_clear_error(tmp_path: Path):
    simulate_fleet(3, mean_life=40).to_csv(tmp_path / "readings.csv", index=False)
    spec = fleet_spec(tmp_path)
    document = yaml.safe_load(spec.read_text())
    del document["data"]["failures"]
    spec.write_text(yaml.safe_dump(document))
    with pytest.raises(DataError, match="no failure labels"):
        Project.from_yaml(spec).run()


def test_a_named_event_column_that_is_missing_is_an_error(tmp_path: Path):
    from tailorkit.solutions.maintenance.data import load_events

    log = failure_log(simulate_fleet(3, mean_life=40)).drop(columns="event")
    log.to_csv(tmp_path / "failures.csv", index=False)
    spec, _ = load_spec(fleet_spec(tmp_path))
    assert (load_events(spec, tmp_path)["event"] == "failure").all()  # default: no column
    path = fleet_spec(tmp_path)
    document = yaml.safe_load(path.read_text())
    document["data"]["event_column"] = "kind"  # named but absent: not every row a failure
    path.write_text(yaml.safe_dump(document))
    spec, _ = load_spec(path)
    with pytest.raises(DataError, match=r"failures.csv: column 'kind' \(data.event_column\)"):
        load_events(spec, tmp_path)


# ------------------------------------------------------------------------------ CLI
@pytest.mark.slow
def test_cli_init_run_predict_end_to_end(tmp_path: Path):
    readings = simulate_fleet(10, mean_life=60, random_state=4)
    readings.to_csv(tmp_path / "readings.csv", index=False)
    new, _ = truncate_fleet(simulate_fleet(3, mean_life=60, random_state=5), random_state=0)
    new.to_csv(tmp_path / "new.csv", index=False)

    def cli(*args):
        return tk(tmp_path, *args, ok=False)

    done = cli("init", "maintenance", "--sensors", "readings.csv", "--asset-col", "asset_id",
               "--time-col", "cycle")  # fmt: skip
    assert done.returncode == 0, done.stderr
    spec = yaml.safe_load((tmp_path / "tailorkit.yaml").read_text())
    assert spec["data"]["settings"] == SETTINGS and spec["data"]["run_to_failure"] is True
    model = "models=[{name: lightgbm, family: lightgbm, params: {n_estimators: 60}}]"
    done = cli("run", "--json", "-q", "--set", model, "--set", "tasks.window=8",
               "--set", "evaluation.cuts_per_asset=1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["best"] == "lightgbm" and summary["leaderboard"][0]["rmse"] > 0
    listed = cli("models").stdout  # the headline metric of a maintenance model is its RMSE
    assert "rmse" in listed and "None" not in listed, listed
    assert "'rmse'" in cli("report").stdout
    done = cli("predict", "new.csv", "--model", f"{summary['model']}", "-o", "out.csv")
    assert done.returncode == 0, done.stderr
    scores = pd.read_csv(tmp_path / "out.csv")
    assert len(scores) == 3 and {"rul", "rul_low", "rul_high", "failure_probability"} <= set(
        scores.columns
    )
    new.drop(columns=["s2"]).to_csv(tmp_path / "bad.csv", index=False)
    done = cli("predict", "bad.csv", "--model", summary["model"])
    assert done.returncode == 2 and "'s2'" in done.stderr and "Traceback" not in done.stderr


def test_profiler_flags_a_failure_mode_column_as_leakage():
    from tailorkit.data.profile import profile_table

    rng = np.random.default_rng(0)
    failed = rng.random(2000) < 0.05
    mode = np.where(failed & (rng.random(2000) < 0.5), 1, 0)
    frame = pd.DataFrame(
        {"torque": rng.normal(40, 5, 2000), "mode_failure": mode, "failure": failed.astype(int)}
    )
    issues = profile_table(frame, target="failure")["issues"]
    flagged = {i["column"] for i in issues if i["kind"] == "leakage"}
    assert flagged == {"mode_failure"}


def test_demo_project_is_valid_and_its_data_loads(tmp_path: Path):
    from tailorkit.solutions.maintenance.solution import SOLUTION

    spec_path, description = SOLUTION.demo_project(tmp_path / "demo")
    spec, _ = load_spec(spec_path)
    warnings, summary = SOLUTION.describe_data(spec, spec_path.parent)
    assert "40 assets" in description and "40 lives ending in failure" in summary
    assert any("converted from degF" in w for w in warnings)


def test_maintenance_log_splits_lives_and_censors_maintained_ones():
    from tailorkit.data.sensors import life_ids, remaining_life

    readings = pd.DataFrame(
        {"asset": ["a"] * 12 + ["b"] * 4, "t": list(range(1, 13)) + [1, 2, 3, 4]}
    )
    events = pd.DataFrame(
        {"asset": ["a", "a"], "time": [5.0, 12.0], "event": ["maintenance", "failure"]}
    )
    lives = life_ids(readings, "asset", "t", events)
    assert list(lives[:6]) == ["a"] * 5 + ["a#1"] and lives[-1] == "b"
    rul, failed = remaining_life(readings, "asset", "t", lives, events, run_to_failure=False)
    assert np.isnan(rul[:5]).all() and not failed[:5].any()  # maintained: censored
    assert list(rul[5:12]) == [6, 5, 4, 3, 2, 1, 0] and failed[5:12].all()
    assert np.isnan(rul[12:]).all()  # asset b is still running


@pytest.mark.slow
def test_default_gate_passes_on_long_run_to_failure_lives(tmp_path: Path, monkeypatch):
    """Lives of 250-500 cycles (like C-MAPSS FD002/FD004's longest), the init template's
    defaults: validation measures what the models are asked to predict, the RUL capped at
    ``rul_cap`` (it used to score capped predictions against the uncapped truth, which no
    model can reach, so the default gate ``rmse <= 40`` failed and no champion was set)."""
    from tailorkit.solutions.maintenance.templates import init_template

    readings = simulate_fleet(16, mean_life=350, random_state=7)
    lives = readings.groupby("asset_id")["cycle"].max()
    assert lives.max() > 400 and lives.min() > 150
    readings.to_csv(tmp_path / "readings.csv", index=False)
    monkeypatch.chdir(tmp_path)
    spec_text = init_template(
        "long-lives", {"sensors": "readings.csv", "asset_col": "asset_id", "time_col": "cycle"}
    )
    assert "rmse <= 40" in spec_text
    (tmp_path / "tailorkit.yaml").write_text(spec_text)
    model = "models=[{name: lightgbm, family: lightgbm, params: {n_estimators: 200}}]"
    result = Project.from_yaml(tmp_path / "tailorkit.yaml", overrides=[model]).run()
    row = result.result["leaderboard"][0]
    assert row["rmse"] <= 40 < row["rmse_uncapped"]  # the uncapped figure is reported beside
    assert result.gates_passed and result.promoted
