"""The spec: layering, defaults, and errors that name the field and its line."""

from __future__ import annotations

import pytest

from tailorkit import load_spec
from tailorkit.errors import SpecError
from tailorkit.gates import evaluate_requirements, parse_requirement, promotion_floor
from tailorkit.spec import dump_spec

GOOD = """\
name: acme
solution: credit_risk
data:
  train: applications.csv
target: default
"""


def write(tmp_path, text):
    path = tmp_path / "tailorkit.yaml"
    path.write_text(text)
    return path


def test_defaults_come_from_the_solution(tmp_path):
    spec, resolved = load_spec(write(tmp_path, GOOD))
    assert [m.family for m in spec.model_entries()] == ["logistic", "lightgbm", "ft_transformer"]
    assert spec.cost.false_negative == 5.0
    assert resolved["evaluation"]["folds"] == 5
    assert "ft_transformer" in dump_spec(resolved)


def test_user_values_and_overrides_win(tmp_path):
    path = write(tmp_path, GOOD + "evaluation: {folds: 3}\n")
    spec, _ = load_spec(path, overrides=["evaluation.seed=7", "models=[logistic]"])
    assert spec.evaluation.folds == 3 and spec.evaluation.seed == 7
    assert [m.name for m in spec.model_entries()] == ["logistic"]


def test_unknown_key_names_key_and_line(tmp_path):
    path = write(tmp_path, GOOD + "evaluation:\n  folds: 3\n  fold_count: 4\n")
    with pytest.raises(SpecError, match=r"line 8.*unknown key 'evaluation.fold_count'"):
        load_spec(path)


def test_wrong_type_names_field_and_line(tmp_path):
    path = write(tmp_path, GOOD + "evaluation:\n  folds: many\n")
    with pytest.raises(SpecError, match=r"line 7.*'evaluation.folds'"):
        load_spec(path)


def test_missing_required_key(tmp_path):
    with pytest.raises(SpecError, match="required key 'target' is missing"):
        load_spec(write(tmp_path, GOOD.replace("target: default\n", "")))


def test_unknown_solution(tmp_path):
    with pytest.raises(SpecError, match=r"field 'solution' must be one of .*\(got 'astrology'\)"):
        load_spec(write(tmp_path, GOOD.replace("credit_risk", "astrology")))


def test_invalid_yaml_names_line(tmp_path):
    with pytest.raises(SpecError, match="line 3"):
        load_spec(write(tmp_path, "name: a\nsolution: credit_risk\ndata: [unclosed\n"))


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "nope.yaml")


def test_requirement_with_unknown_metric_is_rejected_with_line(tmp_path):
    path = write(tmp_path, GOOD + "requirements:\n  - auc >= 0.7\n  - happiness >= 3\n")
    with pytest.raises(SpecError, match=r"line 8.*unknown metric 'happiness'"):
        load_spec(path)


def test_requirement_parsing_and_checking():
    assert parse_requirement("demographic_parity_difference[sex] <= 0.1").qualifier == "sex"
    with pytest.raises(SpecError, match="name the protected column"):
        parse_requirement("equalized_odds_difference <= 0.1")
    with pytest.raises(SpecError, match="must look like"):
        parse_requirement("auc is great")
    fairness = [{"column": "sex", "demographic_parity_difference": 0.2}]
    outcome = evaluate_requirements(
        [
            "auc >= 0.7",
            "brier <= 0.1",
            "demographic_parity_difference[sex] <= 0.1",
            "auc_gap[age] <= 0.1",
        ],
        {"auc": 0.75, "brier": 0.2},
        fairness,
        stage="evaluation",
    )
    assert [o["passed"] for o in outcome] == [True, False, False, False]
    assert "not a protected column" in outcome[3]["note"]


