"""Data profile: planted problems are flagged, clean columns are not, reports are written."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from tailorkit.data.profile import (
    population_stability_index,
    profile_table,
    rank_auc,
    write_profile_report,
)


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    """600 rows with a known signal and one planted problem per column."""
    rng = np.random.default_rng(7)
    rows = 600
    signal = rng.standard_normal(rows)
    default = (signal + rng.standard_normal(rows) > 0.8).astype(int)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in rng.permutation(rows)],
            "income": np.round(np.exp(10 + 0.3 * signal), 2),
            "age": rng.integers(18, 80, rows),
            "city": rng.choice(["Oslo", "Lima", "Pune", "Kyiv"], rows),
            "country": "NO",
            "notes_score": np.where(rng.random(rows) < 0.4, np.nan, rng.normal(size=rows)),
            "collections_flag": np.where(default == 1, "sent", "none"),
            "days_past_due": default * rng.integers(30, 90, rows) + rng.integers(0, 3, rows),
            "default": default,
        }
    )
    flip = rng.random(rows) < 0.01
    frame.loc[flip, "collections_flag"] = "unknown"
    return frame


def kinds_by_column(profile: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for issue in profile["issues"]:
        found.setdefault(issue["column"], set()).add(issue["kind"])
    return found


def test_planted_problems_are_flagged(planted):
    profile = profile_table(planted, target="default", name="planted.csv")
    kinds = kinds_by_column(profile)
    assert "leakage" in kinds["collections_flag"]
    assert "leakage" in kinds["days_past_due"]
    assert "constant" in kinds["country"]
    assert "id_like" in kinds["customer_id"]
    assert "missing_values" in kinds["notes_score"]
    for clean in ("age", "city", "income"):
        assert "leakage" not in kinds.get(clean, set()), clean
    assert "leakage" not in kinds.get("customer_id", set())
    assert profile["rows"] == 600 and profile["columns"] == 9
    assert profile["target"]["kind"] == "binary"
    assert profile["target"]["positive_label"] == "1"
    assert profile["target"]["positive_rate"] == round(planted["default"].mean(), 6)


def test_issue_fields_and_severity_order(planted):
    profile = profile_table(planted, target="default")
    order = {"high": 0, "medium": 1, "low": 2}
    severities = [order[issue["severity"]] for issue in profile["issues"]]
    assert severities == sorted(severities)
    for issue in profile["issues"]:
        assert set(issue) == {"column", "kind", "severity", "message"}
    leak = next(i for i in profile["issues"] if i["column"] == "days_past_due")
    assert leak["severity"] == "high" and "AUC" in leak["message"]


def test_column_statistics(planted):
    stats = {s["column"]: s for s in profile_table(planted)["column_stats"]}
    assert stats["notes_score"]["missing"] == planted["notes_score"].isna().sum()
    assert stats["age"]["min"] == planted["age"].min()
    assert stats["age"]["max"] == planted["age"].max()
    assert stats["income"]["mean"] == pytest.approx(planted["income"].mean(), rel=1e-6)
    assert {t["value"] for t in stats["city"]["top_values"]} == {"Oslo", "Lima", "Pune", "Kyiv"}
    assert stats["country"]["n_unique"] == 1


def test_schema_overrides_inferred_types(planted):
    profile = profile_table(planted, schema={"age": "categorical"})
    assert profile["schema"]["age"] == "categorical"
    assert profile["schema"]["income"] == "numeric"


def test_all_missing_duplicates_outliers_and_imbalance():
    rng = np.random.default_rng(3)
    values = rng.normal(size=400)
    values[:20] = 1e6 + np.arange(20)
    frame = pd.DataFrame(
        {
            "empty": np.nan,
            "amount": values,
            "rare_event": (np.arange(400) < 8).astype(int),
            "segment": rng.choice(list("abcdefgh"), 400),
        }
    )
    frame = pd.concat([frame, frame.tail(10)], ignore_index=True)
    profile = profile_table(frame, target="rare_event")
    kinds = kinds_by_column(profile)
    assert "all_missing" in kinds["empty"]
    assert "outliers" in kinds["amount"]
    assert "class_imbalance" in kinds["rare_event"]
    assert "duplicate_rows" in kinds[None]
    assert profile["duplicate_rows"] == 10


def test_high_cardinality_categorical():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"merchant": [f"m{i}" for i in rng.integers(0, 120, 500)]})
    assert "high_cardinality" in kinds_by_column(profile_table(frame))["merchant"]


def test_drift_flags_shifted_column_only():
    rng = np.random.default_rng(11)
    train = pd.DataFrame(
        {
            "balance": rng.normal(100, 10, 2000),
            "tenure": rng.normal(5, 2, 2000),
            "channel": rng.choice(["web", "app", "branch"], 2000, p=[0.5, 0.3, 0.2]),
        }
    )
    new = pd.DataFrame(
        {
            "balance": rng.normal(125, 10, 1000),
            "tenure": rng.normal(5, 2, 1000),
            "channel": rng.choice(["web", "app", "branch"], 1000, p=[0.5, 0.3, 0.2]),
            "promo": 1,
        }
    )
    profile = profile_table(train, new_frame=new)
    drift = {row["column"]: row for row in profile["drift"]}
    assert drift["balance"]["psi"] > 0.2 and drift["balance"]["ks"] > 0.5
    assert drift["tenure"]["psi"] < 0.1 and drift["channel"]["psi"] < 0.1
    kinds = kinds_by_column(profile)
    assert "drift" in kinds["balance"]
    assert "drift" not in kinds.get("tenure", set())
    assert "drift" not in kinds.get("channel", set())
    assert "new_column" in kinds["promo"]
    missing = profile_table(train, new_frame=new.drop(columns=["tenure"]))
    assert "missing_column" in kinds_by_column(missing)["tenure"]


def test_categorical_drift_is_flagged():
    rng = np.random.default_rng(12)
    train = pd.DataFrame({"channel": rng.choice(["web", "app"], 1000, p=[0.9, 0.1])})
    new = pd.DataFrame({"channel": rng.choice(["web", "app", "kiosk"], 500, p=[0.2, 0.3, 0.5])})
    assert "drift" in kinds_by_column(profile_table(train, new_frame=new))["channel"]


def test_rank_auc_and_psi_reference_values():
    y = np.array([0, 0, 1, 1])
    assert rank_auc(np.array([0.1, 0.4, 0.35, 0.8]), y) == pytest.approx(0.75)
    assert rank_auc(np.array([1, 1, 1, 1]), y) == pytest.approx(0.5)
    same = np.array([0.25, 0.25, 0.5])
    assert population_stability_index(same, same) == pytest.approx(0.0)
    shifted = population_stability_index(np.array([0.5, 0.5]), np.array([0.9, 0.1]))
    assert shifted == pytest.approx(0.4 * np.log(1.8) - 0.4 * np.log(0.2))


def test_report_files_are_self_contained(tmp_path, planted):
    new = planted.assign(income=planted["income"] * 1.8)
    profile = profile_table(planted, target="default", new_frame=new, name="planted.csv")
    html_path, json_path = tmp_path / "profile.html", tmp_path / "profile.json"
    write_profile_report(profile, html_path, json_path)
    page = html_path.read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?://", page)
    assert "<script src" not in page
    assert page.count("data:image/png;base64,") == 3
    assert "days_past_due" in page and "Drift" in page
    saved = json.loads(json_path.read_text())
    assert saved == json.loads(json.dumps(profile))
    assert any(i["kind"] == "drift" and i["column"] == "income" for i in saved["issues"])


def test_thirty_thousand_rows_profile_without_false_alarms():
    rng = np.random.default_rng(0)
    rows = 30_000
    columns = {f"x{i}": rng.normal(size=rows) for i in range(20)}
    columns.update({f"c{i}": rng.choice(list("abcdefghij"), rows) for i in range(4)})
    columns["target"] = rng.integers(0, 2, rows)
    frame = pd.DataFrame(columns)
    profile = profile_table(frame, target="target", new_frame=frame.head(5000))
    assert profile["columns"] == 25
    assert not [i for i in profile["issues"] if i["kind"] in ("leakage", "drift")]
