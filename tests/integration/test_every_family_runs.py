"""Every model family a user can name in a spec runs through the real ``tailorkit run``.

One subprocess run per solution, all of its families in that run, on small generated data and
tiny configurations (those of the catalogue's conformance suite): the run exits 0, every
family has a leaderboard row with a finite headline metric, and a version is registered.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from tailorkit.data.simulators.fleet import failure_log, simulate_fleet
from tailorkit.data.simulators.patients import write_patient_files
from tailorkit.data.simulators.shoppers import simulate_shop
from tailorkit.registry import Registry
from tailorkit.solutions.maintenance.spec import MODEL_FAMILIES as MAINTENANCE_NAMES
from tests.conftest import tk, write_spec
from tests.integration.test_diagnosis import write_project
from tests.integration.test_maintenance import fleet_spec
from tests.unit.test_model_conformance import TINY

pytestmark = pytest.mark.slow


def entries(names: dict[str, str | None]) -> list:
    """Spec ``models`` entries: spec name -> catalogue family (None: the bare name as a user
    writes it, default parameters), else the family's tiny parameters."""
    return [
        name if family is None else {"name": name, "family": name, "params": TINY[family]}
        for name, family in names.items()
    ]


def run_checked(folder: Path, names: list[str], headline: str) -> dict:
    """``tailorkit run --json``: exit 0, a finite headline metric for every name, a version."""
    summary = json.loads(tk(folder, "run", "--json", "-q").stdout)
    board = {row["model"]: row for row in summary["leaderboard"]}
    missing = set(names) - set(board)
    assert not missing, f"no leaderboard row for {sorted(missing)}; rows: {sorted(board)}"
    for name in names:
        value = board[name].get(headline)
        assert value is not None and math.isfinite(value), f"{name}: {headline} = {value}"
    version = Registry(folder / ".tailorkit").resolve(summary["model"])
    assert summary["model"].endswith(":1") and Path(version.path).is_dir()
    return summary


@pytest.mark.slow
def test_credit_risk_runs_every_tabular_family(applicants_csv: Path):
    folder = applicants_csv.parent
    names = {"logistic": None, "random_forest": None, "lightgbm": "lightgbm",
             "ft_transformer": "ft_transformer"}  # fmt: skip
    write_spec(folder, models=entries(names), evaluation={"folds": 3, "bootstrap": 50},
               requirements=[])  # fmt: skip
    summary = run_checked(folder, [*names, "ensemble"], "auc")
    assert summary["model"] == "acme-credit:1"


@pytest.mark.slow
def test_recommendation_runs_every_recommender(tmp_path: Path):
    events, products, _ = simulate_shop(n_users=120, n_items=50, n_cold=4, random_state=3)
    events.to_csv(tmp_path / "events.csv", index=False)
    products.to_csv(tmp_path / "products.csv", index=False)
    names = {"popularity": None, "item_knn": "item_knn", "als": "als", "sasrec": "sasrec"}
    spec = {
        "name": "shop",
        "solution": "recommendation",
        "data": {"interactions": "events.csv", "items": "products.csv", "item_key": "item_id",
                 "text": ["title"]},
        "models": entries(names),
        "evaluation": {"bootstrap": 50, "pretraining_ablation": False},
    }  # fmt: skip
    (tmp_path / "tailorkit.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    run_checked(tmp_path, list(names), "ndcg@10")


@pytest.mark.slow
def test_maintenance_runs_every_window_family(tmp_path: Path):
    readings = simulate_fleet(10, mean_life=60, random_state=4)
    readings.to_csv(tmp_path / "readings.csv", index=False)
    failure_log(readings).to_csv(tmp_path / "failures.csv", index=False)
    names = dict(MAINTENANCE_NAMES)  # the spec's names: lightgbm, lstm, cnn, transformer
    assert set(names) == {"lightgbm", "lstm", "cnn", "transformer"}
    fleet_spec(tmp_path, models=entries(names), requirements=[])
    run_checked(tmp_path, [*names, "ensemble"], "rmse")


@pytest.mark.slow
def test_diagnosis_runs_every_tabular_and_modality_family(tmp_path: Path):
    write_patient_files(tmp_path, 90, random_state=5)
    names = {"logistic": None, "lightgbm": "lightgbm", "ft_transformer": "ft_transformer",
             "text_classifier": "text_classifier", "image_cnn": "image_cnn",
             "visit_gru": "visit_gru", "fusion": "fusion"}  # fmt: skip
    visits = {"file": "visits.csv", "patient_col": "patient_id", "time_col": "visit_date"}
    write_project(tmp_path, models=entries(names), visits=visits)
    run_checked(tmp_path, list(names), "auroc")
