"""Every solution in the registry keeps the contract; the CLI, the service and the run loop
find a solution through the registry only (a fifth one needs one module and one line)."""

from __future__ import annotations

import inspect
import json

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from tailorkit import get_solution, load_spec
from tailorkit.data.simulators.applicants import simulate_applicants
from tailorkit.pipeline import Project
from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import EventStore
from tailorkit.solutions import SOLUTIONS
from tailorkit.solutions.base import ProfileTable, Solution
from tailorkit.spec import SpecBase
from tests.conftest import tk
from tests.serving_helpers import ThreadServer

# small settings per demo, so that each solution runs end to end in seconds
DEMO_OVERRIDES = {
    "credit_risk": [
        "models=[logistic, lightgbm]",
        "evaluation.folds=3",
        "evaluation.bootstrap=50",
        "evaluation.pretraining_ablation=false",
    ],
    "recommendation": ["models=[popularity, item_knn]", "evaluation.bootstrap=0"],
    "maintenance": [
        "models=[{name: lightgbm, family: lightgbm, params: {n_estimators: 60}}]",
        "tasks.window=8",
        "evaluation.cuts_per_asset=1",
    ],
    "diagnosis": ["evaluation.folds=3", "evaluation.bootstrap=50"],
}
# what each demo's data offers `tailorkit predict`
PREDICT_FILES = {
    "credit_risk": "applications.csv",
    "recommendation": "users.csv",
    "maintenance": "readings.csv",
    "diagnosis": "patients.csv",
}


def test_the_registry_names_every_demo():
    assert set(SOLUTIONS) == set(DEMO_OVERRIDES) == set(PREDICT_FILES)


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_every_solution_keeps_the_contract(name, tmp_path):
    solution = get_solution(name)
    assert isinstance(solution, Solution) and solution.name == name
    assert not inspect.isabstract(type(solution))
    assert issubclass(solution.spec_class, SpecBase)
    assert solution.headline in solution.metrics and "model" in solution.board_columns
    spec_path, description = solution.demo_project(tmp_path / "demo")
    spec, resolved = load_spec(spec_path)
    assert spec.solution == name and resolved["solution"] == name and description
    warnings, summary = solution.describe_data(spec, spec_path.parent)
    assert isinstance(warnings, list) and isinstance(summary, str) and summary
    tables = solution.profile_tables(spec, spec_path.parent)
    assert tables and all(isinstance(t, ProfileTable) and len(t.frame) for t in tables)


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> dict:
    """Each solution's demo trained once with small settings, in one shared workspace."""
    root = tmp_path_factory.mktemp("demos")
    workspace = root / ".tailorkit"
    out = {}
    for name in sorted(SOLUTIONS):
        spec_path, _ = get_solution(name).demo_project(root / name)
        result = Project.from_yaml(
            spec_path, overrides=DEMO_OVERRIDES[name], workspace=workspace
        ).run()
        out[name] = {"folder": spec_path.parent, "result": result}
    return {"workspace": workspace, "runs": out}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_each_demo_runs_profiles_and_predicts_through_the_cli(name, demos):
    run = demos["runs"][name]
    result, folder = run["result"], run["folder"]
    assert result.model_ref and result.report_path.exists() and result.json_path.exists()
    document = json.loads(result.json_path.read_text())
    assert document["solution"] == name and document["best"] == result.best
    assert document["requirements"] == json.loads(json.dumps(result.requirements))
    profile = tk(folder, "profile", "-o", str(folder / "profile"))  # every solution's tables
    assert "profile report" in profile.stdout
    assert (folder / "profile" / "profile.html").exists()
    workspace = str(demos["workspace"])
    scored = tk(
        folder, "predict", PREDICT_FILES[name], "--model", result.model_ref, "-w", workspace
    )
    assert len(scored.stdout.splitlines()) > 1


