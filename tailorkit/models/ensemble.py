"""Weighted blend of candidate models, weights chosen on out-of-fold predictions.

Greedy forward selection with replacement (Caruana et al. 2004, "Ensemble Selection from
Libraries of Models"), as AutoGluon's weighted ensemble does. The blend is a model like any
other: ``fit`` refits each member with a non-zero weight on all rows, ``save`` writes each
member into ``members/<name>/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.evaluate.metrics import roc_auc
from tailorkit.models.base import TabularModel
from tailorkit.models.registry import load_model, make_model


def select_weights(
    oof: dict[str, np.ndarray], y: np.ndarray, *, rounds: int = 25
) -> dict[str, float]:
    """Caruana selection maximizing AUC of the probability average; weights sum to 1."""
    names = list(oof)
    counts = dict.fromkeys(names, 0)
    blend = np.zeros(len(y))
    for step in range(1, rounds + 1):
        scores = {n: roc_auc(y, (blend * (step - 1) + oof[n]) / step) or 0.0 for n in names}
        best = max(names, key=lambda n: (scores[n], -names.index(n)))
        counts[best] += 1
        blend = (blend * (step - 1) + oof[best]) / step
    return {n: c / rounds for n, c in counts.items() if c}


def blend(predictions: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    return sum(weights[n] * predictions[n] for n in weights)


class WeightedEnsemble(TabularModel):
    """A fixed-weight average of member models' probabilities.

    ``members``: list of ``{"name", "family", "params"}``; ``weights``: name -> weight.
    """

    family = "ensemble"

    def __init__(
        self,
        *,
        members: list[dict[str, Any]] | None = None,
        weights: dict[str, float] | None = None,
    ):
        self.members = members
        self.weights = weights

    def fit(
        self,
        X: pd.DataFrame,
        y: Any,
        *,
        schema: dict[str, str] | None = None,
        X_unlabeled: pd.DataFrame | None = None,
        ready: dict[str, TabularModel] | None = None,
    ) -> WeightedEnsemble:
        """Fit the members with a weight; ``ready`` holds members already fitted on these
        same rows (e.g. by a worker process beside the CV folds), used as they are."""
        self._ready = ready or {}
        try:
            return super().fit(X, y, schema=schema, X_unlabeled=X_unlabeled)
        finally:
            del self._ready

    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_unlabeled: pd.DataFrame | None) -> None:
        self.models_: dict[str, TabularModel] = {}
        for entry in self.members or []:
            name = entry["name"]
            if self.weights.get(name, 0) <= 0:
                continue
            model = getattr(self, "_ready", {}).get(name)
            if model is None:
                model = make_model(entry["family"], **entry.get("params", {}))
                model.fit(X, y, schema=self.schema_, X_unlabeled=X_unlabeled)
            self.models_[name] = model
        self._set_importances()

    def _set_importances(self) -> None:
        first = next(iter(self.models_.values()))
        columns = first.feature_names_in_
        total = pd.Series(0.0, index=columns)
        for name, model in self.models_.items():
            importance = model.feature_importances_.reindex(columns).fillna(0.0)
            total += self.weights[name] * importance / max(importance.sum(), 1e-12)
        self.importances_ = total.to_numpy()

    @property
    def feature_names_in_(self) -> list[str]:
        return next(iter(self.models_.values())).feature_names_in_

    @property
    def preprocessor_(self):
        return next(iter(self.models_.values())).preprocessor_

    def _predict_score(self, X: pd.DataFrame) -> np.ndarray:
        return blend(
            {n: m.predict_proba(X)[:, 1] for n, m in self.models_.items()}, self.weights_in_use
        )

    @property
    def weights_in_use(self) -> dict[str, float]:
        total = sum(self.weights[n] for n in self.models_)
        return {n: self.weights[n] / total for n in self.models_}

    def _contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Weighted member contributions, over the members that explain rows."""
        parts, weights = [], []
        for name, model in self.models_.items():
            try:
                parts.append(model.explain(X).to_numpy())
                weights.append(self.weights[name])
            except NotImplementedError:
                continue
        if not parts:
            raise NotImplementedError("no member of the ensemble explains single rows")
        return sum(w * p for w, p in zip(weights, parts, strict=True)) / sum(weights)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        for name, model in self.models_.items():
            model.save(path / "members" / name)
        return super().save(path)

    def _save_document(self, path: Path) -> dict[str, Any]:
        return {"schema": self.schema_, "importances": [float(v) for v in self.importances_]}

    def _load_document(self, document: dict[str, Any], path: Path) -> None:
        self.schema_ = document["schema"]
        self.classes_ = np.array([0, 1])
        self.importances_ = np.array(document["importances"])
        self.models_ = {
            entry["name"]: load_model(path / "members" / entry["name"])
            for entry in self.members
            if self.weights.get(entry["name"], 0) > 0
        }
