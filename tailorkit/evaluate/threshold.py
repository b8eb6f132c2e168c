"""Cost-based decision threshold: the Bayes rule and the empirical cost-minimizing cut-off.

Domain wording (credit): positive = bad / default; a false negative is a bad applicant
accepted, a false positive a good applicant rejected. A row is rejected (predicted
positive) when ``p > threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tailorkit.evaluate.metrics import as_binary_arrays

_CURVE_POINTS = 101


@dataclass
class CostMatrix:
    """Cost of each outcome per row; the German-credit convention is FN 5, FP 1."""

    false_negative: float = 1.0
    false_positive: float = 1.0
    true_positive: float = 0.0
    true_negative: float = 0.0


def bayes_threshold(cost: CostMatrix) -> float:
    """Probability above which rejecting costs less in expectation than accepting."""
    reject_gain = cost.false_positive - cost.true_negative
    accept_gain = cost.false_negative - cost.true_positive
    if reject_gain < 0 or accept_gain < 0 or reject_gain + accept_gain <= 0:
        raise ValueError(
            "cost matrix must make each wrong decision cost at least as much as the right one "
            f"(false_positive >= true_negative, false_negative >= true_positive), got {cost}"
        )
    return float(reject_gain / (reject_gain + accept_gain))


def _row_cost(
    false_negatives: Any, true_negatives: Any, n_pos: int, n_neg: int, cost: CostMatrix
) -> Any:
    """Total cost from the accepted counts (rows at or below the threshold)."""
    true_positives = n_pos - np.asarray(false_negatives)
    false_positives = n_neg - np.asarray(true_negatives)
    return (
        cost.false_negative * false_negatives
        + cost.true_negative * true_negatives
        + cost.true_positive * true_positives
        + cost.false_positive * false_positives
    )


def expected_cost(y: Any, p: Any, threshold: float, cost: CostMatrix) -> float:
    """Average cost per row when rejecting (predicting positive) every row with p > threshold."""
    y_arr, p_arr = as_binary_arrays(y, p)
    if not y_arr.size:
        raise ValueError("expected_cost needs at least one row")
    accepted = p_arr <= threshold
    false_negatives = int(np.sum(accepted & (y_arr == 1)))
    true_negatives = int(np.sum(accepted & (y_arr == 0)))
    n_pos = int(y_arr.sum())
    total = _row_cost(false_negatives, true_negatives, n_pos, y_arr.size - n_pos, cost)
    return float(total / y_arr.size)


def _costs_at(thresholds: np.ndarray, y: np.ndarray, p: np.ndarray, cost: CostMatrix) -> np.ndarray:
    """Average cost at each threshold, from one sort of the scores."""
    order = np.argsort(p, kind="mergesort")
    sorted_scores, sorted_y = p[order], y[order]
    accepted = np.searchsorted(sorted_scores, thresholds, side="right")
    false_negatives = np.r_[0, np.cumsum(sorted_y)][accepted]
    true_negatives = accepted - false_negatives
    n_pos = int(y.sum())
    return _row_cost(false_negatives, true_negatives, n_pos, y.size - n_pos, cost) / y.size


def _candidate_thresholds(p: np.ndarray) -> np.ndarray:
    """One threshold per distinct way of splitting the scores: below all, between each
    pair of neighbouring distinct scores (the midpoint), and at the top score."""
    distinct = np.unique(p)
    midpoints = (distinct[:-1] + distinct[1:]) / 2
    return np.r_[np.nextafter(distinct[0], -np.inf), midpoints, distinct[-1]]


def best_threshold(y: Any, p: Any, cost: CostMatrix) -> dict[str, Any]:
    """The threshold that minimizes the average cost on these (out-of-fold) scores.

    Ties are broken towards the Bayes threshold. Also reports the cost at the Bayes
    threshold, of rejecting everyone and of accepting everyone, and a cost curve over
    thresholds 0, 0.01, ..., 1 for plotting.
    """
    y_arr, p_arr = as_binary_arrays(y, p)
    if not y_arr.size:
        raise ValueError("best_threshold needs at least one row")
    bayes = bayes_threshold(cost)
    candidates = _candidate_thresholds(p_arr)
    candidate_costs = _costs_at(candidates, y_arr, p_arr, cost)
    best = np.lexsort((np.abs(candidates - bayes), candidate_costs))[0]
    n_pos = int(y_arr.sum())
    n_neg = y_arr.size - n_pos
    grid = np.linspace(0.0, 1.0, _CURVE_POINTS)
    return {
        "empirical_threshold": float(candidates[best]),
        "empirical_cost": float(candidate_costs[best]),
        "bayes_threshold": bayes,
        "bayes_cost": expected_cost(y_arr, p_arr, bayes, cost),
        "reject_all_cost": float(_row_cost(0, 0, n_pos, n_neg, cost) / y_arr.size),
        "accept_all_cost": float(_row_cost(n_pos, n_neg, n_pos, n_neg, cost) / y_arr.size),
        "rows": int(y_arr.size),
        "cost_curve": {
            "threshold": grid.tolist(),
            "cost": _costs_at(grid, y_arr, p_arr, cost).tolist(),
        },
    }
