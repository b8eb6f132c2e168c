"""Metrics an analysis reads: outcomes, ratios, ranked clicks (ctr@k, hit_rate@k), and CUPED
from a pre-period covariate; each goes through ``analyze`` as the service calls it."""

from __future__ import annotations

import numpy as np
import pytest

from tailorkit.evaluate.experiment_stats import ExperimentDataError, compare, compare_ratio
from tailorkit.loop.decision import Rule
from tailorkit.loop.experiment_analysis import analyze, parse_metric

RNG = np.random.default_rng(7)
ARMS = [("champion", 0.5), ("challenger", 0.5)]


@pytest.mark.parametrize(
    "text, kind, outcomes, k, higher",
    [
        ("conversion", "outcome", ("conversion",), None, True),
        ("clicks/impressions", "ratio", ("clicks", "impressions"), None, True),
        ("ctr@10", "ctr", ("click",), 10, True),
        ("hit_rate@5:lower", "hit_rate", ("click",), 5, False),
    ],
)
def test_metric_names_say_their_kind(text, kind, outcomes, k, higher):
    metric = parse_metric(text)
    assert (metric.kind, metric.outcomes, metric.k, metric.higher_is_better) == (
        kind,
        outcomes,
        k,
        higher,
    )


@pytest.mark.parametrize("text", ["Conversion", "a/b/c", "ctr@0", "ctr@", "x/", "clicks per"])
def test_a_metric_that_is_no_outcome_ratio_or_ranked_click_is_a_clear_error(text):
    with pytest.raises(ExperimentDataError, match=r"--primary .*NUMERATOR/DENOMINATOR, ctr@K"):
        parse_metric(text)


def _units(values: dict) -> int:
    first = next(iter(values.values()))
    return len(first[0] if isinstance(first, tuple) else first)


def _analysis(values, binary, metric, covariates=None, method="fixed"):
    return analyze(
        arms=ARMS,
        units={arm: _units(v) for arm, v in values.items()},
        values=values,
        binary=binary,
        primary=parse_metric(metric),
        rule=Rule(min_units=100),
        method=method,
        covariates=covariates,
    )


def test_a_ratio_metric_is_compared_by_the_delta_method():
    shown = {a: RNG.integers(1, 20, 800).astype(float) for a, _ in ARMS}
    clicked = {
        a: RNG.binomial(shown[a].astype(int), p)
        for (a, _), p in zip(ARMS, (0.1, 0.13), strict=True)
    }
    values = {a: {"click/shown": (clicked[a].astype(float), shown[a])} for a, _ in ARMS}
    result = _analysis(values, {}, "click/shown")
    direct = compare_ratio(
        "click/shown",
        values["champion"]["click/shown"],
        values["challenger"]["click/shown"],
        method="fixed",
        planned_units=200,
    )
    (metric,) = result["metrics"]
    assert metric["lift"] == pytest.approx(direct.lift)
    assert (metric["ci_low"], metric["ci_high"]) == pytest.approx((direct.ci_low, direct.ci_high))
    assert metric["arm_values"]["champion"] == pytest.approx(
        clicked["champion"].sum() / shown["champion"].sum()
    )


def test_cuped_narrows_the_interval_and_keeps_the_estimate_honest():
    n = 3000
    before = {a: RNG.normal(10, 3, n) for a, _ in ARMS}
    during = {
        a: before[a] * 0.9 + RNG.normal(lift, 1.5, n)
        for (a, _), lift in zip(ARMS, (1.0, 1.3), strict=True)
    }
    values = {a: {"revenue": during[a]} for a, _ in ARMS}
    covariates = {a: {"revenue": before[a]} for a, _ in ARMS}
    plain = _analysis(values, {"revenue": False}, "revenue")["metrics"][0]
    adjusted = _analysis(values, {"revenue": False}, "revenue", covariates)["metrics"][0]
    assert adjusted["method"] == "fixed+cuped" and plain["method"] == "fixed"
    width = adjusted["diff_ci_high"] - adjusted["diff_ci_low"]
    assert width < 0.6 * (plain["diff_ci_high"] - plain["diff_ci_low"])
    assert adjusted["diff_ci_low"] < 0.3 < adjusted["diff_ci_high"]  # the true difference
    assert adjusted["cuped"]["variance_reduction"] > 0.6
    assert adjusted["cuped"]["theta"] == pytest.approx(0.9, abs=0.05)


def test_a_covariate_that_never_varies_leaves_the_comparison_as_it_was():
    values = {a: {"conversion": RNG.binomial(1, 0.2, 500).astype(float)} for a, _ in ARMS}
    covariates = {a: {"conversion": np.zeros(500)} for a, _ in ARMS}
    (metric,) = _analysis(values, {"conversion": True}, "conversion", covariates)["metrics"]
    direct = compare(
        "conversion",
        values["champion"]["conversion"],
        values["challenger"]["conversion"],
        binary=True,
        method="fixed",
    )
    assert metric["method"] == "fixed" and "cuped" not in metric
    assert metric["p_value"] == pytest.approx(direct.p_value)


def test_a_champion_without_conversions_still_decides_on_the_difference():
    values = {
        "champion": {"conversion": np.zeros(2000)},
        "challenger": {"conversion": RNG.binomial(1, 0.05, 2000).astype(float)},
    }
    result = _analysis(values, {"conversion": True}, "conversion")
    (metric,) = result["metrics"]
    assert metric["lift"] is None and metric["diff_ci_low"] > 0
    assert result["decision"] == "ship" and "difference +0.0" in result["reason"]
