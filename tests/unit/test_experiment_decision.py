"""The decision rule: invalid before anything else, guardrails before the primary metric."""

from __future__ import annotations

import numpy as np
import pytest

from tailorkit.evaluate.experiment_stats import compare
from tailorkit.loop.decision import Guardrail, Rule, decide

RNG = np.random.default_rng(1)
BETTER = compare(
    "conversion", RNG.binomial(1, 0.10, 5000), RNG.binomial(1, 0.14, 5000), binary=True
)
WORSE = compare("conversion", RNG.binomial(1, 0.14, 5000), RNG.binomial(1, 0.10, 5000), binary=True)
EQUAL = compare("conversion", RNG.binomial(1, 0.1, 5000), RNG.binomial(1, 0.1, 5000), binary=True)
MORE_ERRORS = compare(
    "error", RNG.binomial(1, 0.01, 5000), RNG.binomial(1, 0.05, 5000), binary=True
)
SAME_ERRORS = compare(
    "error", RNG.binomial(1, 0.02, 5000), RNG.binomial(1, 0.02, 5000), binary=True
)
RULE = Rule(min_units=1000)


def run(primary, units=(5000, 5000), srm=0.5, duration=86400.0, rule=RULE, guardrails=()):
    return decide(
        primary, units=units, srm_p_value=srm, duration_s=duration, rule=rule, guardrails=guardrails
    )


def test_a_better_challenger_ships_and_says_by_how_much():
    decision = run(BETTER, guardrails=[Guardrail(SAME_ERRORS)])
    assert decision.decision == "ship"
    assert "lift +" in decision.reason and "sequential" in decision.reason


def test_a_worse_challenger_is_kept_out():
    assert run(WORSE).decision == "keep"


def test_no_difference_continues():
    assert run(EQUAL).decision == "continue"


@pytest.mark.parametrize(
    ("kwargs", "decision", "reason"),
    [
        ({"srm": 1e-5}, "invalid", "sample ratio mismatch"),
        ({"units": (5000, 0)}, "invalid", "no units"),
        ({"units": ()}, "invalid", "no units"),
        ({"guardrails": [Guardrail(MORE_ERRORS)]}, "keep", "guardrail error breached"),
        ({"units": (900, 5000)}, "continue", "1000 needed"),
        ({"duration": 10.0, "rule": Rule(min_duration_s=3600)}, "continue", "3600 s needed"),
    ],
)
def test_what_comes_before_shipping(kwargs, decision, reason):
    result = run(BETTER, **kwargs)
    assert result.decision == decision
    assert reason in result.reason


def test_srm_wins_over_everything_and_no_primary_data_is_invalid():
    assert run(BETTER, srm=1e-4, guardrails=[Guardrail(MORE_ERRORS)]).decision == "invalid"
    assert run(None).decision == "invalid"


def test_lower_is_better_metrics_flip_the_direction():
    loss = Rule(higher_is_better=False)
    assert run(WORSE, rule=loss).decision == "ship"
    assert run(BETTER, rule=loss).decision == "keep"
    fewer_errors = Guardrail(MORE_ERRORS, higher_is_better=True)
    assert run(BETTER, guardrails=[fewer_errors]).decision == "ship"


def test_a_guardrail_breaches_only_beyond_its_margin():
    assert run(BETTER, guardrails=[Guardrail(MORE_ERRORS, margin=0.1)]).decision == "ship"
    breached = run(BETTER, guardrails=[Guardrail(MORE_ERRORS, margin=0.01)])
    assert breached.guardrail_breached == "error" and "tolerance of 0.01" in breached.reason
