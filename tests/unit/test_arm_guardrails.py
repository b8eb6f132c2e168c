"""The automatic guardrails of every A/B analysis (latency p99, error rate, fairness gap): what
breaches them, what only warns, and how they reach the decision; and the plan's checks."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tailorkit.errors import TailorkitError
from tailorkit.loop.arm_guardrails import ArmRequests, Tolerances, arm_guardrails
from tailorkit.loop.experiment_analysis import MetricSpec, analyze
from tailorkit.serve.records import Arm, ExperimentPlan, check_arms, check_plan
from tests.unit.test_guardrail_stats import latencies

UNITS = 800


def arm(
    *,
    slow: float = 1.0,
    error_rate: float = 0.0,
    seed: int = 0,
    reject: dict[str, float] | None = None,
    sex: bool = True,
) -> ArmRequests:
    """One arm of ``UNITS`` units, two requests each (one row per request): its latencies,
    failures at ``error_rate``, and each row's sex (when sent) and decision."""
    rng = np.random.default_rng(seed)
    failures = rng.binomial(2, error_rate, UNITS).astype(float)
    groups = rng.choice(["female", "male"], 2 * UNITS)
    share = np.vectorize((reject or {"female": 0.3, "male": 0.3}).get)(groups)
    decisions = np.where(rng.random(2 * UNITS) < share, "reject", "accept")
    return ArmRequests(
        latency_ms=latencies(int(2 * UNITS - failures.sum()), slow, seed),
        requests=np.full(UNITS, 2.0),
        failures=failures,
        protected=[{"sex": g if sex else None} for g in groups],
        decisions=list(decisions),
    )


def analysis(champion: ArmRequests, challenger: ArmRequests, **kwargs) -> dict:
    result = analyze(
        arms=[("champion", 0.5), ("challenger", 0.5)],
        units={"champion": UNITS, "challenger": UNITS},
        values={a: {"conversion": np.zeros(UNITS)} for a in ("champion", "challenger")},
        binary={"conversion": True},
        primary=MetricSpec("conversion"),
        requests={"champion": champion, "challenger": challenger},
        **kwargs,
    )
    json.loads(json.dumps(result, allow_nan=False))  # plain JSON: no NaN anywhere
    return result


def metric(result: dict, name: str) -> dict:
    return next(m for m in result["metrics"] if m["name"] == name)


def test_a_healthy_challenger_has_every_guardrail_reported_and_none_breached():
    result = analysis(arm(seed=1), arm(seed=2))
    names = {m["name"]: m for m in result["metrics"] if m["role"] == "guardrail"}
    assert set(names) == {"latency_p99_ms", "error_rate", "demographic_parity_difference[sex]"}
    assert names["error_rate"]["arm_values"] == {"champion": 0.0, "challenger": 0.0}
    assert names["error_rate"]["lift"] is None  # no lift over a champion without errors
    assert names["latency_p99_ms"]["tolerance"] == pytest.approx(
        0.2 * names["latency_p99_ms"]["arm_values"]["champion"]
    )
    assert result["guardrail_breached"] is None
    assert result["decision"] == "continue"  # no conversion in either arm yet: no difference


def test_a_challenger_that_fails_breaches_the_error_rate_against_a_champion_without_errors():
    result = analysis(arm(seed=1), arm(error_rate=0.05, seed=2))
    assert result["decision"] == "keep" and result["guardrail_breached"] == "error_rate"
    errors = metric(result, "error_rate")
    assert errors["arm_values"]["challenger"] == pytest.approx(0.05, abs=0.015)
    assert errors["diff_ci_low"] > 0 and errors["method"] == "sequential"


def test_latency_breaches_only_beyond_its_tolerance():
    champion, slower = arm(seed=1), arm(slow=1.1, seed=2)  # +10%: beyond noise, within +20%
    within = analysis(champion, slower)
    p99 = metric(within, "latency_p99_ms")
    assert p99["diff_ci_low"] > 0 and within["guardrail_breached"] is None
    strict = analysis(champion, slower, tolerances=Tolerances(latency=0.0))
    assert strict["guardrail_breached"] == "latency_p99_ms"
    much_slower = analysis(champion, arm(slow=1.6, seed=2))
    assert much_slower["guardrail_breached"] == "latency_p99_ms"
    assert "beyond its tolerance of 4.6" in much_slower["reason"]  # 20% of the champion's p99


def test_an_unfair_challenger_breaches_by_tolerance_or_by_the_specs_limit():
    unfair = {"female": 0.5, "male": 0.25}  # a gap of 0.25
    champion, challenger = arm(seed=1), arm(seed=2, reject=unfair)
    name = "demographic_parity_difference[sex]"
    assert analysis(champion, challenger)["guardrail_breached"] == name
    loose = analysis(champion, challenger, tolerances=Tolerances(fairness=0.3))
    assert loose["guardrail_breached"] is None
    gap = metric(loose, name)
    assert gap["arm_values"]["challenger"] == pytest.approx(0.25, abs=0.05)
    assert gap["arm_values"]["champion"] < 0.06 and gap["tolerance"] == 0.3
    limited = analysis(
        champion, challenger, tolerances=Tolerances(fairness=0.3), fairness_limits={"sex": 0.1}
    )
    assert metric(limited, name)["tolerance"] == pytest.approx(0.1 - gap["arm_values"]["champion"])
    assert limited["guardrail_breached"] == name


def test_without_the_protected_attribute_in_the_requests_the_gap_is_absent_with_a_warning():
    result = analysis(arm(seed=1, sex=False), arm(seed=2, sex=False))
    names = {m["name"] for m in result["metrics"]}
    assert "demographic_parity_difference[sex]" not in names and "error_rate" in names
    assert any("carried 'sex'" in w for w in result["warnings"])


def test_few_requests_leave_the_p99_out_with_a_warning():
    few = ArmRequests(latencies(30), np.ones(30), np.zeros(30))
    found, warnings = arm_guardrails(few, few)
    assert [g.estimate.name for g in found] == ["error_rate"]
    assert any("latency_p99_ms" in w and "500 are needed" in w for w in warnings)


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        ([Arm("champion", 90), Arm("challenger", 10)], "champion=90 + challenger=10 = 100"),
        ([Arm("champion", 0.5), Arm("challenger", 0.4)], "must sum to 1"),
    ],
)
def test_split_weights_that_do_not_sum_to_one_are_a_clear_error(arms, message):
    with pytest.raises(TailorkitError, match=re.escape(message)):
        check_arms(arms, "split")


def test_weights_that_sum_to_one_and_shadow_arms_pass_and_tolerances_must_be_positive():
    check_arms([Arm("a", 0.33), Arm("b", 0.33), Arm("c", 0.34)], "split")
    check_arms([Arm("champion", 1), Arm("challenger", 1)], "shadow")  # weights unused there
    arms = [Arm("champion", 0.5), Arm("challenger", 0.5)]
    with pytest.raises(TailorkitError, match="--latency-tolerance"):
        check_plan(ExperimentPlan("conversion", latency_tolerance=-0.1), arms, "split")
