"""Life context channels: each reading's drift from its life's first readings and its age,
computed causally per life, in a batch or one streamed reading at a time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


class LifeContext:
    """Drift and age channels appended to normalized readings, computed causally per life.

    drift: each sensor minus the mean of the life's first ``baseline`` readings (while fewer
    have arrived, the mean of those so far), so a reading never depends on later ones; age:
    time since the life's first reading over the median training life length. Both assume a
    life's readings start at installation or maintenance (``life_ids`` splits lives there);
    turn the step off (``tasks.life_context: false``) when records start mid-life.
    """

    def __init__(self, *, baseline: int):
        self.baseline = int(baseline)

    def fit(self, times: np.ndarray, lives: np.ndarray) -> LifeContext:
        spans = pd.Series(np.asarray(times, float)).groupby(np.asarray(lives)).agg(np.ptp)
        median = float(spans.median()) if len(spans) else 0.0
        self.age_scale_ = median if median > 0 else 1.0
        return self

    def transform(self, values: np.ndarray, times: np.ndarray, lives: np.ndarray) -> np.ndarray:
        """(rows, sensors) -> (rows, 2 * sensors + 1); rows sorted by life, then time."""
        values = np.asarray(values, np.float32)
        times, lives = np.asarray(times, float), np.asarray(lives)
        if len(values) == 0:
            return np.zeros((0, 2 * values.shape[1] + 1), np.float32)
        first = np.flatnonzero(np.r_[True, lives[1:] != lives[:-1]])
        start = np.repeat(first, np.diff(np.r_[first, len(lives)]))
        used = np.minimum(np.arange(len(values)) - start, self.baseline - 1)
        running = np.cumsum(values, axis=0, dtype=np.float64)
        before = np.where(start[:, None] > 0, running[np.maximum(start - 1, 0)], 0.0)
        base = (running[start + used] - before) / (used + 1)[:, None]
        age = (times - times[start]) / self.age_scale_
        return np.concatenate([values, values - base, age[:, None]], axis=1).astype(np.float32)

    def step(self, row: np.ndarray, time: float, state: dict | None) -> tuple[np.ndarray, dict]:
        """One streamed reading of a life (``state`` from its previous reading, None first):
        the same channels ``transform`` gives that reading in a batch, and the new state."""
        row = np.asarray(row, np.float64)
        if state is None:
            state = {"start": float(time), "sum": np.zeros_like(row), "count": 0}
        if state["count"] < self.baseline:
            state = {**state, "sum": state["sum"] + row, "count": state["count"] + 1}
        base = state["sum"] / state["count"]
        age = (float(time) - state["start"]) / self.age_scale_
        return np.r_[row, row - base, age].astype(np.float32), state

    def channels(self, sensors: list[str]) -> list[str]:
        return [*sensors, *(f"{s}_drift" for s in sensors), "age"]

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "age_scale": self.age_scale_}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> LifeContext:
        context = cls(baseline=state["baseline"])
        context.age_scale_ = float(state["age_scale"])
        return context
