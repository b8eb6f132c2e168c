"""The diagnosis solution: spec, multimodal loading and its bad inputs, a run, the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tailorkit import Project
from tailorkit.data.simulators.patients import write_patient_files
from tailorkit.errors import DataError, SpecError
from tailorkit.solutions.specs import resolve_spec
from tests.conftest import tk

TINY_FUSION = {"max_epochs": 2, "widths": [4, 8], "d_embed": 8, "hidden": 16}


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


def spec_and_data(folder: Path, **changes):
    from tailorkit.solutions.diagnosis.data import load_patient_data

    spec, _ = resolve_spec(yaml.safe_load(write_project(folder, **changes).read_text()))
    return spec, load_patient_data(spec, folder)


def load(folder: Path, **changes):
    return spec_and_data(folder, **changes)[1]


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
    empty = frame["note"].fillna("").str.strip().eq("").sum()  # the simulator blanks some too
    assert data.inputs.notes[0] == "" and data.report.counts["empty_notes"] == empty
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
    from tailorkit.solutions.diagnosis.train import make_fold_splits

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
    from tailorkit.solutions.diagnosis.candidates import Candidate, fit_candidate

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
@pytest.mark.slow
def test_cli_init_run_predict(clinic):
    done = tk_any(
        clinic, "init", "diagnosis", "--data", "patients.csv", "--target", "disease",
        "--text", "note", "--image", "xray=xray", "--patient-col", "patient_id",
        "--visits", "visits.csv", "--time-col", "visit_date", "--name", "clinic",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    spec = (clinic / "tailorkit.yaml").read_text()
    assert "text: [note]" in spec and "images: {xray: xray}" in spec and "visits:" in spec
    fusion = json.dumps({"name": "fusion", "family": "fusion", "params": TINY_FUSION})
    done = tk_any(
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
    done = tk_any(clinic, "predict", "new.csv", "--model", "clinic:1")
    assert done.returncode == 0, done.stderr
    scores = pd.read_csv(io.StringIO(done.stdout))
    assert len(scores) == 12 and scores["probability"].between(0, 1).all()
    assert set(scores["decision"]) <= {"positive", "negative"}
    assert {"factor_1", "factor_2", "factor_3"} <= set(scores.columns)
    bad = pd.read_csv(clinic / "patients.csv").drop(columns=["note"])
    bad.to_csv(clinic / "bad.csv", index=False)
    done = tk_any(clinic, "predict", "bad.csv", "--model", "clinic:1")
    assert done.returncode == 2 and "'note'" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_demo_runs_offline_on_real_breast_cancer_data(tmp_path):
    done = tk_any(
        tmp_path, "demo", "diagnosis", "--folder", "demo", "--json",
        "--set", "models=[logistic]", "--set", "evaluation.bootstrap=50",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["model"] == "breast-cancer:1" and summary["gates_passed"]
    assert (tmp_path / "demo" / "patients.csv").exists()


# ------------------------------------------------ every spec field has an effect
def table_only(folder: Path, **changes) -> Path:
    return write_project(folder, **{"text": [], "images": {}, "models": ["logistic"], **changes})


def run_table_only(folder: Path, **changes):
    return Project.from_yaml(table_only(folder, **changes)).run()


def test_cost_section_is_a_spec_error_naming_the_cost_ratio(clinic):
    write_project(clinic, cost={"false_negative": 10, "false_positive": 2})
    with pytest.raises(SpecError, match=r"line \d+: cost is not used.*\{cost_ratio: 5\}"):
        Project.from_yaml(clinic / "tailorkit.yaml")


def test_operating_point_floors_hold_beside_a_cost_ratio(clinic):
    result = run_table_only(clinic, operating_point={"cost_ratio": 1, "min_sensitivity": 0.8})
    row = result.result["leaderboard"][0]
    assert row["sensitivity"] >= 0.8  # the cheapest threshold alone catches about a third
    assert result.result["operating_point"]["policy"].endswith("sensitivity ≥ 0.8")
    table_only(clinic, operating_point={"cost_ratio": 1, "min_sensitivity": 0.99,
                                        "min_specificity": 0.99})  # fmt: skip
    with pytest.raises(DataError, match="cannot be reached by model 'logistic'.*every floor"):
        Project.from_yaml(clinic / "tailorkit.yaml").run()
    write_project(clinic, operating_point={"sensitivity": 0.9, "min_sensitivity": 0.95})
    with pytest.raises(SpecError, match="operating_point.*with a sensitivity target, raise"):
        Project.from_yaml(clinic / "tailorkit.yaml")


def test_protected_columns_are_audited_and_kept_out_of_the_models(clinic):
    result = run_table_only(clinic, features={"protected": ["smoker", "sex"]})
    subgroups = result.result["subgroups"]
    assert list(subgroups) == ["sex", "age band", "smoker"]  # defaults, then protected
    assert {g["group"] for g in subgroups["smoker"]} == {"False", "True"}
    assert result.result["data"]["table_features"] == 4  # age, systolic_bp, cholesterol, bmi
    assert any("'smoker' is protected" in w for w in result.result["warnings"])


@pytest.mark.slow
def test_fairness_requirements_gate_a_diagnosis_run(clinic):
    """A fairness line on a protected column is checked against the chosen model's audit at
    its operating point (it used to validate, then read no value and always fail)."""
    loose = "equalized_odds_difference[sex] <= 1.0"
    strict = "demographic_parity_difference[sex] <= 0.0"
    result = run_table_only(clinic, features={"protected": ["sex"]}, requirements=[loose])
    gate = result.requirements[0]
    assert gate["value"] is not None and 0 <= gate["value"] <= 1 and gate["passed"]
    assert result.promoted and result.result["fairness"][0]["column"] == "sex"
    audit = result.result["fairness"][0]
    assert gate["value"] == pytest.approx(audit["equalized_odds_difference"])
    strict_run = run_table_only(clinic, features={"protected": ["sex"]}, requirements=[strict])
    assert strict_run.result["fairness"][0]["demographic_parity_difference"] > 0
    assert not strict_run.gates_passed and not strict_run.promoted
    unknown = run_table_only(clinic, requirements=[loose])  # sex is not protected here
    assert (
        unknown.requirements[0]["value"] is None
        and "not a protected column" in (unknown.requirements[0]["note"])
    )


def test_holdout_honours_a_fraction_that_is_not_one_over_k(clinic):
    from tailorkit.solutions.diagnosis.train import make_fold_splits

    def holdout(fraction: float):
        evaluation = {"protocol": "holdout", "holdout_fraction": fraction}
        spec, data = spec_and_data(clinic, text=[], images={}, evaluation=evaluation)
        [(train, valid)] = make_fold_splits(spec, data)
        return train, valid, data

    train, valid, data = holdout(0.6)
    assert len(valid) == 54 and len(train) == 36  # 60% of 90 (was 50%: 1/round(1/0.6))
    assert abs(data.y[valid].mean() - data.y.mean()) < 0.03  # stratified
    assert len(holdout(0.2)[1]) == 18  # 1/k: the first of k folds, as before
    frame = pd.read_csv(clinic / "patients.csv")
    pd.concat([frame, frame.head(30)]).to_csv(clinic / "patients.csv", index=False)
    train, valid, data = holdout(0.6)
    assert not set(data.patients[train]) & set(data.patients[valid])
    assert len(set(data.patients[valid])) == 54  # 60% of the 90 patients


@pytest.mark.slow
def test_n_jobs_runs_the_folds_in_worker_processes(clinic):
    from tailorkit.solutions.diagnosis.train import evaluate_candidates

    def out_of_fold(**evaluation):
        evaluation = {"folds": 3, "bootstrap": 0, **evaluation}
        spec, data = spec_and_data(
            clinic, text=[], images={}, models=["logistic", "lightgbm"], evaluation=evaluation
        )
        said: list[str] = []
        return evaluate_candidates(spec, data, said.append)["raw_oof"], said

    alone, said = out_of_fold()
    assert not any("worker processes" in line for line in said)
    parallel, said = out_of_fold(n_jobs=2)
    assert "running the folds in 2 worker processes" in said
    for name in ("logistic", "lightgbm"):
        np.testing.assert_allclose(parallel[name], alone[name], atol=1e-9)


def test_pretraining_ablation_adds_a_twin_that_is_reported_never_chosen(clinic):
    tiny = {"d_token": 8, "n_blocks": 1, "n_heads": 2, "max_epochs": 2, "pretrain_epochs": 2,
            "n_bags": 1}  # fmt: skip
    models = ["logistic", {"name": "ft_transformer", "family": "ft_transformer", "params": tiny}]
    result = run_table_only(
        clinic,
        models=models,
        evaluation={"folds": 3, "bootstrap": 50, "pretraining_ablation": True},
    )
    board = {row["model"] for row in result.result["leaderboard"]}
    twin = "ft_transformer (with pretraining)"  # no unlabeled rows: the main one does not
    assert board == {"logistic", "ft_transformer", twin, "ensemble"}
    assert result.best != twin
    assert twin not in {c["model"] for c in result.result["modality_comparison"]}
    ablation = result.result["ablation"]["pretraining"]
    assert ablation["model"] == "ft_transformer" and ablation["with"]["auc"] is not None
    assert "Ablation" in result.report_path.read_text()
    table_only(clinic, evaluation={"pretraining_ablation": True})
    with pytest.raises(SpecError, match="pretraining_ablation' needs an ft_transformer"):
        Project.from_yaml(clinic / "tailorkit.yaml").run()


def test_fusion_uses_the_image_backbone_and_its_pretrained_weights(clinic):
    import torch
    from safetensors.torch import save_file

    from tailorkit.models.cnn import ImageNetResNet

    torch.manual_seed(3)
    published = {k: v.contiguous() for k, v in ImageNetResNet("resnet18").state_dict().items()}
    save_file(published, str(clinic / "resnet18.safetensors"))
    fusion = {**TINY_FUSION, "max_epochs": 1, "learning_rate": 1e-9}
    write_project(
        clinic,
        text=[],
        models=[{"name": "fusion", "family": "fusion", "params": fusion}],
        image_model={
            "backbone": "resnet18",
            "pretrained_path": str(clinic / "resnet18.safetensors"),
        },
        evaluation={"folds": 2, "bootstrap": 0},
    )
    result = Project.from_yaml(clinic / "tailorkit.yaml").run()
    trunk = result.model.network_.encoders["image"][0]
    assert isinstance(trunk, ImageNetResNet)
    assert result.model.pretrained_tensors_ == len(published)
    assert torch.allclose(trunk.conv1.weight, published["conv1.weight"], atol=1e-4)


def test_text_epochs_apply_to_fine_tuning_only(clinic):
    from tailorkit.solutions.diagnosis.candidates import candidates_for

    write_project(clinic, text_model={"max_length": 48, "max_epochs": 2})
    with pytest.raises(SpecError, match=r"text_model.*max_epochs applies to mode finetune or lora"):
        Project.from_yaml(clinic / "tailorkit.yaml")
    for text_model, epochs in (
        ({"mode": "lora", "max_length": 48, "max_epochs": 2}, 2),
        ({"max_length": 48}, 3),  # unset: the model's default, as before
    ):
        spec, data = spec_and_data(
            clinic, images={}, models=["text_classifier"], text_model=text_model
        )
        [candidate] = candidates_for(spec, data)
        assert candidate.build().max_epochs == epochs


def tk_any(folder: Path, *args: str):
    """The CLI, its exit code checked by the caller."""
    return tk(folder, *args, ok=False)
