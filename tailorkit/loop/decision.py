"""The experiment decision: ``ship``, ``keep``, ``continue`` or ``invalid``, with its reason.

- ``invalid``: an arm without units, or a sample-ratio mismatch (chi-square p < 0.001 against
  the configured weights): the assignment is broken, so no result may be read;
- ``keep``: a guardrail is breached (the challenger is worse on it beyond noise and beyond the
  guardrail's tolerance, 0 unless set), or the champion is better on the primary metric (its
  interval excludes 0 in the bad direction);
- ``continue``: fewer than ``min_units`` units in an arm or shorter than ``min_duration_s``, or
  the primary interval still contains 0;
- ``ship``: the primary interval excludes 0 in the good direction, no guardrail is breached,
  and the minimum units and duration are reached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tailorkit.evaluate.experiment_stats import SRM_ALPHA, Estimate

DECISIONS = ("ship", "keep", "continue", "invalid")


@dataclass(frozen=True)
class Rule:
    """What an experiment needs before it may decide (set per experiment)."""

    min_units: int = 1_000  # per arm
    min_duration_s: float = 0.0
    higher_is_better: bool = True  # of the primary metric


@dataclass(frozen=True)
class Guardrail:
    """A metric the challenger must not make worse (e.g. error rate: higher is worse) by more
    than ``margin``, in the metric's units: breached when the interval of the difference lies
    wholly beyond it."""

    estimate: Estimate
    higher_is_better: bool = False
    margin: float = 0.0


@dataclass(frozen=True)
class Decision:
    decision: str
    reason: str
    guardrail_breached: str | None = None  # the guardrail's name, on a breach


def decide(
    primary: Estimate | None,
    *,
    units: Sequence[int],
    srm_p_value: float | None,
    duration_s: float,
    rule: Rule,
    guardrails: Sequence[Guardrail] = (),
) -> Decision:
    """The decision for one analysis (``primary`` None: no feedback for the primary metric)."""
    if not units or min(units) == 0:
        return Decision("invalid", f"an arm has no units yet (units per arm: {list(units)})")
    if srm_p_value is not None and srm_p_value < SRM_ALPHA:
        return Decision(
            "invalid",
            f"sample ratio mismatch: units per arm {list(units)} against the configured "
            f"weights, chi-square p = {srm_p_value:.2g} < {SRM_ALPHA}",
        )
    for guardrail in guardrails:
        if _breached(guardrail):
            e = guardrail.estimate
            beyond = f", beyond its tolerance of {guardrail.margin:.3g}" if guardrail.margin else ""
            return Decision(
                "keep",
                f"guardrail {e.name} breached: challenger {e.treatment_mean:.4g} against "
                f"champion {e.control_mean:.4g} ({e.method} interval of the difference "
                f"[{e.diff_ci_low:.3g}, {e.diff_ci_high:.3g}]{beyond})",
                guardrail_breached=e.name,
            )
    if primary is None:
        return Decision("invalid", "no feedback for the primary metric yet")
    if _side(primary) == _bad(rule.higher_is_better):
        return Decision("keep", f"the champion is better on {primary.name}: {_lift(primary)}")
    if min(units) < rule.min_units:
        return Decision(
            "continue", f"{min(units)} units in the smallest arm, {rule.min_units} needed"
        )
    if duration_s < rule.min_duration_s:
        return Decision(
            "continue", f"running {duration_s:.0f} s of the {rule.min_duration_s:.0f} s needed"
        )
    if _side(primary) == _bad(not rule.higher_is_better):
        return Decision("ship", f"the challenger is better on {primary.name}: {_lift(primary)}")
    return Decision("continue", f"no difference on {primary.name} yet: {_lift(primary)}")


def _breached(guardrail: Guardrail) -> bool:
    """The challenger is worse by more than the margin, beyond the interval."""
    e, margin = guardrail.estimate, max(guardrail.margin, 0.0)
    if guardrail.higher_is_better:
        return e.diff_ci_high < -margin
    return e.diff_ci_low > margin


def _side(estimate: Estimate) -> str | None:
    """Where the difference's interval lies: wholly ``above`` or ``below`` 0, or None."""
    if estimate.diff_ci_low > 0:
        return "above"
    if estimate.diff_ci_high < 0:
        return "below"
    return None


def _bad(higher_is_better: bool) -> str:
    """The side on which the challenger is worse."""
    return "below" if higher_is_better else "above"


def _lift(e: Estimate) -> str:
    effect = effect_text(e.lift, e.ci_low, e.ci_high, e.diff, e.diff_ci_low, e.diff_ci_high)
    return f"{effect} ({e.method})"


def effect_text(lift, ci_low, ci_high, diff, diff_low, diff_high) -> str:
    """``lift +x% [lo, hi]``, or ``difference +d [lo, hi]`` where there is no relative lift
    (over a champion's 0: the lift is NaN, or None in the JSON)."""
    if lift is None or not math.isfinite(lift) or ci_low is None or ci_high is None:
        return f"difference {diff:+.4g} [{diff_low:+.4g}, {diff_high:+.4g}]"
    return f"lift {lift:+.2%} [{ci_low:+.2%}, {ci_high:+.2%}]"
