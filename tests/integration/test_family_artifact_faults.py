"""Fault suite, artifacts, for the solution families beyond the tabular credit models
(``test_serve_artifacts``): a recommender, a maintenance sensor model, a diagnosis model. A
truncated, bit-flipped or swapped file is refused before anything loads it: the service
answers 503 for that project with the file named in /readyz and audits it; the command line
(``recommend``, ``predict``) exits 2 with one line naming the project, version and file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tailorkit.data.simulators.fleet import simulate_fleet
from tailorkit.data.simulators.patients import write_patient_files
from tailorkit.data.simulators.shoppers import simulate_shop
from tailorkit.pipeline import Project
from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import EventStore
from tailorkit.solutions.maintenance.templates import init_template
from tests.artifact_faults import distinct_copy, flip_bit, swap_with, truncate, weights_file
from tests.conftest import tk
from tests.integration.test_diagnosis import write_project
from tests.serving_helpers import ThreadServer, eventually

pytestmark = pytest.mark.slow

DAMAGE = {
    "truncated": lambda path, other, root: truncate(path),
    "bit-flipped": lambda path, other, root: flip_bit(path),
    "swapped": lambda path, other, root: swap_with(path, other, root),
}


@dataclass(frozen=True)
class Family:
    """Two trained models of one solution family, and how the service and the CLI use one."""

    solution: str
    family: str
    models: tuple[Path, Path]
    endpoint: str  # the service route, and its request body
    body: dict
    command: tuple[str, ...]  # the CLI command that loads it, ``{ref}`` for the model


def trained(root: Path, spec: Path, overrides: list[str]) -> Path:
    """Run the project; the folder of the version it registered."""
    result = Project.from_yaml(spec, overrides=overrides, workspace=root / ".tailorkit").run()
    return Registry(root / ".tailorkit").resolve(result.model_ref).path


def shop(root: Path, seed: int) -> Path:
    events, products, _ = simulate_shop(n_users=120, n_items=50, n_cold=4, random_state=seed)
    events.to_csv(root / "events.csv", index=False)
    products.to_csv(root / "products.csv", index=False)
    spec = {"name": "shop", "solution": "recommendation", "models": ["item_knn"],
            "data": {"interactions": "events.csv", "items": "products.csv", "item_key": "item_id"},
            "evaluation": {"bootstrap": 0, "pretraining_ablation": False}}  # fmt: skip
    (root / "tailorkit.yaml").write_text(yaml.safe_dump(spec))
    return trained(root, root / "tailorkit.yaml", [])


def fleet(root: Path, seed: int) -> Path:
    simulate_fleet(8, mean_life=50, random_state=seed).to_csv(root / "readings.csv", index=False)
    columns = {"sensors": str(root / "readings.csv"), "asset_col": "asset_id", "time_col": "cycle"}
    (root / "tailorkit.yaml").write_text(init_template("fleet", columns))
    model = "models=[{name: lightgbm, family: lightgbm, params: {n_estimators: 20}}]"
    overrides = [model, "tasks.window=8", "evaluation.cuts_per_asset=1"]
    return trained(root, root / "tailorkit.yaml", overrides)


def clinic(root: Path, seed: int) -> Path:
    write_patient_files(root, 60, random_state=seed)
    write_project(root, models=["logistic"], evaluation={"folds": 2, "bootstrap": 0})
    return trained(root, root / "tailorkit.yaml", [])


@pytest.fixture(scope="module")
def families(tmp_path_factory) -> dict[str, Family]:
    root = tmp_path_factory.mktemp("families")

    def pair(build, name: str) -> tuple[Path, Path]:
        for seed in (3, 4):
            (root / f"{name}-{seed}").mkdir()
        return build(root / f"{name}-3", 3), build(root / f"{name}-4", 4)

    readings = {"asset": "a", "readings": [{"cycle": 1}]}
    return {
        "shop": Family("recommendation", "item_knn", pair(shop, "shop"), "recommend",
                       {"user": 7}, ("recommend", "--model", "{ref}", "--user", "7")),
        "fleet": Family("maintenance", "sensor_lightgbm", pair(fleet, "fleet"), "rul", readings,
                        ("predict", "--model", "{ref}", str(root / "fleet-3" / "readings.csv"))),
        "clinic": Family("diagnosis", "logistic", pair(clinic, "clinic"), "predict",
                         {"rows": [{"age": 50}]},
                         ("predict", "--model", "{ref}", str(root / "clinic-3" / "patients.csv"))),
    }  # fmt: skip


def damaged(workspace: Path, project: str, family: Family, damage: str) -> str:
    """Register a copy of the family's first model as ``project`` (alias champion), then damage
    its stored weights file; returns the file's name."""
    registry = Registry(workspace)
    registry.ensure_project(project, family.solution)
    folder = distinct_copy(family.models[0], workspace.parent / project, project)
    version = registry.register_model(project, folder, family=family.family)
    registry.set_alias(project, "champion", version.version)
    stored = weights_file(version.path)
    DAMAGE[damage](stored, family.models[1], version.path)
    return stored.relative_to(version.path).as_posix()


def test_damaged_artifacts_of_every_family_are_503s_named_in_readyz(tmp_path, families):
    workspace = tmp_path / ".tailorkit"
    expected = {  # project -> (its family, the damaged file)
        f"{name}-{damage}": (family, damaged(workspace, f"{name}-{damage}", family, damage))
        for name, family in families.items()
        for damage in DAMAGE
    }
    store = EventStore(Registry(workspace))
    key = store.create_tenant("acme")
    operator = {"X-API-Key": store.operators.create("ops")}
    for project in expected:
        store.grant("acme", project)
    with ThreadServer(create_app(ServiceSettings(workspace=workspace))) as running:
        http = httpx.Client(base_url=running.url, headers={"X-API-Key": key}, timeout=60)
        ready = eventually(
            lambda: (r := http.get("/readyz", headers=operator).json())
            and "loading models" not in r["problems"] and r, timeout=120,
        )  # fmt: skip
        problems = "\n".join(ready["problems"])
        for project, (family, named) in expected.items():
            assert f"{project}:1" in problems and named in problems, (project, problems)
            answer = http.post(f"/v1/projects/{project}/{family.endpoint}", json=family.body)
            assert answer.status_code == 503 and named in answer.json()["error"], answer.text
    events = Registry(workspace).artifact_events()
    assert {e["project"] for e in events} == set(expected)
    assert {e["actor"] for e in events} == {"serve"}


@pytest.mark.parametrize("name", ["shop", "fleet", "clinic"])
def test_the_loading_command_of_every_family_refuses_a_damaged_file(tmp_path, families, name):
    family = families[name]
    workspace = tmp_path / ".tailorkit"
    named = damaged(workspace, name, family, "bit-flipped")
    command = [part.format(ref=f"{name}:1") for part in family.command]
    done = tk(tmp_path, *command, "-w", str(workspace), ok=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.strip()]
    assert f"{name}:1" in line and named in line and "refusing to load it" in line, line
    (event,) = Registry(workspace).artifact_events(name)
    assert event["actor"].endswith(f"(tailorkit {command[0]})"), event
