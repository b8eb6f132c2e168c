"""When to maintain: a cost-based policy on the predicted RUL distribution, and its simulation.

The policy schedules maintenance at the predicted ``alpha``-quantile of the failure time,
less a safety ``offset``: at each reading (time ``t``) it computes ``t + Q_alpha(RUL_t) -
offset``; when that is at most one step ahead it maintains now, otherwise the latest schedule
stands (the test fleet's readings stop before failure). ``Q_alpha`` comes from the model's
10/50/90% quantiles with normal tails. ``alpha`` and ``offset`` minimize the long-run cost
on validation lives (never the test fleet) under the spec's costs.

Costs per life (renewal-reward): a planned maintenance before failure costs
``planned_maintenance + downtime_per_cycle * planned_downtime``; a failure costs
``unplanned_failure + downtime_per_cycle * unplanned_downtime``. The cost rate is total cost
over total time (operated cycles + downtime); a fleet's total cost over a horizon is that
rate times assets times horizon. Compared with run-to-failure and with the best fixed
interval (chosen with hindsight on the same fleet, which favours the fixed schedule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

ALPHAS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
OFFSETS = (0.0, 2.0, 5.0, 10.0, 20.0)
Z90 = float(norm.ppf(0.9))


@dataclass(frozen=True)
class Costs:
    unplanned_failure: float = 100.0
    planned_maintenance: float = 20.0
    downtime_per_cycle: float = 1.0
    planned_downtime: float = 2.0
    unplanned_downtime: float = 10.0

    def planned(self) -> float:
        return self.planned_maintenance + self.downtime_per_cycle * self.planned_downtime

    def failure(self) -> float:
        return self.unplanned_failure + self.downtime_per_cycle * self.unplanned_downtime


@dataclass
class LifeForecast:
    """One life's readings in time order with the model's RUL quantiles at each reading."""

    times: np.ndarray
    low: np.ndarray  # 10% quantile
    median: np.ndarray
    high: np.ndarray  # 90% quantile
    failure_time: float
    start_time: float = 0.0


def rul_quantile(low, median, high, alpha: float) -> np.ndarray:
    """The ``alpha`` quantile of RUL from the 10/50/90% quantiles with normal tails."""
    z = float(norm.ppf(alpha))
    spread = (np.asarray(median) - np.asarray(low)) if alpha < 0.5 else (high - median)
    return np.asarray(median) + np.maximum(spread, 0.0) / Z90 * z


def maintenance_time(life: LifeForecast, alpha: float, offset: float, step: float = 1.0) -> float:
    """When the policy maintains this life (may be after its last reading)."""
    planned = life.times + rul_quantile(life.low, life.median, life.high, alpha) - offset
    due = np.flatnonzero(planned <= life.times + step)
    if len(due):
        return float(life.times[due[0]])
    return float(planned[-1])


def simulate(maintain_at: np.ndarray, failure_at: np.ndarray, start: np.ndarray, costs: Costs):
    """Total cost, time, failures and planned maintenances of one decision per life."""
    planned = maintain_at < failure_at
    cost = np.where(planned, costs.planned(), costs.failure())
    downtime = np.where(planned, costs.planned_downtime, costs.unplanned_downtime)
    operated = np.where(planned, maintain_at, failure_at) - start
    total_cost, total_time = float(cost.sum()), float((operated + downtime).sum())
    return {
        "cost_rate": total_cost / max(total_time, 1e-9),
        "total_cost": total_cost,
        "operated": float(operated.sum()),
        "failures": int((~planned).sum()),
        "planned": int(planned.sum()),
        "mean_unused_life": float(np.mean(np.where(planned, failure_at - maintain_at, 0.0))),
    }


def choose_policy(lives: list[LifeForecast], costs: Costs) -> dict:
    """The (alpha, offset) with the lowest cost rate on these (validation) lives."""
    failure = np.array([life.failure_time for life in lives])
    start = np.array([life.start_time for life in lives])
    best = None
    for alpha in ALPHAS:
        for offset in OFFSETS:
            when = np.array([maintenance_time(life, alpha, offset) for life in lives])
            outcome = simulate(when, failure, start, costs)
            if best is None or outcome["cost_rate"] < best["cost_rate"] - 1e-12:
                best = {"alpha": alpha, "offset": offset, **outcome}
    return best


def compare_policies(
    lives: list[LifeForecast], costs: Costs, alpha: float, offset: float, horizon: float
) -> dict:
    """Our policy vs run-to-failure vs the best fixed interval (hindsight) on these lives."""
    failure = np.array([life.failure_time for life in lives])
    start = np.array([life.start_time for life in lives])
    ours = simulate(
        np.array([maintenance_time(x, alpha, offset) for x in lives]), failure, start, costs
    )
    run_to_failure = simulate(np.full(len(lives), np.inf), failure, start, costs)
    ages = failure - start
    best_fixed = None
    for interval in np.arange(1, int(np.ceil(ages.max())) + 1):
        outcome = simulate(start + interval, failure, start, costs)
        if best_fixed is None or outcome["cost_rate"] < best_fixed["cost_rate"]:
            best_fixed = {"interval": float(interval), **outcome}
    rows = {
        "predictive policy": ours,
        "run to failure": run_to_failure,
        "best fixed interval": best_fixed,
    }
    for outcome in rows.values():
        outcome["fleet_cost_over_horizon"] = outcome["cost_rate"] * len(lives) * horizon
    return {
        "assets": len(lives),
        "horizon": horizon,
        "alpha": alpha,
        "offset": offset,
        "policies": rows,
        "saving_vs_fixed": 1.0 - ours["cost_rate"] / best_fixed["cost_rate"],
        "saving_vs_run_to_failure": 1.0 - ours["cost_rate"] / run_to_failure["cost_rate"],
    }
