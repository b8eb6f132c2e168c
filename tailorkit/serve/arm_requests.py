"""An experiment's served requests per arm, read from the event store for the automatic
guardrails (``loop.arm_guardrails``): latency, failures per unit, and the protected attributes
and decisions of scored rows; with the tolerances of its plan and the fairness limits of the
challenger's spec."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

import numpy as np
from sqlalchemy import and_, select, true

from tailorkit.errors import TailorkitError
from tailorkit.gates import parse_requirement
from tailorkit.loop.arm_guardrails import ArmRequests, Tolerances
from tailorkit.registry import Registry
from tailorkit.serve.event_tables import ServedRequestRow
from tailorkit.serve.records import Experiment, ExperimentPlan
from tailorkit.solutions.credit_risk.predict import DECISION_FILE

FAILED = 500  # a status from here on is the arm's failure


def arm_requests(
    store, experiment_id: int, until: datetime | None = None
) -> dict[str, ArmRequests]:
    """Per arm, its requests' latency (answered ones), requests and failures per unit, and
    each scored row's protected attributes and decision (rows that recorded them); with
    ``until``, the requests answered by then."""
    experiment_rows = and_(
        ServedRequestRow.experiment_id == experiment_id,
        ServedRequestRow.at <= until if until else true(),
    )
    with store.read() as session:
        requests = session.execute(
            select(
                ServedRequestRow.arm,
                ServedRequestRow.unit_hash,
                ServedRequestRow.latency_ms,
                ServedRequestRow.status,
            ).where(experiment_rows)
        ).all()
        scored = session.execute(
            select(
                ServedRequestRow.arm,
                ServedRequestRow.protected_json,
                ServedRequestRow.outputs_json,
            ).where(experiment_rows, ServedRequestRow.protected_json.is_not(None))
        ).all()
    latency: dict[str, list[float]] = defaultdict(list)
    per_unit: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for arm, unit, latency_ms, status in requests:
        failed = status is not None and status >= FAILED
        counts = per_unit[arm][unit]
        counts[0] += 1
        counts[1] += int(failed)
        if not failed:
            latency[arm].append(latency_ms)
    arms = {
        arm: ArmRequests(
            latency_ms=np.asarray(latency[arm], dtype=float),
            requests=np.array([c[0] for c in units.values()], dtype=float),
            failures=np.array([c[1] for c in units.values()], dtype=float),
        )
        for arm, units in per_unit.items()
    }
    for arm, protected_json, outputs_json in scored:
        if arm not in arms:
            continue
        values, outputs = json.loads(protected_json), json.loads(outputs_json)
        for index, output in enumerate(outputs):
            arms[arm].protected.append(
                {a: (v[index] if v and index < len(v) else None) for a, v in values.items()}
            )
            arms[arm].decisions.append(output.get("decision"))
    return arms


def tolerances_of(plan: ExperimentPlan | None) -> Tolerances:
    if plan is None:
        return Tolerances()
    return Tolerances(latency=plan.latency_tolerance, fairness=plan.fairness_tolerance)


def fairness_limits(registry: Registry, experiment: Experiment) -> dict[str, float]:
    """``{attribute: L}`` for each ``demographic_parity_difference[attribute] <= L`` (or ``<``)
    of the spec the challenger was trained under (its ``decision.json``); none when it has no
    such file or requirement."""
    challenger = experiment.arms[-1].alias
    try:
        version = registry.resolve(f"{experiment.project}@{challenger}")
        decision = json.loads((version.path / DECISION_FILE).read_text())
    except (TailorkitError, OSError, ValueError):
        return {}
    limits: dict[str, float] = {}
    for text in decision.get("requirements") or ():
        try:
            requirement = parse_requirement(text)
        except TailorkitError:
            continue
        if requirement.metric == "demographic_parity_difference" and requirement.op in ("<=", "<"):
            limits[str(requirement.qualifier)] = requirement.threshold
    return limits
