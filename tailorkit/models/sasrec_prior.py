"""The co-occurrence prior of SASRec's scores: the choice of its weight (one standard error)
and the text neighbours that give items never seen in training their share of it."""

from __future__ import annotations

import numpy as np

from tailorkit.models.recommender import TrainingSequences

PRIOR_WEIGHTS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # the co-occurrence prior's candidates


PRIOR_TEXT_NEIGHBOURS = 10  # trained items whose prior an item never seen in training takes


def item_counts(data: TrainingSequences) -> np.ndarray:
    """Each item's number of training events (0: never seen in training)."""
    every = np.concatenate(data.sequences) if data.sequences else np.zeros(0, np.int64)
    return np.bincount(every, minlength=data.n_items)


def one_standard_error(cases: dict[float, np.ndarray]) -> float:
    """The smallest weight whose mean is within one paired standard error of the best's.

    ``cases`` maps each candidate weight to its per-case validation NDCG@10 (same cases).
    A larger weight must beat the smaller ones by more than the validation noise: the
    prior pushes warm items up, and items never seen in training pay for a weight the
    warm validation cases cannot tell from a smaller one.
    """
    best = max(cases, key=lambda w: (cases[w].mean(), -w))
    for w in sorted(cases):
        gap = cases[best] - cases[w]
        se = gap.std(ddof=1) / np.sqrt(len(gap)) if len(gap) > 1 else 0.0
        if gap.mean() <= se:
            return w
    return best


def text_neighbours(data: TrainingSequences, k: int) -> np.ndarray | None:
    """For each item never seen in training, its ``k`` trained items nearest by text
    (cosine): rows ``[item, neighbour_1, ..., neighbour_k]``; None when there are none."""
    vectors = data.item_vectors
    counts = item_counts(data)
    cold, warm = np.flatnonzero(counts == 0), np.flatnonzero(counts > 0)
    if vectors is None or not np.any(vectors) or not len(cold) or not len(warm):
        return None
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    k = min(k, len(warm))
    rows = []
    for start in range(0, len(cold), 1024):
        part = cold[start : start + 1024]
        similar = unit[part] @ unit[warm].T
        nearest = np.argpartition(-similar, k - 1, axis=1)[:, :k]
        rows.append(np.column_stack([part, warm[nearest]]))
    return np.concatenate(rows).astype(np.int64)
