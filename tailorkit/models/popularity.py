"""Popularity baselines: the same ranking for everyone, by how many users took each item.

``kind="global"`` counts every training interaction; ``kind="recent"`` weights each by
``0.5 ** (age / half_life)``, the half-life being ``half_life_fraction`` of the training
period, so that what is popular now ranks first.
"""

from __future__ import annotations

import numpy as np

from tailorkit.models.recommender import Recommender, TrainingSequences, Validation


class Popularity(Recommender):
    family = "popularity"

    def __init__(self, *, kind: str = "global", half_life_fraction: float = 0.1):
        self.kind = kind
        self.half_life_fraction = half_life_fraction

    def fit(self, data: TrainingSequences, valid: Validation | None = None) -> Popularity:
        if self.kind not in ("global", "recent"):
            raise ValueError(f"popularity kind must be 'global' or 'recent' (got {self.kind!r})")
        self.n_items_ = data.n_items
        items = _concat(data.sequences)
        if self.kind == "recent" and data.times is not None and len(items):
            times = _concat(data.times).astype(np.float64)
            span = max(float(times.max() - times.min()), 1.0)
            half_life = max(self.half_life_fraction * span, 1e-9)
            weights = 0.5 ** ((times.max() - times) / half_life)
        else:
            weights = np.ones(len(items))
        counts = np.bincount(items, weights=weights, minlength=data.n_items)
        self.popularity_ = counts.astype(np.float32)
        return self

    def _score(self, histories: list[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(histories), self.n_items_)).copy()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity_}

    def _restore(self, arrays, state) -> None:
        self.popularity_ = arrays["popularity"]


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
