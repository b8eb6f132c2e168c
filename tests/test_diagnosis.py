"""The diagnosis solution: spec, multimodal loading and its bad inputs, a run, the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tailorkit import Project
from tailorkit.data.simulators.patients import write_patient_files
from tailorkit.errors import DataError, SpecError
from tailorkit.spec import resolve_spec

TINY_FUSION = {"epochs": 2, "widths": [4, 8], "d_embed": 8, "hidden": 16}


def write_project(folder: Path, **changes) -> Path:
    spec = {
        "name": "clinic",
        "solution": "diagnosis",
        "data": {"train": "patients.csv"},
        "target": "disease",
        "patient": "patient_id",
        "text": ["note"],
        "text_model": {"max_length": 48},
        "images": {"xray": "xray"},
        "models": ["logistic", "text_classifier"],
        "evaluation": {"folds": 3, "bootstrap": 50},
    }
    spec.update(changes)
    path = folder / "tailorkit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def clinic(tmp_path: Path) -> Path:
    write_patient_files(tmp_path, 90, random_state=5)
    return tmp_path


def load(folder: Path, **changes):
    from tailorkit.solutions.diagnosis import load_patient_data

    spec, _ = resolve_spec(yaml.safe_load(write_project(folder, **changes).read_text()))
    return load_patient_data(spec, folder)


# ------------------------------------------------------------------- spec
def test_spec_defaults_and_errors():
    base = {"name": "x", "solution": "diagnosis", "data": {"train": "a.csv"}, "target": "y"}
    spec, resolved = resolve_spec(base)
    assert spec.operating_point.sensitivity == 0.9 and spec.recalibration == "none"
    assert resolved["evaluation"]["metric"] == "auroc"
    with pytest.raises(SpecError, match="exactly one of sensitivity, specificity or cost_ratio"):
        resolve_spec({**base, "operating_point": {"sensitivity": 0.9, "cost_ratio": 5}})
    with pytest.raises(SpecError, match="one image column"):
        resolve_spec({**base, "images": {"a": "p", "b": "q"}})
    with pytest.raises(SpecError, match="recalibration"):
        resolve_spec({**base, "recalibration": "beta"})
    with pytest.raises(SpecError, match="unknown metric 'auc'"):
        resolve_spec({**base, "requirements": ["auc >= 0.8"]})
    resolve_spec({**base, "requirements": ["auroc >= 0.8", "specificity >= 0.5"]})


# ------------------------------------------------------------- bad inputs
def test_missing_corrupt_and_odd_sized_images_are_flagged_and_counted(clinic):
    frame = pd.read_csv(clinic / "patients.csv")
    present = [p for p in frame["xray"] if (clinic / p).exists()]
    (clinic / present[0]).unlink()  # missing
    (clinic / present[1]).write_bytes(b"not a png")  # corrupt
    Image.fromarray(np.full((40, 32), 200, np.uint8)).save(clinic / present[2])  # other size
    data = load(clinic)
    counts = data.report.counts
    expected_missing = len(frame) - len(present) + 1
    assert counts["missing_images"] == expected_missing
    assert counts["corrupt_images"] == 1 and counts["resized_images"] == 1
    assert data.inputs.image_present.sum() == len(present) - 2
    assert data.inputs.images.shape == (len(frame), 24, 24)
    text = "\n".join(data.report.warnings)
    assert "is not a readable image" in text and present[1] in text
    assert "resized to 24×24" in text and f"{expected_missing} row(s) have no xray file" in text


def test_empty_and_long_notes_are_reported(clinic):
    frame = pd.read_csv(clinic / "patients.csv")
    frame.loc[0, "note"] = None
    frame.loc[1, "note"] = "chest pain " * 400
    frame.to_csv(clinic / "patients.csv", index=False)
    data = load(clinic)
    assert data.inputs.notes[0] == "" and data.report.counts["empty_notes"] >= 1
    assert data.report.counts["truncated_notes"] >= 1
    assert any("truncated to their first 48 tokens" in w for w in data.report.warnings)


def test_image_array_must_match_the_rows(clinic):
    np.save(clinic / "images.npy", np.zeros((5, 24, 24), np.uint8))
    with pytest.raises(DataError, match=r"expected \(90, height, width\)"):
        load(clinic, images={}, image_array="images.npy")
    np.save(clinic / "images.npy", np.zeros((90, 24, 24), np.uint8))
    assert load(clinic, images={}, image_array="images.npy").inputs.images.shape[0] == 90


def test_spec_naming_missing_columns(clinic):
    with pytest.raises(SpecError, match="'scan_path'"):
        load(clinic, images={"scan": "scan_path"})


def test_patient_with_several_rows_never_spans_folds(clinic):
    from tailorkit.solutions.diagnosis import make_fold_splits

    frame = pd.read_csv(clinic / "patients.csv")
    doubled = pd.concat([frame, frame.head(30)], ignore_index=True)
    doubled.to_csv(clinic / "patients.csv", index=False)
    data = load(clinic)
    spec, _ = resolve_spec(yaml.safe_load((clinic / "tailorkit.yaml").read_text()))
    for train, valid in make_fold_splits(spec, data):
        assert not set(data.patients[train]) & set(data.patients[valid])
    assert any("folds are grouped by 'patient_id'" in w for w in data.report.warnings)


def test_unreachable_operating_point_stops_the_run(clinic):
    write_project(
        clinic,
        text=[],
        images={},
        models=["logistic"],
        operating_point={"sensitivity": 0.99, "min_specificity": 0.99},
    )
    with pytest.raises(DataError, match="cannot be reached by model 'logistic'"):
        Project.from_yaml(clinic / "tailorkit.yaml").run()


# ------------------------------------------------------------------ a run
def test_holdout_with_specificity_target(clinic):
    write_project(
        clinic,
        text=[],
        images={},
        models=["logistic"],
        evaluation={"protocol": "holdout", "holdout_fraction": 0.34, "bootstrap": 0},
        operating_point={"specificity": 0.8},
    )
    result = Project.from_yaml(clinic / "tailorkit.yaml").run()
    row = result.result["leaderboard"][0]
    assert row["specificity"] >= 0.8 and "auroc_ci" not in row
    assert "sensitivity" in result.result["operating_point"]["cross_fitted"]


def test_unlabeled_rows_reach_the_ft_transformers_pretraining(clinic):
    from tailorkit.solutions.diagnosis import Candidate, fit_candidate

    table = pd.read_csv(clinic / "patients.csv")
    table.drop(columns=["disease"]).head(40).to_csv(clinic / "more.csv", index=False)
    data = load(clinic, text=[], images={}, data={"train": "patients.csv", "unlabeled": "more.csv"})
    assert len(data.tabular.X_unlabeled) == 40
    tiny = {"d_token": 8, "n_blocks": 1, "n_heads": 2, "max_epochs": 2, "pretrain_epochs": 2}
    candidate = Candidate("ft_transformer", "ft_transformer", "tabular", {**tiny, "n_bags": 1})
    model = fit_candidate(candidate, data, np.arange(len(data.y)))
    assert model.pretrain_epochs_ > 0  # auto: on, since unlabeled rows were given


def test_run_scores_every_modality_and_reports(clinic):
    models = ["logistic", "text_classifier", {"name": "fusion", "family": "fusion",
                                              "params": TINY_FUSION}]  # fmt: skip
    write_project(clinic, models=models, recalibration="platt", prevalence=0.1)
    result = Project.from_yaml(clinic / "tailorkit.yaml").run()
    board = {row["model"]: row for row in result.result["leaderboard"]}
    assert set(board) == {"logistic", "text_classifier", "fusion"}
    for row in board.values():
        for key in ("auroc", "auroc_ci", "auprc", "sensitivity", "specificity", "ppv", "ece"):
            assert row[key] is not None, key
        assert row["sensitivity"] >= 0.9  # the operating point on out-of-fold predictions
    document = json.loads(result.json_path.read_text())
    assert document["protocol"]["grouped_by_patient"]
    assert document["operating_point"]["prevalence"] == 0.1
    assert set(document["subgroups"]) == {"sex", "age band"}
    assert document["calibration"]["recalibration"] == "platt"
    assert len(document["decision_curve"]["model"]) == len(document["decision_curve"]["threshold"])
    assert {c["modality"] for c in document["modality_comparison"]} == {
        "tabular",
        "text",
        "fusion",
    }
    html = result.report_path.read_text()
    assert "Decision-curve analysis" in html and "Calibration (recalibration: platt)" in html
    assert html.count("data:image/png;base64") >= 4


# ------------------------------------------------------------------ CLI
def tk(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tailorkit", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_cli_init_run_predict(clinic):
    done = tk(
        clinic, "init", "diagnosis", "--data", "patients.csv", "--target", "disease",
        "--text", "note", "--image", "xray=xray", "--patient-col", "patient_id",
        "--visits", "visits.csv", "--time-col", "visit_date", "--name", "clinic",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    spec = (clinic / "tailorkit.yaml").read_text()
    assert "text: [note]" in spec and "images: {xray: xray}" in spec and "visits:" in spec
    fusion = json.dumps({"name": "fusion", "family": "fusion", "params": TINY_FUSION})
    done = tk(
        clinic, "run", "--json", "--set", f"models=[logistic, {fusion}]",
        "--set", "evaluation.folds=3", "--set", "evaluation.bootstrap=50",
        "--set", "text_model.max_length=48",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["model"] == "clinic:1"
    new = pd.read_csv(clinic / "patients.csv").head(12)
    new.loc[0, "xray"] = "images/nowhere.png"
    new.to_csv(clinic / "new.csv", index=False)
    done = tk(clinic, "predict", "new.csv", "--model", "clinic:1")
    assert done.returncode == 0, done.stderr
    scores = pd.read_csv(io.StringIO(done.stdout))
    assert len(scores) == 12 and scores["probability"].between(0, 1).all()
    assert set(scores["decision"]) <= {"positive", "negative"}
    assert {"factor_1", "factor_2", "factor_3"} <= set(scores.columns)
    bad = pd.read_csv(clinic / "patients.csv").drop(columns=["note"])
    bad.to_csv(clinic / "bad.csv", index=False)
    done = tk(clinic, "predict", "bad.csv", "--model", "clinic:1")
    assert done.returncode == 2 and "'note'" in done.stderr and "Traceback" not in done.stderr


def test_demo_runs_offline_on_real_breast_cancer_data(tmp_path):
    done = tk(
        tmp_path, "demo", "diagnosis", "--folder", "demo", "--json",
        "--set", "models=[logistic]", "--set", "evaluation.bootstrap=50",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["model"] == "breast-cancer:1" and summary["gates_passed"]
    assert (tmp_path / "demo" / "patients.csv").exists()
