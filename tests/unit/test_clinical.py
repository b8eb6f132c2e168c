"""Clinical evaluation against hand-computed values; operating points; grouped splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tailorkit.data.splits import assert_no_patient_leak, patient_splits
from tailorkit.errors import DataError
from tailorkit.evaluate.clinical import (
    OperatingPolicy,
    age_band,
    apply_recalibration,
    calibration,
    choose_threshold,
    cross_fitted_operating_point,
    cross_fitted_recalibration,
    decision_curve,
    discrimination,
    fit_recalibration,
    metrics_at,
    net_benefit,
    predictive_values,
    subgroup_table,
)

# 4 diseased, 6 healthy; flagged at p >= 0.5: TP 3 (0.9, 0.8, 0.6), FP 2 (0.7, 0.5)
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
P = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.5, 0.4, 0.2, 0.1, 0.05])


def test_metrics_at_threshold_match_hand_counts():
    at = metrics_at(Y, P, 0.5)
    assert (at["tp"], at["fp"], at["tn"], at["fn"]) == (3, 2, 4, 1)
    assert at["sensitivity"] == pytest.approx(3 / 4)
    assert at["specificity"] == pytest.approx(4 / 6)
    assert at["ppv"] == pytest.approx(3 / 5)
    assert at["npv"] == pytest.approx(4 / 5)
    assert at["accuracy"] == pytest.approx(7 / 10)
    assert at["f1"] == pytest.approx(6 / 9)


def test_predictive_values_at_a_stated_prevalence():
    ppv, npv = predictive_values(0.9, 0.8, 0.1)
    assert ppv == pytest.approx(0.09 / (0.09 + 0.18))
    assert npv == pytest.approx(0.72 / (0.72 + 0.01))
    at = metrics_at(Y, P, 0.5, prevalence=0.1)
    expected_ppv = 0.75 * 0.1 / (0.75 * 0.1 + (1 - 4 / 6) * 0.9)
    assert at["ppv"] == pytest.approx(expected_ppv)


def test_net_benefit_and_decision_curve():
    # at t = 0.5: TP/n - FP/n * 1 = 0.3 - 0.2
    assert net_benefit(Y, P, 0.5) == pytest.approx(0.1)
    curve = decision_curve(Y, P, np.array([0.2, 0.5]))
    assert curve["treat_all"] == pytest.approx([0.4 - 0.6 * 0.25, 0.4 - 0.6])
    assert curve["treat_none"] == [0.0, 0.0]
    assert curve["model"][1] == pytest.approx(0.1)


def test_calibration_brier_and_ece():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.1, 0.9, 0.7])
    fitted = calibration(y, p)
    assert fitted["brier"] == pytest.approx((0.01 + 0.01 + 0.01 + 0.09) / 4)
    # bins: 0.1 (2 rows, observed 0), 0.7 (observed 1), 0.9 (observed 1)
    assert fitted["ece"] == pytest.approx((2 * 0.1 + 0.3 + 0.1) / 4)
    assert fitted["reliability"]["count"] == [2, 1, 1]


def test_discrimination_with_bootstrap_intervals():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.5 * y + 0.6 * rng.random(300), 0, 1)
    out = discrimination(y, p, n_boot=200)
    from sklearn.metrics import average_precision_score, roc_auc_score

    assert out["auroc"] == pytest.approx(roc_auc_score(y, p))
    assert out["auprc"] == pytest.approx(average_precision_score(y, p))
    low, high = out["auroc_ci"]
    assert low < out["auroc"] < high


def test_operating_point_by_sensitivity_specificity_and_cost():
    threshold = choose_threshold(Y, P, OperatingPolicy(sensitivity=0.75))
    assert threshold == pytest.approx(0.6)  # the highest threshold keeping 3/4 positives
    assert metrics_at(Y, P, threshold)["specificity"] == pytest.approx(5 / 6)
    threshold = choose_threshold(Y, P, OperatingPolicy(specificity=1.0))
    assert threshold == pytest.approx(0.8)  # lowest threshold above every healthy score
    # a missed case costs 10 false alarms: flag down to the last positive (0.3)
    assert choose_threshold(Y, P, OperatingPolicy(cost_ratio=10)) == pytest.approx(0.3)
    # equal costs: threshold 0.6 (1 FN + 1 FP) ties 0.8 (2 FN + 0 FP); the first minimum
    assert choose_threshold(Y, P, OperatingPolicy(cost_ratio=1)) == pytest.approx(0.6)


def test_cost_ratio_operating_point_keeps_its_floors():
    # equal costs alone pick 0.6 (sensitivity 3/4); a sensitivity floor of 1 needs 0.3
    policy = OperatingPolicy(cost_ratio=1, min_sensitivity=1.0)
    assert choose_threshold(Y, P, policy) == pytest.approx(0.3)
    assert (
        policy.describe() == "minimum cost, a missed case costing 1 false alarms, sensitivity ≥ 1"
    )
    both = OperatingPolicy(cost_ratio=1, min_sensitivity=1.0, min_specificity=0.9)
    with pytest.raises(DataError, match="cannot be reached.*no threshold meets every floor"):
        choose_threshold(Y, P, both)


def test_unreachable_operating_point_is_a_clear_error():
    with pytest.raises(DataError, match="cannot be reached.*specificity is 0.500"):
        choose_threshold(Y, P, OperatingPolicy(sensitivity=1.0, min_specificity=0.9))
    y = np.array([1, 1, 0, 0])
    p = np.array([0.2, 0.9, 0.5, 0.2])  # sensitivity 1 needs threshold 0.2: everyone flagged
    with pytest.raises(DataError, match="cannot be reached.*every patient flagged"):
        choose_threshold(y, p, OperatingPolicy(sensitivity=1.0), model="model 'x'")


def test_cross_fitted_operating_point_uses_other_folds():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.4 * y + 0.7 * rng.random(400), 0, 1)
    splits = patient_splits(y, None, folds=5, seed=0)
    policy = OperatingPolicy(sensitivity=0.9)
    honest = cross_fitted_operating_point(y, p, splits, policy, None)
    assert 0.75 < honest["sensitivity"] < 1.0
    assert honest["tp"] + honest["fn"] == y.sum()
    flagged = np.zeros(len(y), dtype=bool)  # each fold flagged at the other folds' threshold
    for _, valid in splits:
        others = np.setdiff1d(np.arange(len(y)), valid)
        flagged[valid] = p[valid] >= choose_threshold(y[others], p[others], policy)
    assert honest["tp"] == (flagged & (y == 1)).sum()
    assert honest["fp"] == (flagged & (y == 0)).sum()
    in_sample = metrics_at(y, p, choose_threshold(y, p, policy))  # what it must not be
    assert in_sample["sensitivity"] >= 0.9 and honest["tp"] != in_sample["tp"]


def test_recalibration_platt_and_isotonic():
    rng = np.random.default_rng(2)
    truth = rng.random(2000)
    y = (rng.random(2000) < truth).astype(int)
    overconfident = np.clip(truth**3, 0, 1)  # systematically too low
    before = calibration(y, overconfident)["ece"]
    for kind in ("platt", "isotonic"):
        params = fit_recalibration(kind, overconfident, y)
        after = calibration(y, apply_recalibration(params, overconfident))["ece"]
        assert after < before / 2, kind
    assert apply_recalibration({"kind": "none"}, [0.3])[0] == 0.3
    splits = patient_splits(y, None, folds=5, seed=0)
    fitted = cross_fitted_recalibration("isotonic", y, overconfident, splits)
    assert calibration(y, fitted)["ece"] < before / 2


def test_grouped_splits_keep_each_patient_in_one_fold():
    rng = np.random.default_rng(3)
    patients = np.repeat(np.arange(60), 3)
    y = np.repeat(rng.integers(0, 2, 60), 3)
    splits = patient_splits(y, patients, folds=5, seed=0)
    for train, valid in splits:
        assert not set(patients[train]) & set(patients[valid])
    leaky = [(np.arange(0, 100), np.arange(99, 180))]
    with pytest.raises(DataError, match="fold 1: patient"):
        assert_no_patient_leak(leaky, patients)
    with pytest.raises(DataError, match="3 patients cannot fill 5 folds"):
        patient_splits(np.array([0, 1, 0]), ["a", "b", "c"], folds=5, seed=0)


def test_age_bands_and_subgroup_table():
    bands = age_band(pd.Series([35, 40, 55, 69, 81, None]))
    assert bands.tolist() == ["<40", "40-49", "50-59", "60-69", "70+", None]
    groups = pd.Series(["f"] * 5 + ["m"] * 5)
    rows = subgroup_table(Y, P, groups, 0.5, min_rows=5)
    assert [r["group"] for r in rows] == ["f", "m"]
    assert rows[0]["sensitivity"] == pytest.approx(3 / 4)  # f: 4 diseased, 3 flagged
    assert rows[1]["n"] == 5 and rows[1]["specificity"] == pytest.approx(4 / 5)
