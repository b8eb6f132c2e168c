"""Alert rules over a monitoring window: which rule fires, on what, and when none may."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tailorkit.loop.alerts import alerts, metric_drop
from tailorkit.loop.monitoring.report import realised_metrics
from tailorkit.spec import MonitoringSection

RULES = MonitoringSection()


def window(rows=1000, features=(), prediction_psi=0.01, realised=None, **extra):
    return {
        "project": "credit",
        "model_version": 3,
        "window": "24h",
        "rows": rows,
        "reference_rows": 5000,
        "features": [
            {
                "feature": name,
                "psi": psi,
                "test": "ks",
                "statistic": 0.1,
                "p_value": p,
                "drifted": p < 0.05,
            }
            for name, psi, p in features
        ],  # fmt: skip
        "dataset_drift": False,
        "prediction": {"psi": prediction_psi},
        "realised": {"labelled": 100, "metrics": realised or {}},
        **extra,
    }


def fired(result, rules=RULES):
    return {alert.rule: alert for alert in alerts(result, rules)}


def test_a_feature_above_the_psi_threshold_raises_one_alert_naming_it():
    found = fired(window(features=[("income", 0.35, 0.2), ("age", 0.2, 0.3), ("debt", 0.05, 0.5)]))
    assert set(found) == {"feature_drift"}  # 0.2 is not above 0.2
    alert = found["feature_drift"]
    assert alert.project == "credit" and alert.model_version == 3 and alert.window == "24h"
    assert [f["feature"] for f in alert.details["features"]] == ["income"]
    assert "income (PSI 0.350)" in alert.message and alert.severity == "warning"
    assert alert.details["rows"] == 1000 and alert.details["threshold"] == 0.2


def test_drift_rules_wait_for_min_rows():
    drifting = dict(features=[("income", 0.9, 0.0), ("age", 0.9, 0.0)], prediction_psi=0.9)
    assert set(fired(window(rows=499, **drifting))) == set()
    assert set(fired(window(rows=500, **drifting))) == {
        "feature_drift",
        "dataset_drift",
        "prediction_drift",
    }
    few = MonitoringSection(min_rows=50)
    assert "prediction_drift" in fired(window(rows=60, prediction_psi=0.5), few)


def test_dataset_drift_counts_the_tests_verdicts_against_the_share():
    half = [("a", 0.01, 0.01), ("b", 0.01, 0.5), ("c", 0.01, 0.01), ("d", 0.01, 0.5)]
    found = fired(window(features=half))
    assert set(found) == {"dataset_drift"}  # PSIs are small: only the tests say drift
    assert found["dataset_drift"].details["drifted"] == ["a", "c"]
    assert found["dataset_drift"].severity == "critical"
    assert fired(window(features=half), MonitoringSection(dataset_drift_share=0.75)) == {}


def test_prediction_drift_uses_the_scores_psi():
    assert set(fired(window(prediction_psi=0.25))) == {"prediction_drift"}
    assert fired(window(prediction=None)) == {}  # no score drift computed: nothing to say


def test_a_metric_drop_must_pass_the_threshold_and_leave_the_interval():
    def auc(value, low, high):
        return {"auc": {"value": value, "ci_low": low, "ci_high": high, "reference": 0.80}}

    assert set(fired(window(realised=auc(0.74, 0.71, 0.77)))) == {"metric_drop"}
    assert fired(window(realised=auc(0.74, 0.68, 0.81))) == {}  # the interval holds 0.80
    assert fired(window(realised=auc(0.78, 0.775, 0.785))) == {}  # 0.02: within metric_drop
    loose = MonitoringSection(metric_drop=0.01)
    assert set(fired(window(realised=auc(0.78, 0.775, 0.785)), loose)) == {"metric_drop"}
    alert = fired(window(realised=auc(0.74, 0.71, 0.77)))["metric_drop"]
    assert alert.details["metrics"][0]["drop"] == 0.80 - 0.74
    assert "auc 0.74 vs reference 0.8" in alert.message


def test_realised_metrics_need_no_min_rows_and_lower_is_better_metrics_drop_upwards():
    loss = {"log_loss": {"value": 0.55, "ci_low": 0.50, "ci_high": 0.60, "reference": 0.40}}
    assert set(fired(window(rows=10, realised=loss))) == {"metric_drop"}
    better = {"log_loss": {"value": 0.30, "ci_low": 0.25, "ci_high": 0.35, "reference": 0.40}}
    assert fired(window(realised=better)) == {}
    assert metric_drop("rmse", {"value": 20.0, "reference": 18.0}) == 2.0
    stated = {"value": 5.0, "reference": 8.0, "higher_is_better": True}
    assert metric_drop("custom_score", stated) == 3.0
    assert metric_drop("auc", {"value": 0.7, "reference": None}) is None


def test_an_empty_window_raises_nothing():
    empty = {"project": "credit", "rows": 0, "features": [], "reason": "no requests"}
    assert alerts(empty, RULES) == []
    assert alerts({"project": "credit"}, MonitoringSection(min_rows=1)) == []


@given(
    rows=st.integers(0, 499),
    psis=st.lists(st.floats(0, 10), max_size=6),
    prediction_psi=st.floats(0, 10),
)
def test_no_drift_alert_below_min_rows_whatever_the_statistics(rows, psis, prediction_psi):
    features = [(f"f{i}", psi, 0.0) for i, psi in enumerate(psis)]
    result = window(rows=rows, features=features, prediction_psi=prediction_psi)
    assert alerts(result, RULES) == []


def test_the_monitoring_report_gives_the_rule_each_metric_beside_the_versions_own():
    realised = {"auc": 0.70, "auc_interval": [0.66, 0.74], "log_loss": 0.61}
    found = realised_metrics(realised, {"auc": 0.80, "log_loss": 0.45, "ks": 0.4})
    assert found == {
        "auc": {"value": 0.70, "ci_low": 0.66, "ci_high": 0.74, "reference": 0.80},
        "log_loss": {"value": 0.61, "ci_low": None, "ci_high": None, "reference": 0.45},
    }
    result = window(realised=found)
    assert set(fired(result)) == {"metric_drop"}
    assert realised_metrics({"auc": None}, {"auc": 0.8}) == {}  # nothing measured yet
