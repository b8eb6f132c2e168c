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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from tailorkit.evaluate.experiment_stats import (
    Estimate,
    ExperimentDataError,
    benjamini_hochberg,
    compare,
    compare_ratio,
    cuped,
    srm_p_value,
)
from tailorkit.loop.arm_guardrails import ArmRequests, AutoGuardrail, Tolerances, arm_guardrails
from tailorkit.loop.decision import Decision, Guardrail, Rule, decide

OUTCOME_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # as feedback's `outcome`
RANKED = re.compile(r"^(ctr|hit_rate)@([1-9][0-9]{0,3})$")
CLICK = "click"  # the feedback outcome whose `label` is the clicked item, for ctr@k / hit_rate@k


@dataclass(frozen=True)
class MetricSpec:
    """A metric read from feedback, per assignment unit. ``kind``:

    - ``outcome``: the feedback outcome ``name``'s value (0/1: converted; a number: revenue);
    - ``ratio``: ``numerator/denominator``, two outcomes summed per unit (clicks per
      impression), compared with the delta method;
    - ``ctr`` (``ctr@k``): clicked items among the top k shown per recommend answer, over the
      items shown; ``hit_rate`` (``hit_rate@k``): answers with a click in their top k, over the
      answers. A click is feedback ``click`` whose ``label`` is the item id.
    """

    name: str
    higher_is_better: bool = True
    guardrail: bool = False
    kind: str = "outcome"
    numerator: str | None = None  # ratio: its two outcomes
    denominator: str | None = None
    k: int | None = None  # ctr / hit_rate

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The feedback outcomes this metric reads."""
        if self.kind == "ratio":
            return (self.numerator, self.denominator)
        return (CLICK,) if self.kind in ("ctr", "hit_rate") else (self.name,)


def analyze(
    *,
    arms: Sequence[tuple[str, float]],
    units: Mapping[str, int],
    values: Mapping[str, Mapping[str, np.ndarray | tuple[np.ndarray, np.ndarray]]],
    binary: Mapping[str, bool],
    primary: MetricSpec,
    guardrails: Sequence[MetricSpec] = (),
    rule: Rule = Rule(),
    duration_s: float = 0.0,
    method: str = "sequential",
    alpha: float = 0.05,
    covariates: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    requests: Mapping[str, ArmRequests] | None = None,
    tolerances: Tolerances = Tolerances(),
    fairness_limits: Mapping[str, float] | None = None,
) -> dict:
    """``arms``: (alias, weight), champion first; ``units``: units assigned per arm;
    ``values[arm][metric]``: one value per unit, or (numerators, denominators) per unit for a
    ratio metric; ``covariates[arm][metric]``: a pre-period value per unit, for CUPED;
    ``requests[arm]``: its served requests, for the automatic guardrails."""
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
        two_arms = Decision("continue", "a decision needs exactly two arms")
        return {**result, **decision_json(two_arms)}
    if min(counts) < 2:
        reason = f"an arm has fewer than 2 units yet (units per arm: {counts})"
        return {**result, **decision_json(Decision("invalid", reason))}
    control, treatment = names
    warnings: list[str] = []
    options = {"method": method, "alpha": alpha, "planned_units": 2 * rule.min_units}
    estimates, cuped_fits = _estimates(
        (primary, *guardrails), names, values, binary, covariates or {}, options, warnings
    )
    tested = [m for m in (primary, *guardrails) if m.name in estimates and not m.guardrail]
    bh = benjamini_hochberg([estimates[m.name].p_value for m in tested], alpha)
    adjusted = dict(zip([m.name for m in tested], bh, strict=True))
    for metric in (primary, *guardrails):
        if metric.name in estimates:
            entry = metric_json(metric, estimates[metric.name], adjusted, names)
            if metric.name in cuped_fits:
                entry["cuped"] = cuped_fits[metric.name]
            result["metrics"].append(entry)
    automatic: list[AutoGuardrail] = []
    if requests is not None and control in requests and treatment in requests:
        automatic, unmeasured = arm_guardrails(
            requests[control], requests[treatment], **options,
            tolerances=tolerances, fairness_limits=fairness_limits,
        )  # fmt: skip
        warnings += unmeasured
    for auto in automatic:
        spec = MetricSpec(auto.estimate.name, higher_is_better=False, guardrail=True)
        result["metrics"].append(metric_json(spec, auto.estimate, {}, names, auto.margin))
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
    return {**result, **decision_json(decision)}


def _estimates(
    metrics: Sequence[MetricSpec],
    names: list[str],
    values: Mapping,
    binary: Mapping[str, bool],
    covariates: Mapping,
    options: dict,
    warnings: list[str],
) -> tuple[dict[str, Estimate], dict[str, dict]]:
    """Each feedback metric's comparison and, where CUPED applied, its fit; a metric that
    cannot be compared yet is a warning. ``planned_units`` in ``options`` is fixed in advance:
    the confidence sequence stays valid at every look."""
    estimates: dict[str, Estimate] = {}
    cuped_fits: dict[str, dict] = {}
    for metric in metrics:
        pair = [values[arm][metric.name] for arm in names]
        covariate = [covariates.get(arm, {}).get(metric.name) for arm in names]
        try:
            estimate, fit = _compare(metric, pair, covariate, binary.get(metric.name), options)
        except ExperimentDataError as error:
            warnings.append(str(error))
            continue
        estimates[metric.name] = estimate
        if fit is not None:
            cuped_fits[metric.name] = fit
    return estimates, cuped_fits


def _compare(
    metric: MetricSpec, pair: list, covariate: list, binary: bool | None, options: dict
) -> tuple[Estimate, dict | None]:
    """One metric's estimate: a ratio by the delta method; otherwise per-unit values, adjusted
    by CUPED where each arm has a varying pre-period covariate (then no longer 0/1). Over a
    champion's mean of 0 the lift is NaN (null in the JSON); the difference stands."""
    name, lift = metric.name, {"require_lift": False}  # the decision reads the difference
    if isinstance(pair[0], tuple):
        return compare_ratio(name, *pair, **options, **lift), None
    fit = _cuped(pair, covariate)
    if fit is None:
        return compare(name, *pair, binary=bool(binary), **options, **lift), None
    adjusted, details = fit
    estimate = compare(name, *adjusted, binary=False, **options, **lift)
    return replace(estimate, method=f"{estimate.method}+cuped"), details


