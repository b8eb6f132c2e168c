"""The experiment report's document: the experiment and its plan, the current analysis, the
stored decisions, and the primary metric's lift over time (``report.experiment_report``
draws it; ``tailorkit experiments report`` and ``GET .../experiments/{id}/report`` serve it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from tailorkit.evaluate.experiment_stats import SRM_ALPHA
from tailorkit.loop.decision import Rule
from tailorkit.loop.experiment_analysis import MetricSpec
from tailorkit.report.jsonable import to_jsonable
from tailorkit.serve.experiment_data import experiment_analysis
from tailorkit.serve.experiment_decisions import decisions
from tailorkit.serve.experiment_timeline import (
    DEFAULT_POINTS,
    cutoffs,
    primary_metric,
    timeline,
)
from tailorkit.serve.records import Experiment


def report_document(
    store,
    experiment: Experiment,
    *,
    primary: MetricSpec,
    guardrails: Sequence[MetricSpec] = (),
    rule: Rule = Rule(),
    method: str = "sequential",
    points: int = DEFAULT_POINTS,
) -> dict[str, Any]:
    """The report of ``experiment`` analysed by ``primary``, ``guardrails`` and ``rule`` (read
    only: nothing is stored and nothing acts on the decision), as plain JSON."""
    options = {"primary": primary, "guardrails": list(guardrails), "rule": rule}
    analysis = experiment_analysis(store, experiment, **options, method=method)
    moments = cutoffs(store, experiment, points)
    return to_jsonable(
        {
            "experiment": experiment.as_dict(),
            "generated_at": datetime.now(timezone.utc).isoformat(),
            "analysis_options": {
                "primary": _named(primary),
                "guardrails": [_named(g) for g in guardrails],
                "min_units": rule.min_units,
                "min_duration_s": rule.min_duration_s,
                "method": method,
                "srm_alpha": SRM_ALPHA,
            },
            "analysis": analysis,
            "decisions": [_stored(d) for d in decisions(store, experiment.id)],
            "timeline": {
                "metric": primary.name,
                "points": timeline(store, experiment, moments, **options),
            },
        }
    )


def _named(metric: MetricSpec) -> str:
    return f"{metric.name}:{'higher' if metric.higher_is_better else 'lower'}"


def _stored(decision: dict[str, Any]) -> dict[str, Any]:
    """A stored decision with its reason and primary lift (not the whole analysis)."""
    analysis = decision["analysis"]
    primary = primary_metric(analysis)
    return {
        "at": decision["at"],
        "decision": decision["decision"],
        "action": decision["action"],
        "actor": decision["actor"],
        "reason": analysis.get("reason"),
        "units": analysis.get("units"),
        "lift": primary.get("lift"),
        "ci_low": primary.get("ci_low"),
        "ci_high": primary.get("ci_high"),
    }
