"""The sensor-window models' part of the model contract.

A window model maps windows of normalized sensor readings, shape (n, window, sensors), to a
remaining-useful-life distribution and a failure-within-horizon probability:
``predict_distribution(X) -> {"rul", "rul_low", "rul_high", "failure_probability"}``.
``fit(X, rul, *, failure=None, groups=None, X_unlabeled=None)`` takes capped RUL labels (NaN
where a window has none) and optional 0/1 failure-within-horizon labels; ``groups`` (the asset
of each window) keeps the inner early-stopping split grouped by asset. ``model.json`` adds the
window length, sensor count and the family's state to the common layout (``models/base.py``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from tailorkit.errors import DataError
from tailorkit.models.base import Model

QUANTILES = (0.1, 0.9)  # the RUL band's bounds


class WindowModel(Model):
    """Base of all sensor-window models: shared validation, persistence and inner split."""

    kind = "window"

    def fit(
        self,
        X: np.ndarray,
        rul: np.ndarray,
        *,
        failure: np.ndarray | None = None,
        groups: np.ndarray | None = None,
        X_unlabeled: np.ndarray | None = None,
    ) -> WindowModel:
        X = check_windows(X)
        rul = np.asarray(rul, dtype=np.float32)
        if len(rul) != len(X):
            raise DataError(f"{len(X)} windows but {len(rul)} RUL labels")
        labeled = ~np.isnan(rul)
        if labeled.sum() < 2:
            raise DataError("fewer than 2 windows have a remaining-life label; nothing to fit")
        failure = (
            np.full(len(X), np.nan, np.float32)
            if failure is None
            else np.asarray(failure, np.float32)
        )
        groups = np.arange(len(X)) if groups is None else np.asarray(groups)
        self.window_, self.n_features_ = X.shape[1], X.shape[2]
        started = time.perf_counter()
        self._fit(X, rul, failure, groups, X_unlabeled)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The RUL point prediction per window."""
        return self.predict_distribution(X)["rul"]

    def predict_distribution(self, X: np.ndarray) -> dict[str, np.ndarray]:
        X = check_windows(X, self.n_features_)
        return self._predict(X)

    def anomaly_error(self, X: np.ndarray) -> np.ndarray:
        """Raw anomaly error per window; models without a reconstruction head raise."""
        raise NotImplementedError(f"{self.family} has no reconstruction head")

    @property
    def has_anomaly_head(self) -> bool:
        return False

    # ------------------------------------------------------------- persistence
    def _save_document(self, path: Path) -> dict[str, Any]:
        return {
            "window": self.window_,
            "n_features": self.n_features_,
            "fit_seconds": self.fit_seconds_,
            "state": self._save_state(path),
        }

    def _load_document(self, document: dict[str, Any], path: Path) -> None:
        self.window_, self.n_features_ = document["window"], document["n_features"]
        self.fit_seconds_ = document["fit_seconds"]
        self._load_state(path, document["state"])

    # -------------------------------------------------------------- subclasses
    def _fit(self, X, rul, failure, groups, X_unlabeled) -> None:
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _save_state(self, path: Path) -> dict[str, Any]:
        raise NotImplementedError

    def _load_state(self, path: Path, state: dict[str, Any]) -> None:
        raise NotImplementedError


def check_windows(X: np.ndarray, n_features: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise DataError(f"windows must be (n, window, sensors), got shape {X.shape}")
    if n_features is not None and X.shape[2] != n_features:
        raise DataError(f"the model was trained on {n_features} sensors, got {X.shape[2]}")
    if not np.isfinite(X).all():
        raise DataError("windows hold NaN or infinite values; clean the readings first")
    return X


def inner_split(groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation window indices with whole groups (assets) on one side."""
    unique = np.unique(groups)
    n_valid = int(round(len(unique) * fraction))
    if fraction <= 0 or n_valid < 1 or n_valid >= len(unique):
        everything = np.arange(len(groups))
        return everything, everything[:0]
    chosen = np.random.default_rng(seed).permutation(unique)[:n_valid]
    valid = np.isin(groups, chosen)
    return np.flatnonzero(~valid), np.flatnonzero(valid)
