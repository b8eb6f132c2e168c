"""An experiment's analysis as it stood at successive moments: the primary metric's lift over
time with its sequential confidence sequence, and the fixed-horizon interval for contrast.

Each point re-runs the analysis on the data recorded by a cut-off: the units first seen by then
(``serve_assignments.first_seen_at``) and the feedback received by then
(``serve_feedback.received_at``). The confidence sequence is valid at every one of these looks
at once; the fixed-horizon interval only at one look planned in advance, which is why it is
narrower and why reading it after every batch ships too often.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import select

from tailorkit.loop.decision import Rule
from tailorkit.loop.experiment_analysis import MetricSpec
from tailorkit.registry.convert import aware
from tailorkit.serve.event_tables import AssignmentRow
from tailorkit.serve.experiment_data import experiment_analysis
from tailorkit.serve.records import Experiment

DEFAULT_POINTS = 20


def cutoffs(store, experiment: Experiment, points: int = DEFAULT_POINTS) -> list[datetime]:
    """Up to ``points`` moments, one after each equal share of the units assigned so far (the
    time the unit completing the share was first seen), the last the experiment's end (its stop,
    or now) so that the last point is the current analysis."""
    with store.read() as session:
        seen = session.scalars(
            select(AssignmentRow.first_seen_at)
            .where(AssignmentRow.experiment_id == experiment.id)
            .order_by(AssignmentRow.first_seen_at)
        ).all()
    end = experiment.stopped_at or datetime.now(timezone.utc)
    if not seen:
        return [end]
    shares = np.linspace(0, len(seen), points + 1)[1:-1]
    moments = {aware(seen[int(np.ceil(share)) - 1]) for share in shares if share >= 1}
    return [*sorted(m for m in moments if m < end), end]


def timeline(
    store,
    experiment: Experiment,
    moments: Sequence[datetime],
    *,
    primary: MetricSpec,
    guardrails: Sequence[MetricSpec] = (),
    rule: Rule = Rule(),
) -> list[dict[str, Any]]:
    """Per moment, the units and decision then, and the primary metric's lift with its
    confidence sequence (``ci_low``, ``ci_high``) and fixed-horizon interval (``fixed_ci_low``,
    ``fixed_ci_high``); the lift fields are None while the metric cannot be estimated."""
    options = {"primary": primary, "guardrails": list(guardrails), "rule": rule}
    points = []
    for moment in moments:
        at = moment.astimezone(timezone.utc)
        sequential = experiment_analysis(store, experiment, **options, until=at)
        fixed = experiment_analysis(store, experiment, **options, method="fixed", until=at)
        now, contrast = primary_metric(sequential), primary_metric(fixed)
        points.append(
            {
                "at": at.isoformat(),
                "units": sum(sequential["units"].values()),
                "units_per_arm": sequential["units"],
                "decision": sequential["decision"],
                "reason": sequential["reason"],
                "lift": now.get("lift"),
                "ci_low": now.get("ci_low"),
                "ci_high": now.get("ci_high"),
                "p_value": now.get("p_value"),
                "fixed_ci_low": contrast.get("ci_low"),
                "fixed_ci_high": contrast.get("ci_high"),
            }
        )
    return points


def primary_metric(analysis: dict) -> dict[str, Any]:
    """The primary metric's entry of an analysis (empty while it cannot be estimated)."""
    return next((m for m in analysis["metrics"] if m["role"] == "primary"), {})
