"""Quantile transform of numeric columns to a normal distribution (knots saved as JSON)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

N_QUANTILES = 64


def fit_quantiles(block: np.ndarray) -> list[list[list[float]] | None]:
    """Per column: knots (value, normal score) mapping values to a normal distribution.

    Columns with fewer than three distinct quantiles (indicators, near-constants) get
    ``None`` and stay standardized.
    """
    levels = np.linspace(0.0, 1.0, N_QUANTILES)
    normal = NormalDist()
    knots: list[list[list[float]] | None] = []
    for column in block.T:
        values, inverse = np.unique(np.quantile(column, levels), return_inverse=True)
        if len(values) < 3:
            knots.append(None)
            continue
        level = np.bincount(inverse, weights=levels) / np.bincount(inverse)
        scores = [normal.inv_cdf(p) for p in np.clip(level, 1e-3, 1 - 1e-3)]
        knots.append([values.tolist(), scores])
    return knots


def apply_quantiles(block: np.ndarray, knots: list[list[list[float]] | None]) -> np.ndarray:
    out = block.copy()
    for j, column_knots in enumerate(knots):
        if column_knots is not None:
            out[:, j] = np.interp(block[:, j], column_knots[0], column_knots[1])
    return out.astype(np.float32)
