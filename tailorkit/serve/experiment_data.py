"""An experiment's data per assignment unit, read from the event store for the analysis.

Every unit assigned to an arm counts (``serve_assignments``); its value for an outcome is read
from the feedback of the requests it made in that experiment: the largest value when every
value of the outcome is 0 or 1 (a binary outcome: did the unit convert, default, click), the
sum otherwise (revenue, loss). A unit without feedback for the outcome counts 0, as an event
metric counts a user without events.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import select

from tailorkit.errors import TailorkitError
from tailorkit.loop.decision import Rule
from tailorkit.loop.experiment_analysis import MetricSpec, analyze
from tailorkit.serve.arm_requests import arm_requests, fairness_limits, tolerances_of
from tailorkit.serve.event_tables import AssignmentRow, FeedbackRow, ServedRequestRow
from tailorkit.serve.records import Experiment


@dataclass
class ArmData:
    """One arm's units and, per outcome, one value per unit (in the order of ``units``)."""

    units: list[str] = field(default_factory=list)
    values: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class ExperimentData:
    arms: dict[str, ArmData]
    binary: dict[str, bool]  # per outcome
    feedback_events: dict[str, int]  # per outcome, every arm


def experiment_data(store, experiment_id: int, outcomes: list[str]) -> ExperimentData:
    """Per arm, the units and their value of each of ``outcomes`` (an ``EventStore``'s data)."""
    with store.read() as session:
        assigned = session.execute(
            select(AssignmentRow.arm, AssignmentRow.unit_hash)
            .where(AssignmentRow.experiment_id == experiment_id)
            .order_by(AssignmentRow.id)
        ).all()
        events = session.execute(
            select(ServedRequestRow.unit_hash, FeedbackRow.outcome, FeedbackRow.value)
            .join(FeedbackRow, FeedbackRow.request_id == ServedRequestRow.request_id)
            .where(
                ServedRequestRow.experiment_id == experiment_id,
                FeedbackRow.outcome.in_(outcomes),
            )
        ).all()
    per_unit: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for unit, outcome, value in events:
        if unit is not None and value is not None:
            per_unit[outcome][unit].append(float(value))
    binary = {o: all(v in (0.0, 1.0) for vs in per_unit[o].values() for v in vs) for o in outcomes}
    arms: dict[str, ArmData] = defaultdict(ArmData)
    for arm, unit in assigned:
        arms[arm].units.append(unit)
    for data in arms.values():
        for outcome in outcomes:
            pick = max if binary[outcome] else sum
            observed = per_unit[outcome]
            data.values[outcome] = np.array(
                [pick(observed[u]) if u in observed else 0.0 for u in data.units], dtype=float
            )
    counts = {o: sum(len(vs) for vs in per_unit[o].values()) for o in outcomes}
    return ExperimentData(dict(arms), binary, counts)


def experiment_analysis(
    store,
    experiment: Experiment,
    *,
    primary: MetricSpec,
    guardrails: list[MetricSpec],
    rule: Rule,
    method: str = "sequential",
) -> dict:
    """The analysis of ``experiment`` on its data so far (``loop.experiment_analysis``)."""
    if experiment.mode == "shadow":
        raise TailorkitError(
            f"experiment {experiment.id} is a shadow comparison: every unit sees the champion, "
            "so there is no A/B result to analyse"
        )
    data = experiment_data(store, experiment.id, [primary.name, *(g.name for g in guardrails)])
    end = experiment.stopped_at or datetime.now(timezone.utc)
    result = analyze(
        arms=[(a.alias, a.weight) for a in experiment.arms],
        units={arm: len(d.units) for arm, d in data.arms.items()},
        values={arm: d.values for arm, d in data.arms.items()},
        binary=data.binary,
        primary=primary,
        guardrails=guardrails,
        rule=rule,
        duration_s=(end - experiment.created_at).total_seconds(),
        method=method,
        requests=arm_requests(store, experiment.id),  # the automatic guardrails
        tolerances=tolerances_of(experiment.plan),
        fairness_limits=fairness_limits(store.registry, experiment),
    )
    return {
        "experiment": experiment.id,
        "project": experiment.project,
        "status": experiment.status,
        "feedback_events": data.feedback_events,
        **result,
    }
