"""A/B statistics: checked against statsmodels and scipy, and by simulation under peeking."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.weightstats import ttest_ind

from tailorkit.evaluate.experiment_stats import (
    ExperimentDataError,
    always_valid_p_value,
    benjamini_hochberg,
    compare,
    compare_ratio,
    confidence_sequence_radius,
    cuped,
    mixture_rho2,
    srm_p_value,
)

RNG = np.random.default_rng(0)


def test_fixed_binary_interval_is_statsmodels_wald_difference():
    c, t = RNG.binomial(1, 0.10, 4000), RNG.binomial(1, 0.12, 3000)
    e = compare("conversion", c, t, binary=True, method="fixed")
    low, high = confint_proportions_2indep(t.sum(), 3000, c.sum(), 4000, method="wald")
    assert (e.diff_ci_low, e.diff_ci_high) == pytest.approx((low, high), rel=1e-9)
    z = e.diff / np.sqrt(t.mean() * (1 - t.mean()) / 3000 + c.mean() * (1 - c.mean()) / 4000)
    assert e.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert e.control_units == 4000 and e.treatment_units == 3000


def test_fixed_numeric_is_welch():
    c, t = RNG.normal(10, 3, 500), RNG.normal(10.6, 5, 700)
    e = compare("revenue", c, t, method="fixed")
    _, p_value, _ = ttest_ind(t, c, usevar="unequal")
    welch = stats.ttest_ind(t, c, equal_var=False)
    low, high = welch.confidence_interval(0.95)
    assert e.p_value == pytest.approx(p_value, rel=1e-9)
    assert e.p_value == pytest.approx(welch.pvalue, rel=1e-9)
    assert (e.diff_ci_low, e.diff_ci_high) == pytest.approx((low, high), rel=1e-6)


def test_relative_lift_interval_covers_the_truth_at_its_rate():
    """Delta-method lift intervals of 400 fixed-horizon experiments cover the true +10%."""
    covered = 0
    for _ in range(400):
        c, t = RNG.exponential(2.0, 2000), RNG.exponential(2.2, 2000)
        e = compare("revenue", c, t, method="fixed")
        covered += e.ci_low <= 0.1 <= e.ci_high
    assert 0.92 <= covered / 400 <= 0.98


def test_sequential_intervals_are_wider_than_fixed_and_hold_under_peeking():
    """A/A with a look after every batch: the fixed z 'ships' often, the sequence rarely."""
    runs, looks, batch = 300, 20, 200
    false_fixed = false_sequential = 0
    for _ in range(runs):
        c, t = RNG.binomial(1, 0.2, looks * batch), RNG.binomial(1, 0.2, looks * batch)
        fixed_hit = sequential_hit = False
        for look in range(1, looks + 1):
            n = look * batch
            fixed = compare("x", c[:n], t[:n], binary=True, method="fixed")
            sequential = compare("x", c[:n], t[:n], binary=True, planned_units=2 * n)
            fixed_hit |= fixed.diff_ci_low > 0 or fixed.diff_ci_high < 0
            sequential_hit |= sequential.diff_ci_low > 0 or sequential.diff_ci_high < 0
            assert sequential.diff_ci_high - sequential.diff_ci_low > (
                fixed.diff_ci_high - fixed.diff_ci_low
            )
        false_fixed += fixed_hit
        false_sequential += sequential_hit
    assert false_sequential / runs <= 0.05
    assert false_fixed / runs >= 0.15  # peeking a fixed-horizon test inflates its error


def test_always_valid_p_value_agrees_with_the_sequence():
    c, t = RNG.binomial(1, 0.10, 20000), RNG.binomial(1, 0.115, 20000)
    e = compare("conversion", c, t, binary=True, planned_units=40000)
    excludes_zero = e.diff_ci_low > 0 or e.diff_ci_high < 0
    assert excludes_zero == (e.p_value < 0.05)
    se = np.sqrt(t.var() / len(t) + c.var() / len(c))
    rho2 = mixture_rho2(0.05, 40000)
    assert confidence_sequence_radius(se, 40000, e.p_value, rho2) == pytest.approx(abs(e.diff))
    assert e.p_value == always_valid_p_value(e.diff, se, 40000, rho2)


def test_ratio_metric_by_the_delta_method_matches_a_bootstrap():
    impressions_c, impressions_t = RNG.poisson(8, 3000) + 1, RNG.poisson(8, 3000) + 1
    clicks_c, clicks_t = RNG.binomial(impressions_c, 0.05), RNG.binomial(impressions_t, 0.06)
    e = compare_ratio("ctr", (clicks_c, impressions_c), (clicks_t, impressions_t), method="fixed")
    assert e.control_mean == pytest.approx(clicks_c.sum() / impressions_c.sum())
    draws = []
    for _ in range(400):
        i, j = RNG.integers(0, 3000, 3000), RNG.integers(0, 3000, 3000)
        draws.append(
            clicks_t[j].sum() / impressions_t[j].sum() - clicks_c[i].sum() / impressions_c[i].sum()
        )
    half_width = (e.diff_ci_high - e.diff_ci_low) / 2
    assert half_width == pytest.approx(1.96 * np.std(draws), rel=0.15)


def test_cuped_narrows_the_interval_when_the_covariate_predicts_the_outcome():
    before = RNG.normal(100, 20, 4000)
    after = before + RNG.normal(0, 5, 4000)
    after[2000:] += 1.0
    adjusted, theta = cuped(after, before)
    plain = compare("spend", after[:2000], after[2000:], method="fixed")
    reduced = compare("spend", adjusted[:2000], adjusted[2000:], method="fixed")
    assert theta == pytest.approx(1.0, abs=0.05)
    ratio = (reduced.diff_ci_high - reduced.diff_ci_low) / (plain.diff_ci_high - plain.diff_ci_low)
    assert ratio < 0.3
    assert reduced.diff_ci_low <= 1.0 <= reduced.diff_ci_high  # the true effect


def test_srm_is_scipy_chisquare_against_the_weights():
    assert srm_p_value([5000, 5000], [0.5, 0.5]) == pytest.approx(1.0)
    expected = stats.chisquare([10000, 9800], f_exp=[9900, 9900]).pvalue
    assert srm_p_value([10000, 9800], [0.5, 0.5]) == pytest.approx(expected)
    assert srm_p_value([9000, 1000], [0.9, 0.1]) == pytest.approx(1.0)
    # a 2% loss of one arm's units: chi-square's noncentrality is about n * 0.02**2 / 2, so at
    # alpha 0.001 it is caught reliably from about 120,000 units per arm
    assert srm_p_value([125_000, 122_500], [0.5, 0.5]) < 0.001


def test_benjamini_hochberg_is_statsmodels():
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.5]) == pytest.approx(
        [0.04, 0.0533, 0.0533, 0.5], abs=1e-3
    )
    assert benjamini_hochberg([]) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: srm_p_value([10, 10], [0.6, 0.6]), "sum to 1"),
        (lambda: srm_p_value([10, 10, 3], [0.5, 0.5]), "3 arms"),
        (lambda: srm_p_value([0, 0], [0.5, 0.5]), "no units"),
        (lambda: compare("m", [1.0], [1.0, 2.0]), "control arm has 1 units"),
        (lambda: compare("m", [0.0, 0.0], [1.0, 0.0], binary=True), "champion's mean is 0"),
        (lambda: compare("m", [1.0, 2.0], [0.5, 1.0], binary=True), "0 or 1"),
        (lambda: compare("m", [1.0, np.nan], [1.0, 2.0]), "missing or infinite"),
        (lambda: compare("m", [1.0, 2.0], [1.0, 2.0], method="bayes"), "method must be"),
        (lambda: cuped([1.0, 2.0], [1.0]), "covariate"),
        (lambda: compare_ratio("ctr", ([1, 2], [0, 0]), ([1, 2], [1, 1])), "denominator"),
    ],
)
def test_bad_experiment_data_is_a_clear_error(call, message):
    with pytest.raises(ExperimentDataError, match=message):
        call()


def test_a_mean_near_zero_gives_an_infinite_lift_bound_not_an_overflow():
    control = np.array([1.0, -1.0] * 500)
    control[0] += 1e-9  # found by benchmarks/experiments.py (CUPED-adjusted values)
    e = compare("m", control, control + 0.1)
    assert np.isfinite(e.diff_ci_low) and e.diff_ci_low < 0.1 < e.diff_ci_high
    assert e.ci_high == np.inf or np.isfinite(e.ci_high)