def test_a_ranking_metric_the_leaderboard_lacks_is_a_spec_error_with_its_line(tmp_path):
    with pytest.raises(SpecError, match=r"line 7: evaluation.metric 'aucc' cannot rank"):
        load_spec(write(tmp_path, GOOD + "evaluation:\n  metric: aucc\n"))
    spec, _ = load_spec(write(tmp_path, GOOD + "evaluation: {metric: cost}\n"))
    assert spec.evaluation.metric == "cost"
    clinical = GOOD.replace("credit_risk", "diagnosis")
    with pytest.raises(SpecError, match=r"'gini' cannot rank the models; use one of auroc"):
        load_spec(write(tmp_path, clinical + "evaluation: {metric: gini}\n"))
    for metric in ("auc", "sensitivity"):  # auc: the default, ranks by auroc
        spec, _ = load_spec(write(tmp_path, clinical + f"evaluation: {{metric: {metric}}}\n"))
        assert spec.evaluation.metric == metric


def test_promotion_floor_needs_the_baseline_beaten_and_no_regression_beyond_the_noise():
    baseline = {"name": "prior rate", "auc": 0.5}
    worse = promotion_floor(metric="auc", higher=True, value=0.25, baseline=baseline)
    assert [o["passed"] for o in worse] == [False] and worse[0]["stage"] == "promotion floor"
    assert "trivial baseline: prior rate" in worse[0]["requirement"]
    champion = ("credit:3", 0.80)
    within = promotion_floor(
        metric="auc", higher=True, value=0.79, interval=[0.76, 0.82], champion=champion
    )
    assert within[0]["passed"]  # 0.01 below the champion, inside the 0.03 half-width
    beyond = promotion_floor(
        metric="auc", higher=True, value=0.76, interval=[0.75, 0.77], champion=champion
    )
    assert not beyond[0]["passed"] and "credit:3" in beyond[0]["requirement"]
    rmse = promotion_floor(
        metric="rmse", higher=False, value=18.0, baseline={"name": "mean", "rmse": 40.0},
        champion=("fleet:1", 17.0), interval=None,
    )  # fmt: skip
    assert [o["passed"] for o in rmse] == [True, False]  # lower is better; no interval: no noise
    assert promotion_floor(metric="auc", higher=True, value=0.9) == []  # nothing to compare


def test_monitoring_defaults_are_shown_and_overridable_in_any_solution(tmp_path):
    spec, resolved = load_spec(write(tmp_path, GOOD))
    assert resolved["monitoring"] == {
        "drift_psi": 0.2, "min_rows": 500, "metric_drop": 0.03, "dataset_drift_share": 0.5,
        "webhook": None, "webhook_retries": 3, "webhook_timeout_s": 5.0, "cooldown": "6h",
    }  # fmt: skip
    assert spec.monitoring.cooldown_s == 6 * 3600
    assert "cooldown: 6h" in dump_spec(resolved)  # what `tailorkit validate --show` prints
    clinical = GOOD.replace("credit_risk", "diagnosis")
    spec, _ = load_spec(write(tmp_path, clinical), overrides=["monitoring.cooldown=30m"])
    assert spec.monitoring.cooldown_s == 1800


@pytest.mark.parametrize(
    ("section", "pattern"),
    [
        ("  drift_psi: -1\n", r"line 7: field 'monitoring.drift_psi': .*greater than 0"),
        ("  min_rows: 0\n", r"line 7: field 'monitoring.min_rows': .*greater than or equal to 1"),
        ("  dataset_drift_share: 1.5\n", r"'monitoring.dataset_drift_share': .*less than or"),
        ("  webhook: ftp://alerts.example\n", r"'monitoring.webhook': must be an http:// or"),
        ("  webhook: hooks.example/x\n", r"line 7: field 'monitoring.webhook'.*'hooks.example/x'"),
        ("  webhook_retries: 50\n", r"'monitoring.webhook_retries': .*less than or equal to 10"),
        ("  cooldown: soon\n", r"line 7: field 'monitoring.cooldown': not a duration; .* 6h"),
        ("  drift: 0.3\n", r"line 7: unknown key 'monitoring.drift'"),
    ],
)
def test_monitoring_mistakes_name_the_field_and_line(tmp_path, section, pattern):
    with pytest.raises(SpecError, match=pattern):
        load_spec(write(tmp_path, GOOD + "monitoring:\n" + section))