def _cuped(pair: list[np.ndarray], covariate: list) -> tuple[list[np.ndarray], dict] | None:
    """Both arms' values adjusted by their pre-period covariate (theta fitted on the arms
    pooled), with the fit; None without a covariate that varies."""
    if any(c is None for c in covariate):
        return None
    pooled = np.concatenate(covariate)
    if len(pooled) != sum(len(v) for v in pair) or np.ptp(pooled) == 0:
        return None
    adjusted, theta = cuped(np.concatenate(pair), pooled)
    split = np.split(adjusted, [len(pair[0])])
    before = sum(float(v.var()) * len(v) for v in pair)  # within the arms: no effect in it
    after = sum(float(v.var()) * len(v) for v in split)
    fit = {
        "theta": theta,
        "covariate_units": int((pooled != 0).sum()),
        "variance_reduction": 0.0 if before == 0 else 1 - after / before,
    }
    return split, fit


def metric_json(
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


def decision_json(decision: Decision) -> dict:
    return {
        "decision": decision.decision,
        "reason": decision.reason,
        "guardrail_breached": decision.guardrail_breached,
    }


def parse_metric(text: str, *, guardrail: bool = False, field: str | None = None) -> MetricSpec:
    """``NAME``, ``NUMERATOR/DENOMINATOR``, ``ctr@K`` or ``hit_rate@K``, each optionally with
    ``:higher`` or ``:lower`` (which direction is better). A primary metric is higher-is-better
    and a guardrail lower-is-better (errors, losses) unless told; ``field`` names the option or
    query field in errors."""
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
    spec = MetricSpec(name, higher_is_better=higher, guardrail=guardrail)
    ranked, parts = RANKED.match(name), name.split("/")
    if ranked:
        return replace(spec, kind=ranked.group(1), k=int(ranked.group(2)))
    if len(parts) == 2 and all(OUTCOME_NAME.match(p) for p in parts):
        return replace(spec, kind="ratio", numerator=parts[0], denominator=parts[1])
    if not OUTCOME_NAME.match(name):
        raise ExperimentDataError(
            f"{option} {text!r}: a metric is a feedback outcome (lowercase letters, digits, _), "
            "NUMERATOR/DENOMINATOR, ctr@K or hit_rate@K"
        )
    return spec
