"""One analysis of an experiment: SRM, a comparison per metric, BH across them, the decision.

The first arm is the champion (control); every other arm is compared with it. The decision
(``loop.decision``) needs exactly two arms; the JSON keys are those of
``tailorkit experiments analyze --json`` and ``GET .../experiments/{id}/analysis``. Given the
arms' served requests, the automatic guardrails (``loop.arm_guardrails``: latency p99, error
rate, fairness gap) join the plan's guardrails. A value that does not exist (the lift over a
champion's 0) is ``null`` in the JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tailorkit.evaluate.experiment_stats import (
    Estimate,
    ExperimentDataError,
    benjamini_hochberg,
    compare,
    srm_p_value,
)
from tailorkit.loop.arm_guardrails import ArmRequests, AutoGuardrail, Tolerances, arm_guardrails
from tailorkit.loop.decision import Decision, Guardrail, Rule, decide


@dataclass(frozen=True)
class MetricSpec:
    """A feedback outcome read as a metric."""

    name: str
    higher_is_better: bool = True
    guardrail: bool = False


def analyze(
    *,
    arms: Sequence[tuple[str, float]],
    units: Mapping[str, int],
    values: Mapping[str, Mapping[str, np.ndarray]],
    binary: Mapping[str, bool],
    primary: MetricSpec,
    guardrails: Sequence[MetricSpec] = (),
    rule: Rule = Rule(),
    duration_s: float = 0.0,
    method: str = "sequential",
    alpha: float = 0.05,
    requests: Mapping[str, ArmRequests] | None = None,
    tolerances: Tolerances = Tolerances(),
    fairness_limits: Mapping[str, float] | None = None,
) -> dict:
    """``arms``: (alias, weight), champion first; ``units``: units assigned per arm;
    ``values[arm][metric]``: one value per unit; ``requests[arm]``: its served requests, for
    the automatic guardrails."""
    names = [alias for alias, _ in arms]
    counts = [int(units.get(a, 0)) for a in names]
    result: dict = {"units": dict(zip(names, counts, strict=True)), "method": method}
    result["metrics"] = []
    srm = None
    if sum(counts) > 0:
        weights = np.array([w for _, w in arms], dtype=float)
        srm = srm_p_value(counts, list(weights / weights.sum()))
    result["srm_p_value"] = srm
    if len(arms) != 2:
        return {**result, **_decision(Decision("continue", "a decision needs exactly two arms"))}
    if min(counts) < 2:
        reason = f"an arm has fewer than 2 units yet (units per arm: {counts})"
        return {**result, **_decision(Decision("invalid", reason))}
    control, treatment = names
    warnings: list[str] = []
    estimates = _estimates(
        values, binary, (primary, *guardrails), names, method, alpha, rule, warnings
    )
    tested = [m for m in (primary, *guardrails) if m.name in estimates and not m.guardrail]
    bh = benjamini_hochberg([estimates[m.name].p_value for m in tested], alpha)
    adjusted = dict(zip([m.name for m in tested], bh, strict=True))
    for metric in (primary, *guardrails):
        if metric.name in estimates:
            result["metrics"].append(_metric(metric, estimates[metric.name], adjusted, names))
    automatic: list[AutoGuardrail] = []
    if requests is not None and control in requests and treatment in requests:
        automatic, unmeasured = arm_guardrails(
            requests[control],
            requests[treatment],
            method=method,
            alpha=alpha,
            planned_units=2 * rule.min_units,
            tolerances=tolerances,
            fairness_limits=fairness_limits,
        )
        warnings += unmeasured
    for auto in automatic:
        spec = MetricSpec(auto.estimate.name, higher_is_better=False, guardrail=True)
        result["metrics"].append(_metric(spec, auto.estimate, {}, names, tolerance=auto.margin))
    if warnings:
        result["warnings"] = warnings
    decision = decide(
        estimates.get(primary.name),
        units=counts,
        srm_p_value=srm,
        duration_s=duration_s,
        rule=Rule(rule.min_units, rule.min_duration_s, primary.higher_is_better),
        guardrails=[
            *(
                Guardrail(estimates[g.name], g.higher_is_better)
                for g in guardrails
                if g.name in estimates
            ),
            *(Guardrail(a.estimate, False, a.margin) for a in automatic),
        ],
    )
    return {**result, **_decision(decision)}


def _estimates(
    values: Mapping[str, Mapping[str, np.ndarray]],
    binary: Mapping[str, bool],
    metrics: Sequence[MetricSpec],
    names: list[str],
    method: str,
    alpha: float,
    rule: Rule,
    warnings: list[str],
) -> dict[str, Estimate]:
    """Each feedback metric's comparison (a guardrail may have a champion's mean of 0); a
    metric that cannot be compared yet is a warning."""
    control, treatment = names
    estimates: dict[str, Estimate] = {}
    for metric in metrics:
        try:
            estimates[metric.name] = compare(
                metric.name,
                values[control][metric.name],
                values[treatment][metric.name],
                binary=binary[metric.name],
                method=method,
                alpha=alpha,
                planned_units=2 * rule.min_units,  # fixed in advance: the sequence stays valid
                require_lift=not metric.guardrail,
            )
        except ExperimentDataError as error:
            warnings.append(str(error))
    return estimates


def _metric(
    metric: MetricSpec,
    e: Estimate,
    adjusted: dict,
    names: list[str],
    tolerance: float | None = None,
) -> dict:
    found = {
        "name": metric.name,
        "role": "guardrail" if metric.guardrail else "primary",
        "higher_is_better": metric.higher_is_better,
        "arm_values": {names[0]: e.control_mean, names[1]: e.treatment_mean},
        "lift": e.lift,
        "ci_low": e.ci_low,
        "ci_high": e.ci_high,
        "diff": e.diff,
        "diff_ci_low": e.diff_ci_low,
        "diff_ci_high": e.diff_ci_high,
        "p_value": e.p_value,
        "p_value_bh": adjusted.get(metric.name),
        "method": e.method,
    }
    if tolerance is not None:  # an automatic guardrail: how much worse the challenger may be
        found["tolerance"] = tolerance
    return {key: _finite(value) for key, value in found.items()}


def _finite(value):
    """NaN (a lift over a champion's 0, a bootstrap's p-value) as None; dicts inside too."""
    if isinstance(value, dict):
        return {key: _finite(v) for key, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _decision(decision: Decision) -> dict:
    return {
        "decision": decision.decision,
        "reason": decision.reason,
        "guardrail_breached": decision.guardrail_breached,
    }


def parse_metric(text: str, *, guardrail: bool = False, field: str | None = None) -> MetricSpec:
    """``NAME``, ``NAME:higher`` or ``NAME:lower`` (which direction is better). A primary metric
    is higher-is-better and a guardrail lower-is-better (errors, losses) unless told; ``field``
    names the option or query field in errors."""
    name, _, direction = text.partition(":")
    name, direction = name.strip(), direction.strip().lower()
    option = field or ("--guardrail" if guardrail else "--primary")
    if not name:
        raise ExperimentDataError(f"{option} {text!r}: name the feedback outcome")
    if direction not in ("", "higher", "lower"):
        raise ExperimentDataError(
            f"{option} {text!r}: the direction after ':' must be 'higher' or 'lower' (is better)"
        )
    higher = direction == "higher" if direction else not guardrail
    return MetricSpec(name, higher_is_better=higher, guardrail=guardrail)
