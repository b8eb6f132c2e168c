"""A shadow experiment's labelled cases, read from the event store for the paired comparison.

Each answered request of the experiment holds the champion's outputs (``outputs_json``) and
the shadow challenger's (``shadow_json``: ``{"alias", "model_version", "predictions"}``, or
``{"alias", "error"}`` when it failed). Feedback with the plan's primary outcome labels them:

- ``predict`` (probabilities): the feedback's ``value`` (0 or 1) labels the row ``row`` of the
  request (a one-row request needs no ``row``); the latest event per row wins;
- ``recommend``: the feedback's ``label`` names an item the user engaged with (relevant unless
  its ``value`` is 0); a request with feedback is a case, whether or not an item was relevant.

Events that cannot label a case are counted by reason and reported as warnings.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import select

from tailorkit.errors import TailorkitError
from tailorkit.loop.decision import Rule
from tailorkit.loop.experiment_analysis import MetricSpec
from tailorkit.loop.shadow_analysis import ProbabilityPairs, RankingPairs, analyze_shadow
from tailorkit.serve.event_tables import FeedbackRow, ServedRequestRow
from tailorkit.serve.records import Experiment

ENDPOINTS = ("predict", "recommend")


@dataclass
class ShadowData:
    pairs: ProbabilityPairs | RankingPairs
    feedback_events: int
    skipped: Counter = field(default_factory=Counter)  # reason -> feedback events


def shadow_data(store, experiment_id: int, outcome: str) -> ShadowData:
    """The labelled cases of a shadow experiment (an ``EventStore``'s data)."""
    with store.read() as session:
        events = session.execute(
            select(
                ServedRequestRow.request_id,
                ServedRequestRow.endpoint,
                ServedRequestRow.n_rows,
                FeedbackRow.row,
                FeedbackRow.value,
                FeedbackRow.label,
            )
            .join(FeedbackRow, FeedbackRow.request_id == ServedRequestRow.request_id)
            .where(ServedRequestRow.experiment_id == experiment_id, FeedbackRow.outcome == outcome)
            .order_by(FeedbackRow.id)
        ).all()
        labelled = select(FeedbackRow.request_id).where(FeedbackRow.outcome == outcome)
        outputs = {
            request_id: (json.loads(live), json.loads(shadow) if shadow else None)
            for request_id, live, shadow in session.execute(
                select(
                    ServedRequestRow.request_id,
                    ServedRequestRow.outputs_json,
                    ServedRequestRow.shadow_json,
                ).where(
                    ServedRequestRow.experiment_id == experiment_id,
                    ServedRequestRow.request_id.in_(labelled),
                )
            )
        }
    skipped: Counter = Counter()
    endpoint = next((e.endpoint for e in events if e.endpoint in ENDPOINTS), "predict")
    labels = _labels(events, endpoint, skipped)
    build = _probability_pairs if endpoint == "predict" else _ranking_pairs
    return ShadowData(build(labels, outputs, skipped), len(events), skipped)


def shadow_analysis(
    store,
    experiment: Experiment,
    *,
    primary: MetricSpec,
    guardrails: list[MetricSpec],
    rule: Rule,
    method: str = "sequential",
) -> dict:
    """The paired comparison of a shadow experiment (``loop.shadow_analysis``), the JSON of an
    A/B analysis: ``decision``, ``reason``, ``srm_p_value`` (None), ``units``, ``metrics``."""
    if guardrails:
        raise TailorkitError(
            f"experiment {experiment.id} is a shadow comparison: the challenger's answers are "
            f"never shown, so outcome guardrails ({', '.join(g.name for g in guardrails)}) "
            "cannot compare the arms; it checks log loss (hit rate for recommendations) itself"
        )
    data = shadow_data(store, experiment.id, primary.name)
    end = experiment.stopped_at or datetime.now(timezone.utc)
    result = analyze_shadow(
        arms=[arm.alias for arm in experiment.arms],
        pairs=data.pairs,
        rule=rule,
        duration_s=(end - experiment.created_at).total_seconds(),
        method=method,
    )
    notes = [f"{n} {primary.name} label(s) skipped: {why}" for why, n in data.skipped.items()]
    if notes:
        result["warnings"] = [*result.get("warnings", []), *notes]
    return {
        "experiment": experiment.id,
        "project": experiment.project,
        "status": experiment.status,
        "mode": "shadow",
        "feedback_events": {primary.name: data.feedback_events},
        **result,
    }


def _labels(events, endpoint: str, skipped: Counter) -> dict:
    """(request, row) -> 0/1 label for probabilities; request -> relevant items else."""
    labels: dict = {}
    for request_id, kind, n_rows, row, value, label in events:
        if kind != endpoint:
            skipped[f"a {kind} request (this experiment compares {endpoint} outputs)"] += 1
        elif kind == "recommend":
            items = labels.setdefault(request_id, set())
            if label is None:
                skipped["no item named in `label`"] += 1
            elif value is None or value > 0:
                items.add(str(label))
        elif row is None and n_rows != 1:
            skipped[f"no `row` for a request of {n_rows} rows"] += 1
        elif row is not None and row >= n_rows:
            skipped["`row` beyond the request's rows"] += 1
        elif value not in (0.0, 1.0):
            skipped["`value` is not 0 or 1"] += 1
        else:
            labels[(request_id, row or 0)] = value
    return labels


def _shadow_outputs(live, shadow, skipped: Counter) -> list | None:
    """The challenger's outputs beside the champion's, or None (counted) when missing."""
    if shadow is None:
        skipped["the request has no shadow outputs"] += 1
    elif "error" in shadow:
        skipped["the shadow model failed on the request"] += 1
    elif len(shadow.get("predictions", [])) != len(live):
        skipped["the shadow outputs do not match the live ones"] += 1
    else:
        return shadow["predictions"]
    return None


def _probability_pairs(labels: dict, outputs: dict, skipped: Counter) -> ProbabilityPairs:
    y, champion, challenger = [], [], []
    for (request_id, row), label in labels.items():
        live, shadow = outputs[request_id]
        predictions = _shadow_outputs(live, shadow, skipped)
        if predictions is None:
            continue
        y.append(label)
        champion.append(live[row]["probability"])
        challenger.append(predictions[row]["probability"])
    return ProbabilityPairs(*(np.array(v, dtype=float) for v in (y, champion, challenger)))


def _ranking_pairs(labels: dict, outputs: dict, skipped: Counter) -> RankingPairs:
    pairs = RankingPairs()
    for request_id, relevant in labels.items():
        live, shadow = outputs[request_id]
        predictions = _shadow_outputs(live, shadow, skipped)
        if predictions is None:
            continue
        pairs.champion.append([str(i["item_id"]) for i in live[0]["items"]])
        pairs.challenger.append([str(i["item_id"]) for i in predictions[0]["items"]])
        pairs.relevant.append(relevant)
    return pairs
