"""Sensor normalization: constant sensors dropped, operating conditions found by KMeans on the
settings when they cluster, then per-condition z-scores; the state serializes to JSON."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tailorkit.errors import DataError

CONSTANT_RELATIVE_STD = 1e-6
MAX_CONDITIONS = 8
CLUSTER_SILHOUETTE = 0.8  # settings "cluster" when KMeans separates them this cleanly


class SensorNormalizer:
    """Drop constant sensors, find operating conditions, z-score each sensor per condition.

    Serializes to JSON (``to_dict`` / ``from_dict``): KMeans centers, per-condition means
    and standard deviations. Nothing is pickled.
    """

    def __init__(self, *, sensors: list[str], settings: list[str], random_state: int = 0):
        self.sensors = list(sensors)
        self.settings = list(settings)
        self.random_state = random_state

    def fit(self, frame: pd.DataFrame) -> SensorNormalizer:
        values = frame[self.sensors].to_numpy(float)
        spread = values.std(axis=0)
        scale = np.maximum(np.abs(values).mean(axis=0), 1.0)
        constant = spread <= CONSTANT_RELATIVE_STD * scale
        self.dropped_ = [s for s, c in zip(self.sensors, constant, strict=False) if c]
        self.kept_ = [s for s, c in zip(self.sensors, constant, strict=False) if not c]
        if not self.kept_:
            raise DataError(
                f"every sensor is constant ({', '.join(self.sensors)}); nothing to learn"
            )
        self._fit_conditions(frame)
        condition = self.conditions(frame)
        kept = frame[self.kept_].to_numpy(float)
        self.mean_ = np.zeros((self.n_conditions_, len(self.kept_)))
        self.std_ = np.ones((self.n_conditions_, len(self.kept_)))
        for k in range(self.n_conditions_):
            rows = kept[condition == k]
            if len(rows):
                self.mean_[k] = rows.mean(axis=0)
                self.std_[k] = np.where(rows.std(axis=0) > 1e-12, rows.std(axis=0), 1.0)
        return self

    def _fit_conditions(self, frame: pd.DataFrame) -> None:
        self.n_conditions_, self.centers_, self.silhouette_ = 1, np.zeros((1, 0)), None
        self.settings_mean_ = np.zeros(len(self.settings))
        self.settings_std_ = np.ones(len(self.settings))
        if not self.settings:
            return
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        raw = frame[self.settings].to_numpy(float)
        self.settings_mean_ = raw.mean(axis=0)
        self.settings_std_ = np.where(raw.std(axis=0) > 1e-12, raw.std(axis=0), 1.0)
        points = (raw - self.settings_mean_) / self.settings_std_
        rng = np.random.default_rng(self.random_state)
        sample = points[rng.permutation(len(points))[:3000]]
        best = (CLUSTER_SILHOUETTE, None)
        for k in range(2, min(MAX_CONDITIONS, len(np.unique(sample, axis=0)) - 1) + 1):
            kmeans = KMeans(k, n_init=3, random_state=self.random_state).fit(sample)
            score = silhouette_score(sample, kmeans.labels_)
            if score > best[0]:
                best = (score, kmeans)
        if best[1] is not None:
            self.n_conditions_ = best[1].n_clusters
            self.centers_ = best[1].cluster_centers_
            self.silhouette_ = float(best[0])

    def conditions(self, frame: pd.DataFrame) -> np.ndarray:
        if self.n_conditions_ == 1:
            return np.zeros(len(frame), dtype=int)
        points = (frame[self.settings].to_numpy(float) - self.settings_mean_) / self.settings_std_
        distance = ((points[:, None, :] - self.centers_[None]) ** 2).sum(axis=2)
        return distance.argmin(axis=1)

    def transform(self, frame: pd.DataFrame, source: str = "readings") -> np.ndarray:
        """The kept sensors as per-condition z-scores, float32 (rows × kept sensors)."""
        needed = self.kept_ + self.settings
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise DataError(
                f"{source}: sensor column(s) {', '.join(map(repr, missing))} that the model "
                "was trained on are missing; add them"
            )
        condition = self.conditions(frame)
        values = frame[self.kept_].to_numpy(float)
        return ((values - self.mean_[condition]) / self.std_[condition]).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {
            "sensors_used": self.kept_,
            "constant_sensors_dropped": self.dropped_,
            "operating_conditions": self.n_conditions_,
            "condition_silhouette": self.silhouette_,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "sensors": self.sensors,
            "settings": self.settings,
            "random_state": self.random_state,
            "dropped": self.dropped_,
            "kept": self.kept_,
            "n_conditions": self.n_conditions_,
            "centers": self.centers_.tolist(),
            "silhouette": self.silhouette_,
            "settings_mean": self.settings_mean_.tolist(),
            "settings_std": self.settings_std_.tolist(),
            "mean": self.mean_.tolist(),
            "std": self.std_.tolist(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> SensorNormalizer:
        normalizer = cls(
            sensors=state["sensors"], settings=state["settings"], random_state=state["random_state"]
        )
        normalizer.dropped_, normalizer.kept_ = state["dropped"], state["kept"]
        normalizer.n_conditions_ = state["n_conditions"]
        normalizer.centers_ = np.array(state["centers"], dtype=float).reshape(
            state["n_conditions"] if state["n_conditions"] > 1 else 1, -1
        )
        normalizer.silhouette_ = state["silhouette"]
        normalizer.settings_mean_ = np.array(state["settings_mean"], dtype=float)
        normalizer.settings_std_ = np.array(state["settings_std"], dtype=float)
        normalizer.mean_ = np.array(state["mean"], dtype=float)
        normalizer.std_ = np.array(state["std"], dtype=float)
        return normalizer
