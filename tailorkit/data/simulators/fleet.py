"""A fleet of machines wearing out: operating settings, noisy sensors, exponential wear, failures.

Mechanism (in the spirit of C-MAPSS, Saxena et al. 2008):

- each asset starts with a small initial wear ``w0 ~ U(0, 0.15)`` and its own wear rate
  ``b ~ lognormal``; wear grows exponentially, ``w(t) = w0 + c (exp(b t) - 1)``, and the
  asset fails at the first cycle where ``w(t) >= 1`` (lives average ``mean_life`` cycles);
- every cycle runs at an operating condition: with ``conditions=1`` the three settings are
  noise around one point, otherwise one of ``conditions`` well separated points is drawn
  per cycle (FD002/FD004-style) and shifts every sensor's baseline;
- sensors ``s1..s10`` respond linearly to wear with their own sign and sensitivity plus
  Gaussian noise (some are weak, ``s9``/``s10`` are pure noise); ``s11`` is constant (it must
  be dropped); ``temp_f`` is a temperature given in degF while ``temp_k`` is in kelvin (the
  spec's ``units`` converts them to one unit).

``simulate_fleet`` returns complete run-to-failure histories; ``truncate_fleet`` cuts each
life at a random point (the C-MAPSS test protocol) and returns the true RUL at the cut.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SENSITIVITY = np.array([1.0, -0.8, 0.6, 1.2, -0.5, 0.9, 0.3, -1.1, 0.0, 0.0])
NOISE = np.array([0.25, 0.25, 0.3, 0.35, 0.3, 0.3, 0.3, 0.3, 1.0, 1.0])
CONDITION_POINTS = np.array(
    [[0.0, 0.0, 100.0], [10.0, 0.25, 100.0], [20.0, 0.7, 100.0], [25.0, 0.62, 60.0],
     [35.0, 0.84, 100.0], [42.0, 0.84, 100.0]]
)  # fmt: skip
UNITS = {"temp_k": "K", "temp_f": "degF"}


def simulate_fleet(
    n_assets: int = 60,
    *,
    mean_life: float = 150.0,
    conditions: int = 1,
    random_state: int = 0,
) -> pd.DataFrame:
    """Run-to-failure readings: one row per asset and cycle (``asset_id``, ``cycle``, ...)."""
    if not 1 <= conditions <= len(CONDITION_POINTS):
        raise ValueError(f"conditions must be between 1 and {len(CONDITION_POINTS)}")
    rng = np.random.default_rng(random_state)
    frames = [
        _one_asset(f"A{number:03d}", mean_life, conditions, rng)
        for number in range(1, n_assets + 1)
    ]
    return pd.concat(frames, ignore_index=True)


def _one_asset(
    name: str, mean_life: float, conditions: int, rng: np.random.Generator
) -> pd.DataFrame:
    w0 = rng.uniform(0.0, 0.15)
    b = np.exp(rng.normal(np.log(3.0 / mean_life), 0.25))
    c = 0.05
    life = int(np.ceil(np.log((1.0 - w0) / c + 1.0) / b))
    life = max(life, 20)
    cycle = np.arange(1, life + 1)
    wear = np.minimum(w0 + c * (np.exp(b * cycle) - 1.0), 1.0)
    if conditions == 1:
        settings = CONDITION_POINTS[0] + rng.normal(0, [0.002, 0.0003, 0.0], (life, 3))
        shift = np.zeros((life, 1))
    else:
        picked = rng.integers(0, conditions, life)
        settings = CONDITION_POINTS[picked] + rng.normal(0, [0.002, 0.0003, 0.0], (life, 3))
        shift = (settings[:, :1] / 10.0) + settings[:, 1:2] * 3.0
    base = np.arange(1, 11) * 10.0
    sensors = base + shift * (1 + np.arange(10) / 10) + wear[:, None] * SENSITIVITY * 3.0
    sensors = sensors + rng.normal(0, NOISE, (life, 10))
    temp_k = 600.0 + 8.0 * wear + shift[:, 0] * 2.0 + rng.normal(0, 0.5, life)
    temp_f = (641.0 + 6.0 * wear + shift[:, 0] + rng.normal(0, 0.5, life) - 273.15) * 9 / 5 + 32
    frame = pd.DataFrame(sensors, columns=[f"s{i}" for i in range(1, 11)])
    frame.insert(0, "setting_3", settings[:, 2])
    frame.insert(0, "setting_2", settings[:, 1])
    frame.insert(0, "setting_1", settings[:, 0])
    frame.insert(0, "cycle", cycle)
    frame.insert(0, "asset_id", name)
    frame["s11"] = 47.0
    frame["temp_k"] = temp_k
    frame["temp_f"] = temp_f
    return frame


def truncate_fleet(
    readings: pd.DataFrame, *, random_state: int = 0, min_cycles: int = 10
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cut each life at a random cycle; returns the cut readings and ``asset_id, rul`` truth."""
    rng = np.random.default_rng(random_state)
    kept, truth = [], []
    for name, group in readings.groupby("asset_id", sort=False):
        life = len(group)
        cut = int(rng.integers(min(min_cycles, life), life + 1))
        kept.append(group.iloc[:cut])
        truth.append({"asset_id": name, "rul": life - cut})
    return pd.concat(kept, ignore_index=True), pd.DataFrame(truth)


def failure_log(readings: pd.DataFrame) -> pd.DataFrame:
    """A failures table for run-to-failure readings: each asset fails at its last cycle."""
    last = readings.groupby("asset_id", sort=False)["cycle"].max()
    return pd.DataFrame({"asset_id": last.index, "cycle": last.to_numpy(), "event": "failure"})
