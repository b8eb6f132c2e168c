"""LightGBM on rolling-window features (the baseline): per sensor the window's mean, standard
deviation, least-squares slope and last value.

Four boosters share those features: squared error for the RUL point (trees chosen by early
stopping on an inner split grouped by asset), quantile objectives for the band's bounds, and
a binary objective for failure within the horizon (when those labels are given). The artifact
is LightGBM's text format (one file per booster) and JSON; nothing is pickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from tailorkit.models.sensor_base import QUANTILES, WindowModel, inner_split

BOOSTERS = ("point", "low", "high", "failure")


def window_features(X: np.ndarray) -> np.ndarray:
    """(n, window, sensors) -> (n, 4 * sensors): mean, std, slope, last value per sensor."""
    steps = np.arange(X.shape[1], dtype=np.float32)
    centered = steps - steps.mean()
    denominator = max(float((centered**2).sum()), 1e-9)
    slope = np.einsum("t,ntf->nf", centered, X) / denominator
    return np.concatenate([X.mean(axis=1), X.std(axis=1), slope, X[:, -1]], axis=1)


class WindowLightGBM(WindowModel):
    """LightGBM regression (point and quantiles) and classification on window features."""

    family = "sensor_lightgbm"

    def __init__(
        self,
        *,
        learning_rate: float = 0.03,
        n_estimators: int = 2000,
        num_leaves: int = 31,
        min_child_samples: int = 40,
        feature_fraction: float = 0.8,
        bagging_fraction: float = 0.8,
        lambda_l2: float = 1.0,
        validation_fraction: float = 0.15,
        early_stopping_rounds: int = 100,
        n_threads: int = 1,
        random_state: int = 0,
    ):
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.lambda_l2 = lambda_l2
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.n_threads = n_threads
        self.random_state = random_state

    def _params(self, objective: str, **extra: Any) -> dict[str, Any]:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "num_threads": self.n_threads,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
            **extra,
        }

    def _fit(self, X, rul, failure, groups, X_unlabeled) -> None:
        features = window_features(X)
        labeled = ~np.isnan(rul)
        train, valid = inner_split(groups[labeled], self.validation_fraction, self.random_state)
        F, y = features[labeled], rul[labeled]
        rounds = self.n_estimators
        self.boosters_: dict[str, lgb.Booster] = {}
        if len(valid):
            booster = lgb.train(
                self._params("regression"),
                lgb.Dataset(F[train], y[train]),
                self.n_estimators,
                valid_sets=[lgb.Dataset(F[valid], y[valid])],
                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
            )
            rounds = max(1, booster.best_iteration or self.n_estimators)
        self.rounds_ = rounds
        data = lgb.Dataset(F, y)
        self.boosters_["point"] = lgb.train(self._params("regression"), data, rounds)
        for name, quantile in zip(("low", "high"), QUANTILES, strict=False):
            self.boosters_[name] = lgb.train(
                self._params("quantile", alpha=quantile), lgb.Dataset(F, y), rounds
            )
        known = ~np.isnan(failure)
        if known.any() and len(np.unique(failure[known])) == 2:
            self.boosters_["failure"] = lgb.train(
                self._params("binary"),
                lgb.Dataset(features[known], failure[known]),
                max(50, rounds // 2),
            )

    def _predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        features = window_features(X)
        point = self.boosters_["point"].predict(features)
        low = np.minimum(self.boosters_["low"].predict(features), point)
        high = np.maximum(self.boosters_["high"].predict(features), point)
        if "failure" in self.boosters_:
            probability = self.boosters_["failure"].predict(features)
        else:
            probability = np.full(len(X), np.nan)
        return {
            "rul": np.clip(point, 0, None),
            "rul_low": np.clip(low, 0, None),
            "rul_high": np.clip(high, 0, None),
            "failure_probability": probability,
        }

    def _save_state(self, path: Path) -> dict[str, Any]:
        for name, booster in self.boosters_.items():
            booster.save_model(str(path / f"{name}.txt"))
        return {"boosters": list(self.boosters_), "rounds": self.rounds_}

    def _load_state(self, path: Path, state: dict[str, Any]) -> None:
        self.rounds_ = state["rounds"]
        self.boosters_ = {
            name: lgb.Booster(model_file=str(path / f"{name}.txt")) for name in state["boosters"]
        }
