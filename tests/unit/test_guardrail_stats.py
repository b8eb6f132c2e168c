"""Guardrails read from served requests: the latency quantile and the parity gap per arm,
checked against numpy, fairlearn (through the offline audit) and scipy's row bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tailorkit.evaluate.experiment_stats import ExperimentDataError
from tailorkit.evaluate.fairness import group_fairness
from tailorkit.evaluate.guardrail_stats import compare_parity_gap, compare_quantile

RNG = np.random.default_rng(7)


def latencies(n: int, scale: float = 1.0, seed: int = 0) -> np.ndarray:
    """Request latencies in ms: a lognormal body with a slow tail, as a service shows."""
    rng = np.random.default_rng(seed)
    return scale * rng.lognormal(np.log(8.0), 0.4, n) + rng.exponential(2.0, n)


def test_the_p99_difference_and_lift_come_with_a_bootstrap_interval_around_the_truth():
    control, treatment = latencies(3000, seed=1), latencies(3000, scale=1.5, seed=2)
    e = compare_quantile("latency_p99_ms", control, treatment)
    assert e.control_mean == pytest.approx(np.quantile(control, 0.99))
    assert e.treatment_mean == pytest.approx(np.quantile(treatment, 0.99))
    truth = np.quantile(latencies(10**6, 1.5, 3), 0.99) - np.quantile(latencies(10**6, 1, 4), 0.99)
    assert e.diff_ci_low < truth < e.diff_ci_high and e.diff_ci_low > 0
    assert e.ci_low < e.lift < e.ci_high and e.ci_low > 0.2
    assert e.method == "bootstrap" and (e.control_units, e.treatment_units) == (3000, 3000)
    again = compare_quantile("latency_p99_ms", control, treatment)
    assert (again.diff_ci_low, again.diff_ci_high) == (e.diff_ci_low, e.diff_ci_high)  # seeded


def test_the_same_latency_on_both_arms_rarely_leaves_zero_and_never_passes_the_tolerance():
    inside, beyond = 0, 0
    for seed in range(40):
        e = compare_quantile(
            "p99", latencies(600, seed=2 * seed), latencies(600, seed=2 * seed + 1)
        )
        inside += e.diff_ci_low <= 0 <= e.diff_ci_high
        beyond += e.diff_ci_low > 0.2 * e.control_mean  # what a +20% tolerance breaches on
    assert inside >= 34 and beyond == 0  # ~95% coverage (40 runs: at least 85%)


def test_the_parity_gap_per_arm_is_the_offline_audits_and_its_interval_scipys_row_bootstrap():
    n = 3000
    groups_c, groups_t = RNG.choice(["f", "m"], n), RNG.choice(["f", "m"], n)
    rejected_c = RNG.random(n) < 0.3
    rejected_t = RNG.random(n) < np.where(groups_t == "f", 0.45, 0.25)  # unfair challenger
    e = compare_parity_gap("dpd[sex]", "sex", (groups_c, rejected_c), (groups_t, rejected_t))
    audit = group_fairness(np.zeros(n), rejected_t.astype(float), groups_t, threshold=0.5)
    assert e.treatment_mean == pytest.approx(audit["demographic_parity_difference"])
    assert e.control_mean < 0.05 < 0.15 < e.treatment_mean

    def gap(groups, chosen):  # two groups: the absolute difference of their shares
        f, m = groups == "f", groups == "m"
        return abs((chosen & f).sum(-1) / f.sum(-1) - (chosen & m).sum(-1) / m.sum(-1))

    def statistic(i, j, axis=-1):  # resampled row indices of each arm
        i, j = i.astype(int), j.astype(int)
        return gap(groups_t[j], rejected_t[j]) - gap(groups_c[i], rejected_c[i])

    rows = (np.arange(n), np.arange(n))
    reference = stats.bootstrap(
        rows, statistic, n_resamples=1500, method="percentile", random_state=3, batch=250
    ).confidence_interval
    assert e.diff_ci_low == pytest.approx(reference.low, abs=0.01)
    assert e.diff_ci_high == pytest.approx(reference.high, abs=0.01)


def test_ages_are_banded_alike_in_both_arms_and_thin_groups_stay_out():
    n = 2000
    age_c, age_t = RNG.integers(18, 80, n), RNG.integers(18, 80, n)
    rejected_c, rejected_t = RNG.random(n) < 0.3, RNG.random(n) < np.where(age_t < 25, 0.6, 0.3)
    e = compare_parity_gap("dpd[age]", "age", (list(age_c), rejected_c), (list(age_t), rejected_t))
    assert e.treatment_mean > 0.2 and e.diff_ci_low > 0  # the "<25" band is treated worse
    sparse = np.where(RNG.random(n) < 0.005, "x", "f")  # one real group: no gap to measure
    with pytest.raises(ExperimentDataError, match="fewer than 2 groups of 'sex'"):
        compare_parity_gap("dpd[sex]", "sex", (sparse, rejected_c), (sparse, rejected_t))


def test_too_few_requests_for_a_p99_is_a_clear_error():
    with pytest.raises(ExperimentDataError, match="the treatment arm has 20 values yet; 500"):
        compare_quantile("latency_p99_ms", latencies(600), latencies(20))
