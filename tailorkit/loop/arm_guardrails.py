"""The guardrails every A/B analysis gets without being asked, read from the served requests:
each arm's latency p99, its error rate, and, where the scored rows carry protected attributes,
the demographic parity gap of its decisions.

- ``latency_p99_ms``: the p99 of the answered requests' latency per arm, with a bootstrap
  interval of the difference; breached when the challenger's p99 is above the champion's by
  more than ``Tolerances.latency`` (relative, +20%) beyond that interval.
- ``error_rate``: failed requests (the arm's model raised, or its artifact was unavailable: a
  5xx) per request, per unit by the delta method (``compare_ratio``), with the analysis'
  method (sequential: valid at every look); breached when the challenger's rate is higher
  beyond its interval.
- ``demographic_parity_difference[ATTR]``: the gap between the groups of ATTR in the share of
  rows given one decision (the same gap whichever of two decisions is counted); breached when
  the challenger's gap is above the champion's by more than ``Tolerances.fairness`` (absolute)
  beyond the interval or, where the spec requires ``demographic_parity_difference[ATTR] <= L``,
  when it is above ``L`` (the margin is then what the champion leaves below ``L``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tailorkit.evaluate.experiment_stats import Estimate, ExperimentDataError, compare_ratio
from tailorkit.evaluate.guardrail_stats import compare_parity_gap, compare_quantile

LATENCY = "latency_p99_ms"
ERRORS = "error_rate"
MIN_LATENCY_REQUESTS = 500  # answered requests per arm before its p99 means something
MIN_GROUP_ROWS = 30  # scored rows of a group, in each arm, before its share counts


@dataclass(frozen=True)
class Tolerances:
    """How much worse the challenger may be before a breach (set per experiment)."""

    latency: float = 0.2  # relative to the champion's p99
    fairness: float = 0.05  # absolute, in parity-gap points


@dataclass
class ArmRequests:
    """One arm's served requests: the latency of each answered one; per unit, its requests and
    how many failed; per scored row, its protected attributes' values and its decision."""

    latency_ms: np.ndarray
    requests: np.ndarray
    failures: np.ndarray
    protected: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class AutoGuardrail:
    estimate: Estimate
    margin: float  # how much worse the challenger may be, in the metric's units


def arm_guardrails(
    control: ArmRequests,
    treatment: ArmRequests,
    *,
    method: str = "sequential",
    alpha: float = 0.05,
    planned_units: int = 2_000,
    tolerances: Tolerances = Tolerances(),
    fairness_limits: Mapping[str, float] | None = None,
) -> tuple[list[AutoGuardrail], list[str]]:
    """The automatic guardrails of one comparison, and a warning for each that cannot be
    measured yet (too few requests, no protected attribute sent)."""
    found: list[AutoGuardrail] = []
    warnings: list[str] = []
    try:
        latency = compare_quantile(
            LATENCY,
            control.latency_ms,
            treatment.latency_ms,
            alpha=alpha,
            min_values=MIN_LATENCY_REQUESTS,
        )
        found.append(AutoGuardrail(latency, tolerances.latency * latency.control_mean))
    except ExperimentDataError as error:
        warnings.append(str(error))
    try:
        errors = compare_ratio(
            ERRORS,
            (control.failures, control.requests),
            (treatment.failures, treatment.requests),
            method=method,
            alpha=alpha,
            planned_units=planned_units,
            require_lift=False,
        )
        found.append(AutoGuardrail(errors, 0.0))
    except ExperimentDataError as error:
        warnings.append(str(error))
    fairness, unmeasured = _fairness(control, treatment, alpha, tolerances, fairness_limits or {})
    return found + fairness, warnings + unmeasured


def _fairness(
    control: ArmRequests,
    treatment: ArmRequests,
    alpha: float,
    tolerances: Tolerances,
    limits: Mapping[str, float],
) -> tuple[list[AutoGuardrail], list[str]]:
    attributes = sorted({a for arm in (control, treatment) for row in arm.protected for a in row})
    labels = sorted({str(d) for arm in (control, treatment) for d in arm.decisions})
    found: list[AutoGuardrail] = []
    warnings: list[str] = []
    for attribute in attributes:
        name = f"demographic_parity_difference[{attribute}]"
        arms = [_rows_with(arm, attribute, labels[0]) for arm in (control, treatment)]
        if not all(values for values, _ in arms):
            warnings.append(
                f"{name}: no scored row of an arm carried '{attribute}'; send it in the rows "
                "to measure each arm's fairness gap (only the protected columns are kept)"
            )
            continue
        try:
            gap = compare_parity_gap(
                name, attribute, arms[0], arms[1], alpha=alpha, min_group_rows=MIN_GROUP_ROWS
            )
        except ExperimentDataError as error:
            warnings.append(str(error))
            continue
        limit = limits.get(attribute)
        margin = tolerances.fairness if limit is None else max(0.0, limit - gap.control_mean)
        found.append(AutoGuardrail(gap, margin))
    return found, warnings


def _rows_with(arm: ArmRequests, attribute: str, label: str) -> tuple[list, list[bool]]:
    """(value, whether the decision is ``label``) of the arm's rows that carry ``attribute``."""
    values, selected = [], []
    for row, decision in zip(arm.protected, arm.decisions, strict=True):
        value = row.get(attribute)
        if value is not None:
            values.append(value)
            selected.append(str(decision) == label)
    return values, selected
