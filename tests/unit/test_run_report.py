"""The run report: HTML and JSON from a realistic result document and from a minimal one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tailorkit.evaluate.fairness import group_fairness
from tailorkit.evaluate.metrics import binary_metrics, bootstrap_ci, curves
from tailorkit.evaluate.threshold import CostMatrix, bayes_threshold, best_threshold
from tailorkit.gates import evaluate_requirements
from tailorkit.report.run_report import to_jsonable, write_run_report

MODELS = ("ensemble", "lightgbm", "logistic", "ft_transformer")
PROTOCOL = {
    "kind": "kfold",
    "folds": 5,
    "seed": 0,
    "stratified": True,
    "description": "Stratified 5-fold CV, shuffle, seed 0; metrics pooled over out-of-fold "
    "predictions",
}


def _leaderboard_row(name: str, auc: float) -> dict:
    return {
        "model": name,
        "auc": np.float64(auc),
        "auc_ci": [auc - 0.03, auc + 0.03],
        "fold_auc_mean": auc,
        "fold_auc_std": 0.02,
        "ks": 0.47,
        "gini": 2 * auc - 1,
        "accuracy": 0.75,
        "precision": 0.6,
        "recall": 0.5,
        "f1": 0.55,
        "brier": 0.16,
        "log_loss": 0.48,
        "pr_auc": 0.62,
        "cost": 0.52,
        "fit_seconds": 12.3,
        "predict_ms_per_1000": np.float32(4.1),
    }


@pytest.fixture
def full_result() -> dict:
    rng = np.random.default_rng(0)
    y = rng.random(1000) < 0.3
    model_curves = {}
    for shift, name in zip((1.2, 1.0, 0.8, 0.6), MODELS, strict=True):
        scores = 1 / (1 + np.exp(-(rng.normal(size=y.size) + shift * y - 1)))
        model_curves[name] = curves(y, scores)
    model_curves["ensemble"]["score_hist"]["positive"] = np.asarray(
        model_curves["ensemble"]["score_hist"]["positive"], dtype=np.int64
    )
    return {
        "project": "acme-credit",
        "solution": "credit_risk",
        "created_at": "2026-11-29T04:00:00Z",
        "run_id": 3,
        "model_version": 2,
        "protocol": PROTOCOL,
        "data": {
            "source": "data/applications.csv",
            "rows": 1000,
            "features": 20,
            "target": "default",
            "positive_rate": float(y.mean()),
            "positive_label": "bad",
            "dropped_columns": ["id"],
            "protected": ["sex"],
            "excluded_from_model": ["sex"],
        },
        "leaderboard": [
            _leaderboard_row(name, auc)
            for name, auc in zip(MODELS, (0.8, 0.79, 0.77, 0.75), strict=True)
        ],
        "best": "ensemble",
        "threshold": {
            "chosen": 1 / 6,
            "method": "bayes",
            "cost_matrix": {
                "false_negative": 5,
                "false_positive": 1,
                "true_positive": 0,
                "true_negative": 0,
            },
            "cost_at_chosen": 0.52,
            "cost_reject_all": 0.70,
            "cost_accept_all": 1.5,
            "empirical_best": 0.18,
            "cost_at_empirical_best": 0.50,
            "cost_curve": {
                "threshold": np.linspace(0, 1, 21),
                "cost": np.linspace(0.7, 1.5, 21),
            },
        },
        "curves": model_curves,
        "importance": {f"feature_{i}": float(v) for i, v in enumerate(rng.random(25))},
        "reason_code_examples": [
            {
                "row": 17,
                "score": 0.83,
                "reasons": [
                    {"feature": "duration", "value": "48", "contribution": 0.61},
                    {"feature": "amount", "value": 12000, "contribution": 0.2},
                ],
            }
        ],
        "scorecard": [
            {"feature": f"feature_{i // 4}", "bin": f"({i}, {i + 1}]", "points": -12.0 + i}
            for i in range(80)
        ],
        "fairness": [
            {
                "column": "sex",
                "groups": [
                    {
                        "group": "female",
                        "n": 310,
                        "positive_rate": 0.35,
                        "selection_rate": 0.5,
                        "tpr": 0.8,
                        "fpr": 0.4,
                        "auc": 0.78,
                        "included_in_gaps": True,
                    },
                    {
                        "group": "male",
                        "n": 690,
                        "positive_rate": 0.28,
                        "selection_rate": 0.45,
                        "tpr": None,
                        "fpr": 0.36,
                        "auc": 0.81,
                    },
                ],
                "demographic_parity_difference": 0.05,
                "equalized_odds_difference": 0.08,
                "auc_gap": 0.03,
            }
        ],
        "ablation": {
            "pretraining": {
                "model": "ft_transformer",
                "with": {"auc": 0.79, "auc_ci": [0.76, 0.82], "fit_seconds": 20},
                "without": {"auc": 0.78, "auc_ci": [0.75, 0.81], "fit_seconds": 12},
            }
        },
        "ensemble": {
            "weights": {"logistic": 0.5, "lightgbm": 0.3, "ft_transformer": 0.2},
            "method": "greedy forward selection (Caruana et al. 2004) on out-of-fold predictions",
        },
        "requirements": [
            {
                "requirement": "auc >= 0.78",
                "metric": "auc",
                "value": 0.80,
                "passed": True,
                "stage": "evaluation",
            },
            {
                "requirement": "demographic_parity_difference[sex] <= 0.01",
                "metric": "demographic_parity_difference",
                "value": 0.05,
                "passed": np.bool_(False),
                "stage": "evaluation",
            },
        ],
        "gates_passed": False,
        "warnings": ["column 'id' looks like an identifier and was dropped"],
    }


def _write(result: dict, folder: Path) -> tuple[str, dict]:
    html_path, json_path = folder / "report.html", folder / "report.json"
    write_run_report(result, html_path, json_path)
    return html_path.read_text(encoding="utf-8"), json.loads(json_path.read_text())


def test_full_report_is_self_contained_and_json_round_trips(full_result, tmp_path):
    html, loaded = _write(full_result, tmp_path / "out")

    assert loaded == to_jsonable(full_result)
    assert loaded["leaderboard"][0]["auc"] == 0.8
    assert loaded["requirements"][1]["passed"] is False
    assert len(loaded["threshold"]["cost_curve"]["threshold"]) == 21
    for name in MODELS:
        assert name in html
    assert "PASS" in html and "FAIL" in html
    assert PROTOCOL["description"] in html
    assert html.count("<img") >= 5
    assert not re.search(r'(src|href)\s*=\s*["\']?https?:', html, flags=re.IGNORECASE)


def test_headline_names_best_model_auc_ci_and_failed_gate(full_result, tmp_path):
    html, _ = _write(full_result, tmp_path)
    headline = html.split('<div class="headline">', 1)[1].split("</div>", 1)[0]

    assert "Best model: ensemble" in headline
    assert "0.770 – 0.830" in headline
    assert "GATES FAILED" in headline
    assert "1 of 2 requirements met" in headline
    assert "demographic_parity_difference[sex] &lt;= 0.01" in headline
    assert headline.index("ensemble") < html.index(PROTOCOL["description"])


def test_sections_render_their_content(full_result, tmp_path):
    html, _ = _write(full_result, tmp_path)

    for title in (
        "Leaderboard",
        "Decision threshold and cost",
        "Fairness",
        "Ensemble",
        "Ablation",
        "Scorecard",
        "Reason codes",
        "Warnings",
    ):
        assert f"<h2>{title}" in html
    assert "Showing the first 60 of 80 rows" in html
    assert "(79, 80]" not in html  # scorecard rows past 60 stay in the JSON only
    assert "duration = 48 (+0.610)" in html
    assert "+0.010" in html  # ablation delta: 0.79 - 0.78
    assert "intervals overlap" in html
    assert "looks like an identifier" in html
    assert "<td>female</td><td>310</td><td>0.350</td><td>0.500</td>" in html
    assert "<th>counted in gaps</th>" in html and "<td>yes</td>" in html


def test_non_finite_numbers_become_null(tmp_path):
    result = _minimal()
    result["leaderboard"][0]["log_loss"] = float("inf")
    result["leaderboard"][0]["auc_ci"] = (np.float64("nan"), 0.9)
    _, loaded = _write(result, tmp_path)

    assert loaded["leaderboard"][0]["log_loss"] is None
    assert loaded["leaderboard"][0]["auc_ci"] == [None, 0.9]


def _minimal() -> dict:
    return {
        "project": "acme-credit",
        "solution": "credit_risk",
        "protocol": {"kind": "holdout", "description": "Stratified holdout of 20% (seed 0)."},
        "leaderboard": [{"model": "logistic", "auc": 0.71}, {"model": "lightgbm", "auc": None}],
        "best": "logistic",
    }


def test_minimal_result_renders(tmp_path):
    html, loaded = _write(_minimal(), tmp_path)

    assert loaded == _minimal()
    assert "Best model: logistic" in html
    assert "Stratified holdout of 20% (seed 0)." in html
    assert "no requirements were set" in html
    assert "<h2>Fairness" not in html and "<h2>Ablation" not in html
    assert html.count("<img") == 1  # only the AUC chart has data


def test_empty_leaderboard_renders(tmp_path):
    result = {**_minimal(), "leaderboard": [], "curves": {}, "fairness": [], "warnings": []}
    html, _ = _write(result, tmp_path)

    assert "No model was scored." in html
    assert "<img" not in html


def test_report_renders_what_the_evaluation_code_produces(tmp_path):
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.3).astype(int)
    sex = pd.Series(rng.choice(["female", "male"], size=y.size), name="sex")
    scores = {
        "lightgbm": 1 / (1 + np.exp(-(rng.normal(size=y.size) + 1.5 * y - 1))),
        "logistic": 1 / (1 + np.exp(-(rng.normal(size=y.size) + 0.8 * y - 1))),
    }
    cost = CostMatrix(false_negative=5, false_positive=1)
    threshold = bayes_threshold(cost)
    leaderboard = [
        {
            "model": name,
            **binary_metrics(y, p, threshold),
            "auc_ci": list(bootstrap_ci(y, p, "auc", n_boot=50)),
        }
        for name, p in scores.items()
    ]
    fairness = [group_fairness(y, scores["lightgbm"], sex, threshold=threshold)]
    found = best_threshold(y, scores["lightgbm"], cost)
    result = {
        **_minimal(),
        "best": "lightgbm",
        "leaderboard": leaderboard,
        "curves": {name: curves(y, p) for name, p in scores.items()},
        "fairness": fairness,
        "requirements": evaluate_requirements(
            ["auc >= 0.5", "demographic_parity_difference[sex] <= 0.5"],
            leaderboard[0],
            fairness,
            stage="evaluation",
        ),
        "threshold": {
            "chosen": threshold,
            "cost_matrix": cost.__dict__,
            "cost_at_chosen": found["bayes_cost"],
            "cost_reject_all": found["reject_all_cost"],
            "cost_accept_all": found["accept_all_cost"],
            "cost_curve": found["cost_curve"],
        },
    }
    html, loaded = _write(result, tmp_path)

    assert loaded == to_jsonable(result)
    assert "GATES PASSED" in html and "2 of 2 requirements met" in html
    assert "<td>female</td>" in html and "<td>male</td>" in html
    # AUC chart, ROC, PR, calibration, score distribution, cost curve, fairness
    assert html.count("<img") == 7
