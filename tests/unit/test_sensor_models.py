"""Sensor-window models beyond the catalogue's conformance suite: the ensemble's average, the
anomaly head, RUL metrics, the maintenance policy, windows and the inner split."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tailorkit.data.sensors import sliding_windows
from tailorkit.evaluate.maintenance_policy import (
    Costs,
    LifeForecast,
    choose_policy,
    compare_policies,
    rul_quantile,
)
from tailorkit.evaluate.rul_metrics import phm08_score, rul_metrics
from tailorkit.models import load_model, make_model
from tailorkit.models.sensor_base import inner_split
from tailorkit.models.sensor_ensemble import WindowEnsemble
from tests.unit.test_model_conformance import TINY, sensor_windows


@pytest.fixture(scope="module")
def windows():
    return sensor_windows()


def test_ensemble_of_fitted_members_is_their_weighted_average(windows, tmp_path: Path):
    X, rul, failure, groups = windows
    members = [
        make_model(f, **TINY[f]).fit(X, rul, failure=failure, groups=groups)
        for f in ("sensor_lightgbm", "sensor_cnn")
    ]
    ensemble = WindowEnsemble.of(members, [1.0, 3.0])
    expected = (members[0].predict(X[:20]) + 3 * members[1].predict(X[:20])) / 4
    np.testing.assert_allclose(ensemble.predict(X[:20]), expected, rtol=1e-6)
    loaded = load_model(ensemble.save(tmp_path / "ensemble"))
    np.testing.assert_allclose(loaded.predict(X[:20]), expected, rtol=1e-5)


def test_pretraining_yields_an_anomaly_head_that_separates_worn_windows(windows):
    X, rul, failure, groups = windows
    model = make_model(
        "sensor_cnn", channels=8, layers=2, max_epochs=0, pretrain_epochs=4, random_state=0
    ).fit(X, rul, groups=groups)
    assert model.has_anomaly_head and model.healthy_q99_ > 0
    errors = model.anomaly_error(X)
    assert np.median(errors[failure == 1]) > model.healthy_q99_  # worn windows stand out
    assert np.median(errors[rul >= 80]) <= model.healthy_q99_
    without = make_model("sensor_cnn", channels=8, layers=2, max_epochs=1, pretrain=False)
    assert not without.fit(X, rul, groups=groups).has_anomaly_head


def test_phm08_score_matches_hand_computed_values():
    # d = -13 (early): exp(1) - 1; d = 0: 0; d = +10 (late): exp(1) - 1; d = +20: exp(2) - 1
    predicted, true = np.array([37.0, 50.0, 60.0, 90.0]), np.array([50.0, 50.0, 50.0, 70.0])
    expected = 2 * (math.e - 1) + (math.e**2 - 1)
    assert phm08_score(predicted, true) == pytest.approx(expected)
    # late predictions cost more than early ones of the same size
    assert phm08_score([60.0], [50.0]) > phm08_score([40.0], [50.0])
    metrics = rul_metrics(np.array([10.0, 20.0]), np.array([13.0, 16.0]))
    assert metrics["rmse"] == pytest.approx(math.sqrt((9 + 16) / 2))
    assert metrics["mae"] == pytest.approx(3.5)


def test_inner_split_keeps_groups_whole():
    groups = np.repeat(np.arange(20), 7)
    train, valid = inner_split(groups, 0.25, seed=1)
    assert len(valid) and not set(groups[train]) & set(groups[valid])
    assert len(train) + len(valid) == len(groups)


def test_sliding_windows_match_a_plain_loop_and_pad_short_assets():
    values = np.arange(22, dtype=np.float32).reshape(11, 2)
    groups = np.array(["a"] * 8 + ["b"] * 3)
    windows = sliding_windows(values, groups, 4)
    assert windows.values.shape == (11, 4, 2)
    np.testing.assert_array_equal(windows.values[7], values[4:8])
    np.testing.assert_array_equal(windows.values[0], values[[0, 0, 0, 0]])
    last = sliding_windows(values, groups, 4, last_only=True)
    assert list(last.asset) == ["a", "b"] and list(last.padded) == [False, True]
    np.testing.assert_array_equal(last.values[1], values[[8, 8, 9, 10]])


def _forecast_lives(n: int, noise: float, seed: int) -> list[LifeForecast]:
    rng = np.random.default_rng(seed)
    lives = []
    for _ in range(n):
        life = int(rng.integers(80, 200))
        cut = int(rng.integers(30, life))
        times = np.arange(1, cut + 1, dtype=float)
        true = life - times
        median = np.clip(true + rng.normal(0, noise, cut), 0, 125)
        lives.append(
            LifeForecast(times, median - 1.28 * noise, median, median + 1.28 * noise, life, 0.0)
        )
    return lives


def test_policy_beats_run_to_failure_and_fixed_interval_with_good_forecasts():
    costs = Costs()
    chosen = choose_policy(_forecast_lives(40, 8.0, seed=0), costs)
    result = compare_policies(_forecast_lives(60, 8.0, seed=1), costs, chosen["alpha"],
                              chosen["offset"], horizon=1000)  # fmt: skip
    policies = result["policies"]
    ours = policies["predictive policy"]["cost_rate"]
    assert ours < policies["run to failure"]["cost_rate"]
    assert ours < policies["best fixed interval"]["cost_rate"]
    assert result["saving_vs_fixed"] > 0


def test_rul_quantile_uses_the_band():
    low, median, high = np.array([10.0]), np.array([20.0]), np.array([40.0])
    assert rul_quantile(low, median, high, 0.1)[0] == pytest.approx(10.0)
    assert rul_quantile(low, median, high, 0.5)[0] == pytest.approx(20.0)
    assert rul_quantile(low, median, high, 0.9)[0] == pytest.approx(40.0)
    assert rul_quantile(low, median, high, 0.01)[0] < 10.0
