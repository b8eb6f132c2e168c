"""How the maintenance solution's life context was chosen, on FD001 *training* engines only.

LightGBM on window features, trained on 80 of the 100 training engines (early stopping on 15%
of those, grouped by engine) and scored on the other 20 (RMSE against the capped target over
every window), three seeds. Variants: the window statistics alone (``base``); plus the
engine's age (``age``); plus each sensor's drift from its engine's first 20 readings
(``drift``); an exponential moving average (``ewm``); means of the last 5 and 10 readings
(``short``); combinations joined by ``+``; ``ctxN``: drift (baseline N readings) and age as
extra channels before windowing, the form the product uses. The test engines are not read.

    python benchmarks/maintenance_life_context_choice.py base age drift age+drift ctx10 ctx20 ctx30
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from maintenance import SENSORS, SETTINGS, load_cmapss  # noqa: E402

from tailorkit.data.sensors import LifeContext, SensorNormalizer, sliding_windows  # noqa: E402
from tailorkit.models.sensor_base import inner_split  # noqa: E402
from tailorkit.models.window_gbm import window_features  # noqa: E402

train, _test, _truth = load_cmapss()
values = SensorNormalizer(sensors=SENSORS, settings=SETTINGS).fit(train).transform(train)
engine, cycle = train["engine"].to_numpy(), train["cycle"].to_numpy(float)
rul = (train.groupby("engine")["cycle"].transform("max") - train["cycle"]).to_numpy(float)
windows = sliding_windows(values, engine, 30)
target = np.minimum(rul[windows.end], 125).astype(np.float32)
starts = np.flatnonzero(np.r_[True, engine[1:] != engine[:-1]])


def per_engine(fn):
    out = np.empty_like(values)
    for a, b in zip(starts, np.r_[starts[1:], len(engine)], strict=True):
        out[a:b] = fn(values[a:b])
    return out


def ewm(block, alpha=0.1):
    out = np.empty_like(block)
    out[0] = block[0]
    for i in range(1, len(block)):
        out[i] = alpha * block[i] + (1 - alpha) * out[i - 1]
    return out


def context_windows(baseline: int) -> np.ndarray:
    context = LifeContext(baseline=baseline).fit(cycle, engine)
    return sliding_windows(context.transform(values, cycle, engine), engine, 30).values


def features(variant: str) -> np.ndarray:
    if variant.startswith("ctx"):
        return window_features(context_windows(int(variant[3:])))
    with_drift = context_windows(20)  # channels: values, drift, age
    k = values.shape[1]
    parts = [window_features(windows.values)]
    if "age" in variant:
        parts.append(with_drift[:, -1, -1:])
    if "ewm" in variant:
        parts.append(per_engine(ewm)[windows.end])
    if "drift" in variant:
        parts.append(with_drift[:, :, k : 2 * k].mean(axis=1))
    if "short" in variant:
        parts += [windows.values[:, -10:].mean(axis=1), windows.values[:, -5:].mean(axis=1)]
    return np.concatenate(parts, axis=1)


def held_out_rmse(F: np.ndarray, seed: int) -> float:
    rest, scored = inner_split(windows.asset, 0.2, 100 + seed)
    fit, stop = inner_split(windows.asset[rest], 0.15, seed)
    fit, stop = rest[fit], rest[stop]
    params = {"objective": "regression", "learning_rate": 0.03, "num_leaves": 31,
              "min_child_samples": 40, "feature_fraction": 0.8, "bagging_fraction": 0.8,
              "bagging_freq": 1, "lambda_l2": 1.0, "num_threads": 1, "seed": seed,
              "verbosity": -1, "deterministic": True, "force_row_wise": True}  # fmt: skip
    booster = lgb.train(
        params, lgb.Dataset(F[fit], target[fit]), 2000,
        valid_sets=[lgb.Dataset(F[stop], target[stop])],
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )  # fmt: skip
    predicted = booster.predict(F[scored], num_iteration=booster.best_iteration)
    return float(np.sqrt(np.mean((predicted - target[scored]) ** 2)))


if __name__ == "__main__":
    for variant in sys.argv[1:] or ["base", "age+drift", "ctx30"]:
        scores = [held_out_rmse(features(variant), seed) for seed in range(3)]
        print(
            f"{variant:20s} held-out RMSE {np.mean(scores):.2f} {np.round(scores, 2)}", flush=True
        )
