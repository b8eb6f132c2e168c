"""Recommendation through the CLI: init, validate, run, recommend; a run without item text;
the demo with reduced settings."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tailorkit.data.simulators.shoppers import simulate_shop
from tailorkit.models import load_model
from tailorkit.registry import Registry
from tests.conftest import tk
from tests.unit.test_model_conformance import TINY


@pytest.fixture(scope="module")
def shop():
    return simulate_shop(n_users=120, n_items=50, n_cold=4, random_state=3)


# ----------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_cli_init_validate_run_recommend(shop, tmp_path):
    events, products, users = shop
    events.to_csv(tmp_path / "events.csv", index=False)
    products.to_csv(tmp_path / "products.csv", index=False)
    users.to_csv(tmp_path / "users.csv", index=False)
    tk(
        tmp_path,
        "init",
        "recommendation",
        "--interactions",
        "events.csv",
        "--items",
        "products.csv",
        "--users",
        "users.csv",
        "--name",
        "shop",
    )
    spec = yaml.safe_load((tmp_path / "tailorkit.yaml").read_text())
    assert spec["data"]["event"] == "event" and "title" in spec["data"]["text"]
    spec["models"] = [
        "popularity",
        {"name": "sasrec", "family": "sasrec", "params": TINY["sasrec"]},
    ]
    spec["recommend"]["rules"] = ["in_stock == false"]
    spec["evaluation"]["bootstrap"] = 50
    (tmp_path / "tailorkit.yaml").write_text(yaml.safe_dump(spec))
    checked = tk(tmp_path, "validate", "--data")
    assert "interactions" in checked.stdout + checked.stderr
    done = tk(tmp_path, "run", "--json", "-q")
    summary = json.loads(done.stdout)
    assert summary["model"] == "shop:1"
    board = {row["model"]: row for row in summary["leaderboard"]}
    assert {"popularity", "sasrec", "sasrec (no pretraining)"} <= set(board)
    assert 0 <= board["sasrec"]["ndcg@10"] <= 1 and "cold_hr@10" in board["sasrec"]
    report = json.loads(Path(summary["report_json"]).read_text())
    assert "Leave-one-out" in report["protocol"]["description"]
    ablation = report["ablation"]["pretraining"]
    assert ablation["model"] == "sasrec" and ablation["chosen_by"] == "valid_ndcg@10"
    valid = {name: row["valid_ndcg@10"] for name, row in board.items()}
    assert report["best"] == max(valid, key=valid.get) and "cold_hr@10" in board[report["best"]]
    twins = valid["sasrec"], valid["sasrec (no pretraining)"]
    assert ablation["kept"] == ("with" if twins[0] >= twins[1] else "without")
    if report["best"].startswith("sasrec"):  # the refit keeps the prior weight validation chose
        version = Registry(tmp_path / ".tailorkit").resolve("shop:1")
        registered = load_model(version.path)
        assert registered.prior_weight_ == board[report["best"]]["prior_weight"]
    html = Path(summary["report"]).read_text()
    assert "the test cases choose nothing" in html and "here pretraining is" in html

    known = str(events["user_id"].iloc[0])
    shown = tk(tmp_path, "recommend", "--model", "shop:1", "--user", known, "-k", "5", "--json")
    result = json.loads(shown.stdout)["results"][0]
    assert result["source"] == "personalized" and len(result["items"]) == 5
    seen = set(events.loc[events["user_id"].astype(str) == known, "item_id"])
    out_of_stock = set(products.loc[~products["in_stock"], "item_id"])
    picked = {row["item_id"] for row in result["items"]}
    assert not picked & seen and not picked & out_of_stock

    unknown = tk(tmp_path, "recommend", "--model", "shop:1", "--user", "nobody", "--json")
    assert json.loads(unknown.stdout)["results"][0]["source"] == "popularity fallback"
    assert "no history" in unknown.stderr

    huge = tk(tmp_path, "recommend", "--model", "shop:1", "--user", known, "-k", "999")
    assert "larger than the catalogue" in huge.stderr

    pd.DataFrame({"user_id": [known, "nobody"]}).to_csv(tmp_path / "who.csv", index=False)
    tk(tmp_path, "recommend", "--model", "shop:1", "--users", "who.csv", "-o", "recs.csv")
    recs = pd.read_csv(tmp_path / "recs.csv")
    assert set(recs["source"]) == {"personalized", "popularity fallback"}
    tk(tmp_path, "predict", "who.csv", "--model", "shop:1", "-o", "batch.csv")
    assert len(pd.read_csv(tmp_path / "batch.csv")) == 20

    bad = tk(tmp_path, "recommend", "--model", "shop:1", "--user", known, "-k", "0", ok=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_a_run_without_item_text_says_why_it_has_no_cold_start_split(shop, tmp_path):
    events, _, _ = shop
    events.to_csv(tmp_path / "events.csv", index=False)
    tk(tmp_path, "init", "recommendation", "--interactions", "events.csv", "--name", "bare")
    spec = yaml.safe_load((tmp_path / "tailorkit.yaml").read_text())
    spec["models"] = ["popularity", "item_knn"]
    (tmp_path / "tailorkit.yaml").write_text(yaml.safe_dump(spec))
    summary = json.loads(tk(tmp_path, "run", "--json", "-q").stdout)
    report = json.loads(Path(summary["report_json"]).read_text())
    assert any("no cold-start split" in w for w in report["warnings"])
    assert all("cold_hr@10" not in row for row in summary["leaderboard"])


@pytest.mark.slow
def test_cli_demo_with_reduced_settings(tmp_path):
    tiny = json.dumps({"name": "sasrec", "family": "sasrec", "params": TINY["sasrec"]})
    done = tk(
        tmp_path,
        "demo",
        "recommendation",
        "--folder",
        "demo",
        "--json",
        "-q",
        "--set",
        f"models=[popularity, item_knn, {tiny}]",
        "--set",
        "evaluation.bootstrap=20",
    )
    summary = json.loads(done.stdout)
    board = {row["model"]: row for row in summary["leaderboard"]}
    assert set(board) >= {"popularity", "item_knn", "sasrec", "sasrec (no pretraining)"}
    best = max(board.values(), key=lambda row: row["valid_ndcg@10"])  # chosen on validation
    assert summary["best"] == best["model"] and list(board)[0] == best["model"]
    assert Path(summary["report"]).exists()
