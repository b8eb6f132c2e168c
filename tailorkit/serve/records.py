"""Plain records the service works with: a tenant, an experiment and its arms; the sticky,
hashed assignment of a unit (customer, user) to an arm."""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tailorkit.errors import TailorkitError

EXPERIMENT_MODES = ("split", "shadow")
WEIGHT_SUM_TOLERANCE = 1e-6


# ----------------------------------------------------------------------------- public types
@dataclass(frozen=True)
class Tenant:
    id: int
    name: str


@dataclass(frozen=True)
class StoredFeedback:
    """A committed feedback event: its id, the digest of its body, and whether it was stored
    by an earlier request with the same idempotency key (``replayed``)."""

    feedback_id: str
    body_digest: str | None
    replayed: bool


@dataclass(frozen=True)
class Arm:
    alias: str
    weight: float


@dataclass(frozen=True)
class ExperimentPlan:
    """What decides an experiment, fixed at its creation: the primary outcome and guardrails
    (``NAME[:higher|lower]``), the minimum units per arm and duration, whether a ``ship``
    moves the champion's alias (and a breached guardrail ends the experiment) on its own, and
    how much worse the challenger may be on the automatic guardrails (``loop.arm_guardrails``):
    its latency p99 (relative) and its fairness gap (absolute)."""

    primary: str
    guardrails: tuple[str, ...] = ()
    min_units: int = 1_000
    min_duration_s: float = 0.0
    auto_promote: bool = False
    latency_tolerance: float = 0.2
    fairness_tolerance: float = 0.05

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "guardrails": list(self.guardrails)}


@dataclass(frozen=True)
class Experiment:
    id: int
    project: str
    name: str
    mode: str
    arms: tuple[Arm, ...]
    status: str
    created_at: datetime
    stopped_at: datetime | None
    plan: ExperimentPlan | None = None

    def assign(self, unit_id: str) -> Arm:
        """The arm of ``unit_id``: a stable hash, so the same unit always gets the same arm."""
        if self.mode == "shadow":
            return self.arms[0]
        point = unit_point(self.id, unit_id)
        total = sum(a.weight for a in self.arms)
        cumulative = 0.0
        for arm in self.arms:
            cumulative += arm.weight / total
            if point < cumulative:
                return arm
        return self.arms[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "mode": self.mode,
            "arms": [{"alias": a.alias, "weight": a.weight} for a in self.arms],
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
            "plan": self.plan.as_dict() if self.plan else None,
        }


def unit_point(experiment_id: int, unit_id: str) -> float:
    """A uniform number in [0, 1) from the experiment and the unit (SHA-256, not ``hash``)."""
    digest = hashlib.sha256(f"{experiment_id}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def unit_hash(unit_id: str, key: bytes) -> str:
    """The stored form of a unit id: an HMAC-SHA256 under the workspace's secret ``key``, so no
    raw identifier is kept and a low-entropy one cannot be found by hashing guesses."""
    return hmac.new(key, unit_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def check_arms(arms: list[Arm], mode: str) -> None:
    if mode not in EXPERIMENT_MODES:
        raise TailorkitError(f"experiment mode must be one of {', '.join(EXPERIMENT_MODES)}")
    if len(arms) < 2:
        raise TailorkitError("an experiment needs at least two arms (e.g. champion and challenger)")
    if len({a.alias for a in arms}) != len(arms):
        raise TailorkitError("each alias may appear in one arm only")
    if mode == "shadow" and len(arms) != 2:
        raise TailorkitError("a shadow experiment has two arms: the live alias, then the shadow")
    if mode == "split" and any(not a.weight > 0 for a in arms):
        raise TailorkitError("every arm of a split experiment needs a weight above 0")
    total = sum(a.weight for a in arms)
    if mode == "split" and not math.isclose(total, 1.0, abs_tol=WEIGHT_SUM_TOLERANCE):
        weights = " + ".join(f"{a.alias}={a.weight:g}" for a in arms)
        raise TailorkitError(
            f"the weights of a split experiment are shares of the traffic and must sum to 1: "
            f"{weights} = {total:g} (e.g. --arm champion=0.9 --arm challenger=0.1)"
        )


def check_plan(plan: ExperimentPlan | None, arms: list[Arm], mode: str) -> None:
    if plan is None:
        return
    if not plan.primary.strip():
        raise TailorkitError("--primary: name the feedback outcome that decides the experiment")
    if plan.min_units < 2 or plan.min_duration_s < 0:
        raise TailorkitError("--min-units must be at least 2 and --min-duration at least 0")
    if not (plan.latency_tolerance >= 0 and plan.fairness_tolerance >= 0):
        raise TailorkitError("--latency-tolerance and --fairness-tolerance must be at least 0")
    if plan.auto_promote and len(arms) != 2:
        raise TailorkitError("--auto-promote needs an experiment of two arms")
    if mode == "shadow" and plan.guardrails:
        raise TailorkitError(
            "--guardrail: a shadow challenger's answers are never shown, so outcomes cannot "
            "compare the arms (the shadow comparison checks log loss or hit rate itself)"
        )
