"""Requirements as executable acceptance criteria: ``auc >= 0.78``,
``demographic_parity_difference[sex] <= 0.1``, ``predict_ms_per_1000 <= 50``."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

from tailorkit.errors import SpecError
from tailorkit.evaluate.metrics import METRIC_NAMES

MODEL_METRICS = (
    *METRIC_NAMES,
    "cost",
    "fit_seconds",
    "predict_ms_per_1000",
    "p99_latency_ms",
)
GROUP_METRICS = ("demographic_parity_difference", "equalized_odds_difference", "auc_gap")
_OPERATORS = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_PATTERN = re.compile(
    r"^\s*(?P<metric>[a-z_0-9@]+)(\[(?P<qualifier>[^\]]+)\])?\s*"
    r"(?P<op>>=|<=|==|>|<)\s*(?P<value>-?[0-9.eE+-]+)\s*$"
)


@dataclass(frozen=True)
class Requirement:
    text: str
    metric: str
    qualifier: str | None
    op: str
    threshold: float

    def check(self, value: float | None) -> bool:
        return value is not None and bool(_OPERATORS[self.op](value, self.threshold))


def parse_requirement(text: str, metrics: tuple[str, ...] = MODEL_METRICS) -> Requirement:
    """Parse one requirement line; unknown metrics are a SpecError naming the choices.

    ``metrics`` are the solution's per-model metric names (credit risk's by default);
    group metrics such as ``demographic_parity_difference[sex]`` are always known.
    """
    match = _PATTERN.match(str(text))
    if not match:
        raise SpecError(
            f"requirement '{text}' must look like 'metric >= number', "
            "e.g. 'auc >= 0.78' or 'demographic_parity_difference[sex] <= 0.1'"
        )
    metric, qualifier = match["metric"], match["qualifier"]
    if metric in GROUP_METRICS and not qualifier:
        raise SpecError(f"requirement '{text}': name the protected column, e.g. {metric}[sex]")
    if metric not in metrics + GROUP_METRICS:
        raise SpecError(
            f"requirement '{text}' uses unknown metric '{metric}'; known: "
            f"{', '.join(metrics + GROUP_METRICS)}"
        )
    try:
        threshold = float(match["value"])
    except ValueError:
        raise SpecError(f"requirement '{text}': '{match['value']}' is not a number") from None
    return Requirement(text.strip(), metric, qualifier, match["op"], threshold)


def evaluate_requirements(
    lines: list[str],
    metrics: dict[str, Any],
    fairness: list[dict],
    *,
    known: tuple[str, ...] = MODEL_METRICS,
    measured_on_final: tuple[str, ...] = (),
    stage: str = "evaluation",
) -> list[dict[str, Any]]:
    """Check each requirement against the chosen model's metrics and fairness audit. A
    metric in ``measured_on_final`` was measured on the refitted model: its stage reads
    "before promotion"."""
    by_column = {entry["column"]: entry for entry in fairness}
    outcomes = []
    for line in lines:
        requirement = parse_requirement(line, known)
        if requirement.metric in GROUP_METRICS:
            audit = by_column.get(requirement.qualifier)
            value = audit.get(requirement.metric) if audit else None
            note = "" if audit else f"'{requirement.qualifier}' is not a protected column"
        else:
            value = metrics.get(requirement.metric)
            note = "" if value is not None else "metric not available"
        outcomes.append(
            {
                "requirement": requirement.text,
                "metric": requirement.metric,
                "value": None if value is None else float(value),
                "passed": requirement.check(value),
                "stage": "before promotion" if requirement.metric in measured_on_final else stage,
                "note": note,
            }
        )
    return outcomes


def promotion_floor(
    *,
    metric: str,
    higher: bool,
    value: float | None,
    interval: list[float] | None = None,
    baseline: dict[str, Any] | None = None,
    champion: tuple[str, float | None] | None = None,
) -> list[dict[str, Any]]:
    """The checks every promotion passes beside the spec's requirements: the winner beats the
    trivial ``baseline`` (``{"name", metric: value}``) and is not worse than the current
    ``champion`` (``(ref, its metric)``) beyond the noise, the half-width of the winner's own
    95% ``interval`` (a regression smaller than that is indistinguishable from luck)."""
    sign = 1.0 if higher else -1.0
    better = ">" if higher else "<"
    outcomes = []
    if baseline is not None and baseline.get(metric) is not None:
        floor = float(baseline[metric])
        outcomes.append(
            _floor_outcome(
                f"{metric} {better} {floor:.4g} (the trivial baseline: {baseline['name']})",
                metric,
                value,
                value is not None and sign * (value - floor) > 0,
            )
        )
    if champion is not None and champion[1] is not None:
        ref, previous = champion
        noise = (interval[1] - interval[0]) / 2 if interval else 0.0
        bound = previous - sign * noise
        outcomes.append(
            _floor_outcome(
                f"{metric} {better}= {bound:.4g} (the champion {ref}: {previous:.4g}, "
                f"less the noise {noise:.3g})",
                metric,
                value,
                value is not None and sign * (value - bound) >= 0,
            )
        )
    return outcomes


def _floor_outcome(text: str, metric: str, value: float | None, passed: bool) -> dict[str, Any]:
    return {
        "requirement": text,
        "metric": metric,
        "value": None if value is None else float(value),
        "passed": bool(passed),
        "stage": "promotion floor",
        "note": "" if value is not None else "metric not available",
    }
