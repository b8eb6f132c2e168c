"""A weighted average of fitted sensor-window models (each saved in its own subfolder).

Weights are given (the solution chooses them on validation assets); the RUL point, band
bounds and failure probability are each averaged with the same weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tailorkit.models.registry import load_model
from tailorkit.models.sensor_base import WindowModel


class WindowEnsemble(WindowModel):
    """Average of ``members`` (fitted ``WindowModel`` objects) with ``weights``."""

    family = "sensor_ensemble"

    def __init__(self, *, members: list | None = None, weights: list[float] | None = None):
        self.members = members
        self.weights = weights

    @classmethod
    def of(cls, members: list[WindowModel], weights: list[float]) -> WindowEnsemble:
        """An ensemble of already fitted members (nothing is refitted)."""
        ensemble = cls(members=list(members), weights=list(weights))
        ensemble.window_, ensemble.n_features_ = members[0].window_, members[0].n_features_
        ensemble.fit_seconds_ = sum(m.fit_seconds_ for m in members)
        return ensemble

    def _fit(self, X, rul, failure, groups, X_unlabeled) -> None:
        for member in self.members:
            member.fit(X, rul, failure=failure, groups=groups, X_unlabeled=X_unlabeled)

    def _predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        weights = np.asarray(self.weights, float) / np.sum(self.weights)
        outputs = [m.predict_distribution(X) for m in self.members]
        combined = {}
        for key in outputs[0]:
            stacked = np.stack([o[key] for o in outputs])
            present = ~np.isnan(stacked)
            w = weights[:, None] * present
            combined[key] = np.where(
                present.any(axis=0),
                (np.nan_to_num(stacked) * w).sum(axis=0) / np.maximum(w.sum(axis=0), 1e-12),
                np.nan,
            )
        return combined

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        return {"members": None, "weights": self.weights}

    def _save_state(self, path: Path) -> dict[str, Any]:
        folders = []
        for number, member in enumerate(self.members):
            folder = f"member_{number}_{member.family}"
            member.save(path / folder)
            folders.append(folder)
        return {"members": folders}

    def _load_state(self, path: Path, state: dict[str, Any]) -> None:
        self.members = [load_model(path / folder) for folder in state["members"]]
