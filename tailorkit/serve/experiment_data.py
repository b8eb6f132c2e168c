"""An experiment's data per assignment unit, read from the event store for the analysis.

Every unit assigned to an arm counts (``serve_assignments``); its value for an outcome is read
from the feedback of the requests it made in that experiment: the largest value when every
value of the outcome is 0 or 1 (a binary outcome: did the unit convert, default, click), the
sum otherwise (revenue, loss). A unit without feedback for the outcome counts 0, as an event
metric counts a user without events. A ratio metric sums its two outcomes per unit; ``ctr@k``
and ``hit_rate@k`` read each recommend answer's items beside the ``click`` feedback on it.

The same outcome on the unit's requests to the project *before* the experiment began is its
pre-period covariate, for CUPED.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import or_, select, true

from tailorkit.loop.decision import Rule
from tailorkit.loop.experiment_analysis import MetricSpec, analyze
from tailorkit.serve.arm_requests import arm_requests, fairness_limits, tolerances_of
from tailorkit.serve.event_tables import AssignmentRow, FeedbackRow, ServedRequestRow
from tailorkit.serve.records import Experiment
from tailorkit.serve.shadow_data import shadow_analysis

PerUnit = dict[str, dict[str, list[float]]]  # outcome -> unit -> values


@dataclass
class ArmData:
    """One arm's units and, per metric, one value per unit (in the order of ``units``), or the
    numerators and denominators of a ratio metric; ``covariates``: pre-period values."""

    units: list[str] = field(default_factory=list)
    values: dict[str, np.ndarray | tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    covariates: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class ExperimentData:
    arms: dict[str, ArmData]
    binary: dict[str, bool]  # per outcome metric
    feedback_events: dict[str, int]  # per outcome, every arm


def experiment_data(
    store, experiment: Experiment, metrics: list[MetricSpec], until: datetime | None = None
) -> ExperimentData:
    """Per arm, the units and their value of each metric (an ``EventStore``'s data); with
    ``until``, as they stood then: units first seen and feedback received by that time."""
    outcomes = sorted({o for m in metrics for o in m.outcomes})
    with store.read() as session:
        assigned = session.execute(
            select(AssignmentRow.arm, AssignmentRow.unit_hash)
            .where(AssignmentRow.experiment_id == experiment.id)
            .where(AssignmentRow.first_seen_at <= until if until else true())
            .order_by(AssignmentRow.id)
        ).all()
        during = _feedback(
            session,
            outcomes,
            ServedRequestRow.experiment_id == experiment.id,
            FeedbackRow.received_at <= until if until else true(),
        )
        before = _feedback(
            session,
            [m.name for m in metrics if m.kind == "outcome"],
            ServedRequestRow.project == experiment.project,
            ServedRequestRow.at < experiment.created_at,
            or_(
                ServedRequestRow.experiment_id.is_(None),
                ServedRequestRow.experiment_id != experiment.id,
            ),
        )
        ranked = [m for m in metrics if m.kind in ("ctr", "hit_rate")]
        answers = _recommend_answers(session, experiment.id, until) if ranked else []
    per_unit = _per_unit(during)
    binary = {o: all(v in (0.0, 1.0) for vs in per_unit[o].values() for v in vs) for o in outcomes}
    arms: dict[str, ArmData] = defaultdict(ArmData)
    for arm, unit in assigned:
        arms[arm].units.append(unit)
    clicks = _clicks(during)
    pre_period = _per_unit(before)
    for data in arms.values():
        for metric in metrics:
            data.values[metric.name] = _metric_values(
                metric, data.units, per_unit, binary, answers, clicks
            )
            if metric.kind == "outcome" and pre_period[metric.name]:
                data.covariates[metric.name] = _unit_values(
                    data.units, pre_period[metric.name], binary[metric.name]
                )
    counts = {o: sum(len(vs) for vs in per_unit[o].values()) for o in outcomes}
    return ExperimentData(dict(arms), {m.name: binary.get(m.name, False) for m in metrics}, counts)


def _feedback(session, outcomes: list[str], *where) -> list:
    """(unit, request, outcome, value, label) of the feedback on the requests ``where`` says."""
    if not outcomes:
        return []
    return session.execute(
        select(
            ServedRequestRow.unit_hash,
            ServedRequestRow.request_id,
            FeedbackRow.outcome,
            FeedbackRow.value,
            FeedbackRow.label,
        )
        .join(FeedbackRow, FeedbackRow.request_id == ServedRequestRow.request_id)
        .where(FeedbackRow.outcome.in_(outcomes), *where)
    ).all()


def _recommend_answers(
    session, experiment_id: int, until: datetime | None
) -> list[tuple[str, str, list[str]]]:
    """(unit, request, item ids in rank order) of each recommend answer in the experiment."""
    rows = session.execute(
        select(
            ServedRequestRow.unit_hash, ServedRequestRow.request_id, ServedRequestRow.outputs_json
        ).where(
            ServedRequestRow.experiment_id == experiment_id,
            ServedRequestRow.endpoint == "recommend",
            ServedRequestRow.at <= until if until else true(),
        )
    ).all()
    answers = []
    for unit, request_id, outputs in rows:
        items = [str(i["item_id"]) for o in json.loads(outputs) for i in o.get("items", [])]
        answers.append((unit, request_id, items))
    return answers


def _per_unit(events: list) -> PerUnit:
    per_unit: PerUnit = defaultdict(lambda: defaultdict(list))
    for unit, _request, outcome, value, _label in events:
        if unit is not None and value is not None:
            per_unit[outcome][unit].append(float(value))
    return per_unit


def _clicks(events: list) -> dict[str, set[str]]:
    """The clicked item ids (``click`` feedback's labels) per request."""
    clicks: dict[str, set[str]] = defaultdict(set)
    for _unit, request_id, outcome, _value, label in events:
        if outcome == "click" and label is not None:
            clicks[request_id].add(str(label))
    return clicks


def _unit_values(units: list[str], observed: dict[str, list[float]], binary: bool) -> np.ndarray:
    pick = max if binary else sum
    return np.array([pick(observed[u]) if u in observed else 0.0 for u in units], dtype=float)


def _metric_values(metric, units, per_unit: PerUnit, binary, answers, clicks):
    """One arm's values of ``metric``: per unit, or (numerators, denominators) per unit."""
    if metric.kind == "outcome":
        return _unit_values(units, per_unit[metric.name], binary[metric.name])
    if metric.kind == "ratio":
        return tuple(_unit_values(units, per_unit[o], False) for o in metric.outcomes)
    numerator, denominator = defaultdict(float), defaultdict(float)
    for unit, request_id, items in answers:
        shown = items[: metric.k]
        hits = len(clicks.get(request_id, set()).intersection(shown))
        if metric.kind == "ctr":
            numerator[unit] += hits
            denominator[unit] += len(shown)
        else:
            numerator[unit] += hits > 0
            denominator[unit] += 1
    return (
        np.array([numerator[u] for u in units], dtype=float),
        np.array([denominator[u] for u in units], dtype=float),
    )


def experiment_analysis(
    store,
    experiment: Experiment,
    *,
    primary: MetricSpec,
    guardrails: list[MetricSpec],
    rule: Rule,
    method: str = "sequential",
    until: datetime | None = None,
) -> dict:
    """The analysis of ``experiment`` on its data so far (``loop.experiment_analysis``), or on
    its data as it stood at ``until``; a shadow experiment's paired comparison comes from
    ``serve.shadow_data``."""
    if experiment.mode == "shadow":
        return shadow_analysis(
            store, experiment, primary=primary, guardrails=guardrails, rule=rule, method=method
        )
    data = experiment_data(store, experiment, [primary, *guardrails], until)
    end = until or experiment.stopped_at or datetime.now(timezone.utc)
    result = analyze(
        arms=[(a.alias, a.weight) for a in experiment.arms],
        units={arm: len(d.units) for arm, d in data.arms.items()},
        values={arm: d.values for arm, d in data.arms.items()},
        binary=data.binary,
        covariates={arm: d.covariates for arm, d in data.arms.items()},
        primary=primary,
        guardrails=guardrails,
        rule=rule,
        duration_s=(end - experiment.created_at).total_seconds(),
        method=method,
        requests=arm_requests(store, experiment.id, until),  # the automatic guardrails
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
