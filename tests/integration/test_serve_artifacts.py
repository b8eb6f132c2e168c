"""Fault suite, artifacts: truncated, bit-flipped and swapped model files for every tabular
family. The promises checked: the service stays up for the other projects; a damaged model is a
503 for its project with the reason in /readyz; a damaged new version leaves the previous one
serving; a file changed after registration is named and audited.

The service runs as a real ``tailorkit serve`` process: before models were trial-loaded in a
child process, a truncated LightGBM file aborted it (rc 134)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
import pytest

from tailorkit.registry import Registry
from tailorkit.registry.signing import SIGNING_KEY_ENV
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import EventStore
from tailorkit.solutions.credit_risk.predict import DECISION_FILE
from tests.artifact_faults import distinct_copy, flip_bit, swap_with, truncate, weights_file
from tests.serving_helpers import (
    ThreadServer,
    applicants,
    eventually,
    fit_credit_model,
    free_port,
    register_folder,
    start_service_process,
    wait_until_up,
)
from tests.unit.test_artifact_signing import forge

FAMILIES = ("lightgbm", "logistic", "ft_transformer")
DAMAGE = {
    "truncated": lambda path, other: truncate(path),
    "bit-flipped": lambda path, other: flip_bit(path),
    "swapped": swap_with,
}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[tuple[str, int], Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        (family, seed): fit_credit_model(root / f"{family}-{seed}", family, seed=seed)
        for family in FAMILIES
        for seed in (1, 2)
    }


def rows() -> list[dict]:
    X, _ = applicants(20, seed=5)
    return json.loads(X.head(2).to_json(orient="records"))


class Running:
    """A ``tailorkit serve`` process over a workspace, with an API key for every project and
    an operator key for readiness details."""

    def __init__(self, workspace: Path, *extra: str) -> None:
        store = EventStore(Registry(workspace))
        self.key = store.create_tenant("acme")
        self.operator = {"X-API-Key": store.operators.create("ops")}  # over the tenant's
        for project in Registry(workspace).projects():
            store.grant("acme", project["name"])
        self.port = free_port()
        self.process = start_service_process(workspace, self.port, *extra)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Running:
        try:
            wait_until_up(self.url, timeout=120)
        except TimeoutError:
            self.process.kill()
            raise AssertionError(f"the service died: rc {self.process.wait()}") from None
        self.http = httpx.Client(base_url=self.url, headers={"X-API-Key": self.key}, timeout=60)
        return self

    def __exit__(self, *_exc) -> None:
        self.process.kill()
        self.process.wait(timeout=30)

    def readiness(self) -> dict:
        try:
            return self.http.get("/readyz", headers=self.operator).json()
        except httpx.TransportError:
            self.process.wait(timeout=30)
            raise AssertionError(f"the service died: rc {self.process.returncode}") from None

    def settled(self, timeout: float = 240) -> dict:
        """Readiness once start-up loading is done."""
        return eventually(
            lambda: (r := self.readiness()) and "loading models" not in r["problems"] and r,
            timeout=timeout,
        )

    def predict(self, project: str) -> httpx.Response:
        return self.http.post(f"/v1/projects/{project}/predict", json={"rows": rows()})

    def alive(self) -> bool:
        return self.process.poll() is None


@pytest.mark.slow
def test_damaged_artifacts_at_start_up_are_503s_and_the_service_stays_up(tmp_path, models):
    workspace = tmp_path / ".tailorkit"
    register_folder(workspace, "good-credit", models[("lightgbm", 1)], "champion")
    registry = Registry(workspace)
    expected: dict[str, str] = {}
    for family in FAMILIES:
        broken = distinct_copy(models[(family, 1)], tmp_path / f"{family}-pre", family)
        truncate(weights_file(broken))  # damaged before registration: its hash matches
        register_folder(workspace, f"{family}-registered-truncated", broken, "champion")
        expected[f"{family}-registered-truncated"] = "child process"
        for damage, apply in DAMAGE.items():
            project = f"{family}-{damage}"
            folder = distinct_copy(models[(family, 1)], tmp_path / project, project)
            register_folder(workspace, project, folder, "champion")
            stored = weights_file(registry.resolve(f"{project}@champion").path)
            apply(stored, models[(family, 2)])
            expected[project] = stored.name
    with Running(workspace) as service:
        ready = service.settled()
        assert not ready["ready"] and service.alive()
        problems = "\n".join(ready["problems"])
        for project, named in expected.items():
            assert f"{project}:1" in problems and named in problems, (project, problems)
            answer = service.predict(project)
            assert answer.status_code == 503 and named in answer.json()["error"], answer.text
        assert "killed it with SIGABRT" in problems  # what LightGBM's parser does
        assert service.predict("good-credit").status_code == 200
        assert service.alive()
    audited = {event["project"] for event in registry.artifact_events()}
    assert audited == {p for p in expected if not p.endswith("registered-truncated")}


@pytest.mark.slow
def test_a_damaged_new_version_leaves_the_previous_one_serving(tmp_path, models):
    workspace = tmp_path / ".tailorkit"
    register_folder(workspace, "acme-credit", models[("lightgbm", 1)], "champion")
    register_folder(workspace, "globex-credit", models[("logistic", 1)], "champion")
    registry = Registry(workspace)
    with Running(workspace, "--poll", "0.2") as service:
        assert service.settled()["ready"]

        def promote_and_wait(folder: Path, fragment: str) -> None:
            version = register_folder(workspace, "acme-credit", folder)
            registry.set_alias("acme-credit", "champion", version)
            degraded = eventually(
                lambda: service.readiness()["degraded"].get("acme-credit@champion"), timeout=120
            )
            assert f"acme-credit:{version}" in degraded and fragment in degraded, degraded
            for project in ("acme-credit", "globex-credit"):
                answer = service.predict(project)
                assert answer.status_code == 200 and answer.json()["model_version"] == 1
            assert service.alive()

        aborting = distinct_copy(models[("lightgbm", 2)], tmp_path / "aborting", "v2")
        truncate(weights_file(aborting))
        promote_and_wait(aborting, "SIGABRT")
        edited = distinct_copy(models[("lightgbm", 2)], tmp_path / "edited", "v3")
        version = register_folder(workspace, "acme-credit", edited)
        stored = registry.resolve(f"acme-credit:{version}").path / DECISION_FILE
        stored.write_text(stored.read_text().replace('"threshold": 0.3', '"threshold": 0.99'))
        registry.set_alias("acme-credit", "champion", version)
        degraded = eventually(
            lambda: (
                (d := service.readiness()["degraded"].get("acme-credit@champion", ""))
                and f"acme-credit:{version}" in d
                and d
            ),
            timeout=120,
        )
        assert DECISION_FILE in degraded
        assert service.predict("acme-credit").json()["model_version"] == 1
        good = distinct_copy(models[("lightgbm", 2)], tmp_path / "good", "v4")
        fixed = register_folder(workspace, "acme-credit", good, None)
        registry.set_alias("acme-credit", "champion", fixed)
        eventually(lambda: service.predict("acme-credit").json()["model_version"] == fixed)
        assert "acme-credit@champion" not in service.readiness()["degraded"]
    (event,) = registry.artifact_events("acme-credit")
    assert event["version"] == version and DECISION_FILE in event["problem"]


@pytest.mark.slow
def test_with_a_signing_key_the_service_refuses_a_forged_artifact(tmp_path, models, monkeypatch):
    key = tmp_path / "keys" / "signing.key"
    key.parent.mkdir()
    key.write_text(secrets.token_hex(32))
    monkeypatch.setenv(SIGNING_KEY_ENV, str(key))  # what the service's registry reads
    workspace = tmp_path / ".tailorkit"
    register_folder(workspace, "signed-credit", models[("logistic", 1)], "champion")
    register_folder(workspace, "forged-credit", models[("logistic", 2)], "champion")
    forge(Registry(workspace), Registry(workspace).resolve("forged-credit:1"))
    store = EventStore(Registry(workspace))
    key_header = {"X-API-Key": store.create_tenant("acme")}
    operator = {"X-API-Key": store.operators.create("ops")}
    for project in ("signed-credit", "forged-credit"):
        store.grant("acme", project)
    with ThreadServer(create_app(ServiceSettings(workspace=workspace))) as running:
        http = httpx.Client(base_url=running.url, headers=key_header, timeout=60)
        ready = eventually(
            lambda: (r := http.get("/readyz", headers=operator).json())
            and "loading models" not in r["problems"] and r, timeout=120,
        )  # fmt: skip
        (problem,) = ready["problems"]
        assert "forged-credit:1" in problem and "signature" in problem, problem
        forged = http.post("/v1/projects/forged-credit/predict", json={"rows": rows()})
        assert forged.status_code == 503 and "signature" in forged.json()["error"]
        signed = http.post("/v1/projects/signed-credit/predict", json={"rows": rows()})
        assert signed.status_code == 200, signed.text
    (event,) = Registry(workspace).artifact_events()
    assert event["project"] == "forged-credit" and event["actor"] == "serve"
