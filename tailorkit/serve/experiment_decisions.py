"""Experiments that decide themselves: analyse by the experiment's plan, store each decision
with its analysis, and act on it when the plan says ``auto_promote``.

On ``ship`` the champion's alias moves to the challenger's version (an audit record
``experiment E: lift +x% [lo, hi]``; the service hot-swaps it), and the experiment ends as
``shipped``. On a breached guardrail the experiment ends as ``halted``: with no experiment
running, every unit is served by the champion again. Without ``auto_promote`` the decision is
stored and shown, and nothing moves.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from tailorkit.errors import TailorkitError
from tailorkit.loop.decision import Rule, effect_text
from tailorkit.loop.experiment_analysis import parse_metric
from tailorkit.registry.convert import aware
from tailorkit.registry.engine import DatabaseUnavailable
from tailorkit.serve.event_tables import DecisionRow
from tailorkit.serve.experiment_data import experiment_analysis
from tailorkit.serve.records import Experiment

log = logging.getLogger("tailorkit.serve")


def planned_analysis(store, experiment: Experiment, *, method: str = "sequential") -> dict:
    """The analysis of ``experiment`` by the primary metric, guardrails and rule of its plan."""
    return experiment_analysis(store, experiment, **plan_options(experiment), method=method)


def plan_options(experiment: Experiment) -> dict[str, Any]:
    """The ``primary``, ``guardrails`` and ``rule`` of ``experiment``'s plan, as
    ``experiment_analysis`` takes them."""
    plan = experiment.plan
    if plan is None:
        raise TailorkitError(
            f"experiment {experiment.id} was created without --primary: name the metric "
            "with --primary OUTCOME (e.g. `tailorkit experiments analyze ID --primary OUTCOME`)"
        )
    return {
        "primary": parse_metric(plan.primary),
        "guardrails": [parse_metric(g, guardrail=True) for g in plan.guardrails],
        "rule": Rule(min_units=plan.min_units, min_duration_s=plan.min_duration_s),
    }


def conclude(
    store,
    experiment: Experiment,
    *,
    actor: str,
    result: dict | None = None,
    only_changes: bool = False,
) -> dict:
    """Analyse ``experiment`` by its plan (or take ``result``), act if it auto-promotes, and
    store the decision (``only_changes``: unless it repeats the last stored one); returns the
    analysis with ``action`` (``promoted``, ``halted`` or None)."""
    result = result if result is not None else planned_analysis(store, experiment)
    action = None
    plan = experiment.plan
    if plan is not None and plan.auto_promote and experiment.status == "running":
        if result["decision"] == "ship":
            action = _promote(store, experiment, result, actor)
        elif result.get("guardrail_breached"):
            store.stop_experiment(experiment.id, status="halted")
            action = "halted"
            log.warning("experiment %d halted: %s", experiment.id, result["reason"])
    result = {**result, "action": action}
    with store.write() as session:
        if only_changes and action is None:
            last = session.scalar(
                select(DecisionRow.decision)
                .where(DecisionRow.experiment_id == experiment.id)
                .order_by(DecisionRow.id.desc())
                .limit(1)
            )
            if last == result["decision"]:
                return result
        session.add(
            DecisionRow(
                experiment_id=experiment.id,
                decision=result["decision"],
                action=action,
                actor=actor,
                analysis_json=json.dumps(result),
                at=datetime.now(timezone.utc),
            )
        )
    return result


def _promote(store, experiment: Experiment, result: dict, actor: str) -> str:
    champion, challenger = (arm.alias for arm in experiment.arms)
    registry = store.registry
    version = registry.resolve(f"{experiment.project}@{challenger}").version
    primary = next(m for m in result["metrics"] if m["role"] == "primary")
    effect = effect_text(
        *(primary[k] for k in ("lift", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high"))
    )
    reason = f"experiment {experiment.id}: {effect} on {primary['name']} ({primary['method']})"
    registry.set_alias(experiment.project, champion, version, actor=actor, reason=reason)
    store.stop_experiment(experiment.id, status="shipped")
    log.info("%s: %s@%s -> version %d", reason, experiment.project, champion, version)
    return "promoted"


def decisions(store, experiment_id: int) -> list[dict[str, Any]]:
    """The stored decisions of an experiment, oldest first, each with its analysis."""
    with store.read() as session:
        rows = session.scalars(
            select(DecisionRow)
            .where(DecisionRow.experiment_id == experiment_id)
            .order_by(DecisionRow.id)
        ).all()
        return [
            {
                "at": aware(row.at).isoformat(),
                "decision": row.decision,
                "action": row.action,
                "actor": row.actor,
                "analysis": json.loads(row.analysis_json),
            }
            for row in rows
        ]


async def decide_forever(
    store,
    every_s: float,
    run_io: Callable[..., Awaitable[Any]],
    on_result: Callable[[Experiment, dict], None],
) -> None:
    """The service's decision loop: every ``every_s`` seconds, conclude each running
    experiment that has a plan (split or shadow); ``on_result`` sees each analysis (the
    service's gauges)."""
    while True:
        try:
            running = await run_io(store.running_experiments)
            for experiment in running.values():
                if experiment.plan is None:
                    continue
                try:
                    result = await run_io(
                        functools.partial(conclude, actor="serve", only_changes=True),
                        store,
                        experiment,
                    )
                except TailorkitError as error:
                    log.warning("experiment %d not analysed: %s", experiment.id, error)
                    continue
                on_result(experiment, result)
        except DatabaseUnavailable as error:
            log.warning("experiment decisions skipped: %s", error)
        except Exception:
            log.exception("experiment decisions failed; retrying in %.0f s", every_s)
        await asyncio.sleep(every_s)