@pytest.fixture(scope="module")
def service(demos):
    store = EventStore(Registry(demos["workspace"]))
    key = store.create_tenant("acme")
    for run in demos["runs"].values():
        store.grant("acme", run["result"].model_ref.split(":")[0])
    settings = ServiceSettings(workspace=demos["workspace"], poll_interval=0.2)
    with ThreadServer(create_app(settings)) as running:
        yield httpx.Client(base_url=running.url, headers={"X-API-Key": key}, timeout=60)


@pytest.mark.slow
def test_every_solution_is_served(demos, service):
    """Each project answers its endpoint; a diagnosis project is served too (its artifact
    is diagnosis.json + model/, which the scoring service once could not read: 503)."""
    runs = demos["runs"]
    project = {name: run["result"].model_ref.split(":")[0] for name, run in runs.items()}
    rows = pd.read_csv(runs["credit_risk"]["folder"] / "applications.csv").head(2)
    credit = service.post(
        f"/v1/projects/{project['credit_risk']}/predict",
        json={"rows": json.loads(rows.drop(columns=["creditability"]).to_json(orient="records"))},
    )
    assert credit.status_code == 200, credit.text
    patients = pd.read_csv(runs["diagnosis"]["folder"] / "patients.csv").head(3)
    diagnosis = service.post(
        f"/v1/projects/{project['diagnosis']}/predict",
        json={"rows": json.loads(patients.drop(columns=["diagnosis"]).to_json(orient="records"))},
    )
    assert diagnosis.status_code == 200, diagnosis.text
    answers = diagnosis.json()["predictions"]
    assert len(answers) == 3 and {a["decision"] for a in answers} <= {"positive", "negative"}
    assert all(0 <= a["probability"] <= 1 for a in answers)
    assert answers[0]["record_id"] == patients["record_id"].iloc[0]
    shop = service.post(f"/v1/projects/{project['recommendation']}/recommend", json={"user": 3})
    assert shop.status_code == 200 and shop.json()["items"], shop.text
    readings = pd.read_csv(runs["maintenance"]["folder"] / "readings.csv")
    asset = readings.iloc[0]["asset_id"]
    stream = readings[readings["asset_id"] == asset].drop(columns=["asset_id"]).head(10)
    monitor = service.post(
        f"/v1/projects/{project['maintenance']}/monitor",
        json={"asset": str(asset), "readings": json.loads(stream.to_json(orient="records"))},
    )
    assert monitor.status_code == 200, monitor.text


def test_a_fifth_solution_needs_one_module_and_one_registry_line(tmp_path, monkeypatch):
    """init, validate, profile, run, predict and the service find a new solution through the
    registry alone: no edit in the CLI, the run loop or the service."""
    from tailorkit.cli.main import app

    monkeypatch.setitem(SOLUTIONS, "toy", "tests.integration.toy_solution")
    monkeypatch.chdir(tmp_path)
    simulate_applicants(300, random_state=2).to_csv("applications.csv", index=False)
    runner = CliRunner()

    def cli(*args: str):
        done = runner.invoke(app, list(args), catch_exceptions=False)
        assert done.exit_code == 0, done.output
        return done.output

    cli("init", "toy", "--data", "applications.csv", "--target", "default", "--name", "toy")
    assert "valid" in cli("validate")
    cli("profile")
    summary = json.loads(cli("run", "--json"))
    assert summary["model"] == "toy:1" and summary["promoted"]
    assert "probability" in cli("predict", "applications.csv", "--model", "toy@champion")
    store = EventStore(Registry(tmp_path / ".tailorkit"))
    key = store.create_tenant("acme")
    store.grant("acme", "toy")
    row = simulate_applicants(5, random_state=3).drop(columns=["default"]).head(1)
    with ThreadServer(create_app(ServiceSettings(workspace=tmp_path / ".tailorkit"))) as running:
        answer = httpx.post(
            f"{running.url}/v1/projects/toy/predict",
            json={"rows": json.loads(row.to_json(orient="records"))},
            headers={"X-API-Key": key},
            timeout=60,
        )
    assert answer.status_code == 200, answer.text
    assert 0 <= answer.json()["predictions"][0]["probability"] <= 1
