"""Full-ranking evaluation for recommenders: every item is ranked, seen items excluded.

A test case is (history, target). Its rank is 1 + the number of eligible items scored
above the target, ties broken by item index (as a stable sort would); items in the
history are not eligible when ``exclude_seen``. From the ranks: HR@K (= Recall@K with one
target), NDCG@K = 1/log2(rank + 1) inside the top K, MRR = mean 1/rank over the full list.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence

import numpy as np

KS = (5, 10, 20)


def seen_mask(histories: list[np.ndarray], n_items: int) -> np.ndarray:
    """Boolean (cases × items): True where the item is in the case's history."""
    mask = np.zeros((len(histories), n_items), dtype=bool)
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    if len(rows):
        mask[rows, np.concatenate(histories)] = True
    return mask


def target_ranks(
    scores: np.ndarray,
    targets: np.ndarray,
    excluded: np.ndarray | None = None,
) -> np.ndarray:
    """1-based rank of each target among all items; ``excluded`` items never count."""
    scores = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(targets))
    target_score = scores[rows, targets][:, None]
    above = scores > target_score
    tied_before = (scores == target_score) & (
        np.arange(scores.shape[1])[None, :] < targets[:, None]
    )
    beats = above | tied_before
    if excluded is not None:
        beats &= ~excluded
    ranks = beats.sum(axis=1) + 1
    if excluded is not None:  # an excluded target cannot be recommended at all
        ranks = np.where(excluded[rows, targets], scores.shape[1] + 1, ranks)
    return ranks.astype(np.int64)


def ranking_metrics(ranks: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """HR/NDCG/Recall@K and MRR from target ranks (means over cases)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out: dict[str, float] = {}
    if len(ranks) == 0:
        return out
    for k in ks:
        hit = ranks <= k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0).mean())
        out[f"recall@{k}"] = out[f"hr@{k}"]
    out["mrr"] = float((1.0 / ranks).mean())
    return out


def per_case(ranks: np.ndarray, metric: str) -> np.ndarray:
    """One metric's value per case (for bootstrap intervals and paired comparisons)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if metric == "mrr":
        return 1.0 / ranks
    name, k = metric.split("@")
    hit = ranks <= int(k)
    if name in ("hr", "recall"):
        return hit.astype(np.float64)
    if name == "ndcg":
        return np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0)
    raise ValueError(f"unknown ranking metric {metric!r}")


def bootstrap_interval(
    ranks: np.ndarray, metric: str, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of a metric's mean over cases (resampled cases)."""
    values = per_case(ranks, metric)
    if len(values) == 0 or n_boot <= 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[draws].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def evaluate_scorer(
    score: Callable[[list[np.ndarray]], np.ndarray],
    histories: list[np.ndarray],
    targets: np.ndarray,
    n_items: int,
    *,
    exclude_seen: bool = True,
    top: int = 20,
    batch: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """Ranks of the targets and each case's top-``top`` list, in batches of cases."""
    ranks, tops = [], []
    for start in range(0, len(targets), batch):
        hist = histories[start : start + batch]
        scores = np.asarray(score(hist), dtype=np.float32)
        excluded = seen_mask(hist, n_items) if exclude_seen else None
        ranks.append(target_ranks(scores, targets[start : start + batch], excluded))
        if excluded is not None:
            scores = np.where(excluded, -np.inf, scores)
        tops.append(top_k(scores, top))
    if not ranks:
        return np.zeros(0, dtype=np.int64), np.zeros((0, top), dtype=np.int64)
    return np.concatenate(ranks), np.concatenate(tops)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best items per row, best first, ties by item index."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1)


def coverage(tops: np.ndarray, n_items: int, k: int = 10) -> float:
    """Share of the catalogue that appears in at least one top-k list."""
    if tops.size == 0:
        return 0.0
    return float(len(np.unique(tops[:, :k])) / n_items)


def popularity_bias(tops: np.ndarray, popularity: np.ndarray, k: int = 10) -> float:
    """Mean training popularity (share of users who interacted) of recommended items."""
    if tops.size == 0:
        return 0.0
    return float(popularity[tops[:, :k]].mean())


def list_ndcg(ranked: Sequence[str], relevant: Collection[str]) -> float:
    """NDCG of one shown list (cut at its own length k) against the relevant items, binary
    relevance: DCG = sum of 1/log2(rank + 1) over relevant items shown, over the ideal DCG."""
    k = len(ranked)
    gains = [1.0 / math.log2(rank + 2) for rank, item in enumerate(ranked) if item in relevant]
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return sum(gains) / ideal if ideal > 0 else 0.0


def list_hit(ranked: Sequence[str], relevant: Collection[str]) -> float:
    """1.0 when a relevant item is in the shown list, else 0.0 (hit rate per request)."""
    return float(any(item in relevant for item in ranked))
