"""Metrics, bootstrap intervals, curves, cost-based thresholds and the fairness audit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import equalized_odds_difference
from scipy.stats import ks_2samp
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from tailorkit.evaluate.fairness import band_groups, group_fairness
from tailorkit.evaluate.metrics import (
    HIGHER_IS_BETTER,
    METRIC_NAMES,
    _bootstrap_auc,
    binary_metrics,
    bootstrap_ci,
    calibration_error,
    curves,
    fold_summary,
)
from tailorkit.evaluate.threshold import (
    CostMatrix,
    bayes_threshold,
    best_threshold,
    expected_cost,
)

GERMAN_COST = CostMatrix(false_negative=5, false_positive=1)


def scored(n: int, seed: int = 0, positive_rate: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Labels and informative, calibrated-ish scores with some exact ties."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positive_rate).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 1.5)))
    return y, np.round(p, 3)


def test_binary_metrics_match_sklearn_and_scipy():
    y, p = scored(800)
    threshold = 0.3
    metrics = binary_metrics(y, p, threshold)
    decided = (p > threshold).astype(int)
    assert set(metrics) == set(METRIC_NAMES) == set(HIGHER_IS_BETTER)
    assert metrics["auc"] == pytest.approx(roc_auc_score(y, p))
    assert metrics["gini"] == pytest.approx(2 * roc_auc_score(y, p) - 1)
    assert metrics["ks"] == pytest.approx(ks_2samp(p[y == 1], p[y == 0]).statistic)
    assert metrics["brier"] == pytest.approx(brier_score_loss(y, p))
    assert metrics["log_loss"] == pytest.approx(log_loss(y, p))
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert metrics["f1"] == pytest.approx(f1_score(y, decided))
    assert metrics["precision"] == pytest.approx(precision_score(y, decided))
    assert metrics["recall"] == pytest.approx(recall_score(y, decided))
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y, decided))
    assert all(type(v) is float for v in metrics.values())


def test_one_class_labels_give_none_without_crashing():
    y, p = np.zeros(50, dtype=int), np.linspace(0.01, 0.99, 50)
    metrics = binary_metrics(y, p)
    assert metrics["auc"] is None and metrics["gini"] is None and metrics["ks"] is None
    assert metrics["recall"] is None and metrics["pr_auc"] is None
    assert metrics["accuracy"] == pytest.approx(np.mean(p <= 0.5))
    assert bootstrap_ci(y, p, "auc", n_boot=20) == (None, None)
    drawn = curves(y, p)
    assert drawn["roc"] == {"fpr": [], "tpr": []}
    fairness = group_fairness(y, p, pd.Series(["a", "b"] * 25, name="g"), threshold=0.5)
    assert fairness["auc_gap"] is None
    json.dumps([metrics, drawn, fairness, best_threshold(y, p, GERMAN_COST)])


def test_nothing_predicted_positive_leaves_precision_undefined():
    y, p = scored(100)
    metrics = binary_metrics(y, p, threshold=1.0)
    assert metrics["precision"] is None
    assert metrics["recall"] == 0.0 and metrics["f1"] == 0.0


def test_mismatched_or_missing_inputs_are_rejected():
    with pytest.raises(ValueError, match="rows"):
        binary_metrics([0, 1, 1], [0.2, 0.4])
    with pytest.raises(ValueError, match="NaN"):
        binary_metrics([0, 1], [0.2, np.nan])
    with pytest.raises(ValueError, match="unknown metric"):
        bootstrap_ci([0, 1], [0.2, 0.4], metric="aucc")


def test_fast_bootstrap_auc_equals_auc_of_each_resample():
    y, p = scored(300, seed=3)
    n_boot = 20
    fast = _bootstrap_auc(y, p, n_boot, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    negatives, positives = np.sort(p[y == 0]), p[y == 1]
    drawn_neg = rng.integers(0, negatives.size, size=(n_boot, negatives.size))
    drawn_pos = rng.integers(0, positives.size, size=(n_boot, positives.size))
    for b in range(n_boot):
        scores = np.r_[positives[drawn_pos[b]], negatives[drawn_neg[b]]]
        labels = np.r_[np.ones(positives.size), np.zeros(negatives.size)]
        assert fast[b] == pytest.approx(roc_auc_score(labels, scores))


def test_bootstrap_ci_contains_estimate_and_narrows_with_more_data():
    small_y, small_p = scored(300, seed=1)
    large_y, large_p = scored(6000, seed=1)
    small = bootstrap_ci(small_y, small_p, "auc", n_boot=300)
    large = bootstrap_ci(large_y, large_p, "auc", n_boot=300)
    assert small[0] < binary_metrics(small_y, small_p)["auc"] < small[1]
    assert large[0] < binary_metrics(large_y, large_p)["auc"] < large[1]
    assert large[1] - large[0] < (small[1] - small[0]) / 2
    assert bootstrap_ci(small_y, small_p, "auc", n_boot=300) == small  # seeded
    ks_low, ks_high = bootstrap_ci(small_y, small_p, "ks", n_boot=100)
    assert ks_low < binary_metrics(small_y, small_p)["ks"] < ks_high


def test_bootstrap_ci_resamples_whole_groups():
    y, p = scored(400, seed=2)
    y4, p4 = np.repeat(y, 4), np.repeat(p, 4)  # each customer's row four times
    customer = np.arange(1600) // 4
    low, high = bootstrap_ci(y4, p4, "brier", n_boot=200, groups=customer)
    assert low < binary_metrics(y4, p4)["brier"] < high
    rows_low, rows_high = bootstrap_ci(y4, p4, "brier", n_boot=200)  # copies as if independent
    assert high - low > 1.5 * (rows_high - rows_low)  # about twice as wide: 400 draws, not 1600


def test_bootstrap_ci_on_thirty_thousand_rows_brackets_the_auc():
    y, p = scored(30_000, seed=4)
    low, high = bootstrap_ci(y, p, "auc", n_boot=1000)
    assert low < roc_auc_score(y, p) < high and high - low < 0.03


def test_fold_summary_skips_missing_folds():
    summary = fold_summary([0.7, 0.8, None, float("nan")])
    assert summary == {"mean": pytest.approx(0.75), "std": pytest.approx(0.05), "n": 2}
    assert fold_summary([])["mean"] is None


def test_curves_are_thinned_and_json_ready():
    y, p = scored(3000, seed=5)
    drawn = curves(y, p, n_points=51)
    assert 2 < len(drawn["roc"]["fpr"]) <= 51
    assert drawn["roc"]["fpr"][0] == 0.0 and drawn["roc"]["tpr"][-1] == 1.0
    assert len(drawn["pr"]["recall"]) == len(drawn["pr"]["precision"]) <= 51
    calibration = drawn["calibration"]
    assert len(calibration["count"]) == 10 and sum(calibration["count"]) == 3000
    assert calibration["predicted"] == sorted(calibration["predicted"])
    hist = drawn["score_hist"]
    assert sum(hist["positive"]) == y.sum() and sum(hist["negative"]) == (1 - y).sum()
    assert len(hist["edges"]) == len(hist["positive"]) + 1
    json.dumps(drawn)


def test_calibration_error_is_zero_when_calibrated_and_large_when_not():
    y = np.r_[np.ones(20), np.zeros(80)].astype(int)
    assert calibration_error(y, np.full(100, 0.2)) == pytest.approx(0.0)
    assert calibration_error(y, np.full(100, 0.9)) == pytest.approx(0.7)


def test_bayes_threshold_and_reject_all_cost_follow_german_credit_convention():
    assert bayes_threshold(GERMAN_COST) == pytest.approx(1 / 6)
    assert bayes_threshold(CostMatrix()) == pytest.approx(0.5)
    y = np.r_[np.ones(30), np.zeros(70)].astype(int)
    p = np.linspace(0.05, 0.95, 100)
    assert expected_cost(y, p, -1.0, GERMAN_COST) == pytest.approx(0.7)
    assert expected_cost(y, p, 1.0, GERMAN_COST) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="cost matrix"):
        bayes_threshold(CostMatrix(false_negative=-1, false_positive=0))


def test_best_threshold_is_no_worse_than_bayes_on_its_own_data():
    y, p = scored(1000, seed=6)
    result = best_threshold(y, p, GERMAN_COST)
    json.dumps(result)
    assert result["bayes_threshold"] == pytest.approx(1 / 6)
    assert result["bayes_cost"] == pytest.approx(expected_cost(y, p, 1 / 6, GERMAN_COST))
    assert result["empirical_cost"] <= result["bayes_cost"]
    assert result["empirical_cost"] == pytest.approx(
        expected_cost(y, p, result["empirical_threshold"], GERMAN_COST)
    )
    assert result["reject_all_cost"] == pytest.approx(np.mean(y == 0))
    assert result["accept_all_cost"] == pytest.approx(5 * np.mean(y))
    grid_costs = [expected_cost(y, p, t, GERMAN_COST) for t in np.linspace(0, 1, 101)]
    assert result["cost_curve"]["cost"] == pytest.approx(grid_costs)
    assert result["empirical_cost"] <= min(grid_costs)


def test_demographic_parity_matches_hand_computation():
    y = np.array([1, 0, 0, 1, 0, 1, 0, 0, 1, 0])
    p = np.array([0.9, 0.6, 0.1, 0.8, 0.2, 0.7, 0.3, 0.2, 0.4, 0.9])
    sex = pd.Series(["f"] * 4 + ["m"] * 6, name="sex", index=range(100, 110))
    result = group_fairness(y, p, sex, threshold=0.5)
    # rejected (p > 0.5): f -> 3 of 4; m -> rows 0.7 and 0.9, 2 of 6
    by_group = {g["group"]: g for g in result["groups"]}
    assert by_group["f"]["selection_rate"] == pytest.approx(0.75)
    assert by_group["m"]["selection_rate"] == pytest.approx(2 / 6)
    assert result["demographic_parity_difference"] == pytest.approx(0.75 - 2 / 6)
    assert by_group["f"]["tpr"] == 1.0 and by_group["f"]["fpr"] == pytest.approx(0.5)
    assert by_group["m"]["tpr"] == 0.5 and by_group["m"]["fpr"] == pytest.approx(0.25)
    assert result["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, p > 0.5, sensitive_features=sex.to_numpy())
    )
    assert result["auc_gap"] == pytest.approx(1.0 - 6 / 8)
    assert result["column"] == "sex"
    json.dumps(result)


def test_undefined_group_rates_do_not_count_as_zero():
    y = np.array([1, 0, 1, 0, 0, 0])
    p = np.array([0.9, 0.1, 0.8, 0.3, 0.9, 0.2])
    groups = pd.Series(["a", "a", "b", "b", "c", "c"], name="region")
    result = group_fairness(y, p, groups, threshold=0.5)
    by_group = {g["group"]: g for g in result["groups"]}
    assert by_group["c"]["tpr"] is None and by_group["c"]["auc"] is None
    # TPR a 1, b 1, c undefined; FPR a 0, b 0, c 0.5 (fairlearn alone would call c's TPR 0)
    assert result["equalized_odds_difference"] == pytest.approx(0.5)


def test_small_groups_are_listed_but_left_out_of_the_gaps():
    y = np.array([1, 0, 1, 0, 1])
    p = np.array([0.9, 0.1, 0.8, 0.2, 0.1])
    groups = pd.Series(["a", "a", "b", "b", "c"], name="region")
    result = group_fairness(y, p, groups, threshold=0.5, min_group_size=2)
    assert [g["included_in_gaps"] for g in result["groups"]] == [True, True, False]
    assert result["demographic_parity_difference"] == pytest.approx(0.0)


def test_age_is_banded_and_missing_values_form_their_own_group():
    rng = np.random.default_rng(8)
    ages = pd.Series(rng.integers(18, 80, 300).astype(float), name="age")
    ages[:7] = np.nan
    y, p = scored(300, seed=8)
    result = group_fairness(y, p, ages, threshold=1 / 6)
    names = [g["group"] for g in result["groups"]]
    assert result["banding"] == "age"
    assert names == ["<25", "25-34", "35-49", "50+", "missing"]
    assert result["groups"][-1]["n"] == 7
    assert sum(g["n"] for g in result["groups"]) == 300
    json.dumps(result)


def test_other_numeric_columns_get_quantile_bands():
    income = pd.Series(np.arange(400, dtype=float) * 10, name="income")
    labels, banding = band_groups(income)
    assert banding == "quantile"
    assert labels.value_counts().tolist() == [100, 100, 100, 100]
    few_values, banding = band_groups(pd.Series([1, 2, 1, 2], name="sex"))
    assert banding is None and few_values.tolist() == ["1", "2", "1", "2"]


def test_parallel_folds_give_the_same_predictions_as_sequential_folds():
    from tailorkit.data.schema import infer_schema
    from tailorkit.data.simulators.applicants import simulate_applicants
    from tailorkit.data.splits import make_splits
    from tailorkit.execution.process_pool import fold_executor
    from tailorkit.models import make_model
    from tailorkit.training.crossval import FoldJobs, TabularFolds, cross_validate
    from tests.conftest import TINY_FT

    frame = simulate_applicants(300, random_state=3)
    y = frame.pop("default").to_numpy()
    splits = make_splits(y, protocol="kfold", folds=3, holdout_fraction=0.2, seed=0)
    model = make_model("ft_transformer", time_limit=None, **TINY_FT)
    task = TabularFolds(model, frame, y, infer_schema(frame))
    sequential = cross_validate("ft", task, y, splits)
    with fold_executor(2) as executor:
        parallel = FoldJobs("ft", task, y, splits, executor=executor).result()
    np.testing.assert_allclose(parallel.oof, sequential.oof, rtol=1e-6)
    assert parallel.fold_auc == pytest.approx(sequential.fold_auc)


def test_a_fold_workers_error_reaches_the_caller_as_it_was_raised():
    from tailorkit.data.schema import infer_schema
    from tailorkit.data.simulators.applicants import simulate_applicants
    from tailorkit.data.splits import make_splits
    from tailorkit.errors import SpecError
    from tailorkit.execution.process_pool import fold_executor
    from tailorkit.models import make_model
    from tailorkit.training.crossval import FoldJobs, TabularFolds

    frame = simulate_applicants(120, random_state=4)
    y = frame.pop("default").to_numpy()
    splits = make_splits(y, protocol="kfold", folds=3, holdout_fraction=0.2, seed=0)
    model = make_model("ft_transformer", d_token=30, n_heads=4)  # checked when fitting
    with fold_executor(2, ("tailorkit.models.ft_transformer",)) as executor:
        task = TabularFolds(model, frame, y, infer_schema(frame))
        jobs = FoldJobs("ft", task, y, splits, executor=executor)
        with pytest.raises(SpecError, match="multiple of n_heads"):
            jobs.result()


def _thread_counts() -> tuple[set[int], int]:
    from threadpoolctl import threadpool_info

    from tailorkit.models.torch_utils import default_threads

    blas = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    return blas, default_threads()


def test_every_fold_worker_caps_blas_and_torch_threads_at_its_share_of_the_cores():
    import os

    from tailorkit.execution.process_pool import fold_executor

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    share = max(1, (cores or 1) // 2)
    with fold_executor(2, ("tailorkit.models.ft_transformer",)) as executor:
        answers = [f.result() for f in [executor.submit(_thread_counts) for _ in range(6)]]
    for blas, torch_default in answers:
        assert blas == {share} and 1 <= torch_default <= share
