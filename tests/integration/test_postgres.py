"""The registry and the service's tables on a real PostgreSQL server (the same SQLAlchemy
models as on SQLite)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import httpx

from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import Arm, EventStore
from tests.serving_helpers import ThreadServer, applicants, fit_credit_model
from tests.unit.test_registry import PROJECT, check_concurrent_writers, register


def test_service_on_postgresql(postgres_url, tmp_path):
    workspace = tmp_path / ".tailorkit"
    model = fit_credit_model(tmp_path / "model", "logistic")
    registry = Registry(workspace, url=postgres_url)
    registry.ensure_project("pg-credit", "credit_risk")
    for alias in ("champion", "challenger"):
        version = registry.register_model("pg-credit", model, family="logistic").version
        registry.set_alias("pg-credit", alias, version)
    store = EventStore(registry)
    key = store.create_tenant("acme")
    store.grant("acme", "pg-credit")
    assert store.authenticate(key).name == "acme" and store.authenticate(key + "x") is None
    experiment = store.create_experiment(
        "pg-credit", [Arm("champion", 0.5), Arm("challenger", 0.5)]
    )
    now = datetime.now(timezone.utc)
    record = {
        "tenant_id": 1,
        "project": "pg-credit",
        "endpoint": "predict",
        "alias": "champion",
        "model_version": 1,
        "experiment_id": experiment.id,
        "arm": "champion",
        "unit_hash": store.unit_hash("u1"),
        "n_rows": 1,
        "outputs_json": "[]",
        "shadow_json": None,
        "latency_ms": 1.0,
        "at": now,
    }
    store.write_requests([{**record, "request_id": "a" * 32}])
    store.write_requests([{**record, "request_id": "b" * 32}])  # same unit: one assignment
    assert store.count("assignments", experiment_id=experiment.id) == 1
    assert store.experiment_summary(experiment.id)["champion"]["exposures"] == 2
    store.stop_experiment(experiment.id)

    settings = ServiceSettings(workspace=workspace, db_url=postgres_url, poll_interval=0)
    with ThreadServer(create_app(settings)) as server:
        http = httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=30)
        rows = json.loads(applicants(5)[0].to_json(orient="records"))
        answer = http.post("/v1/projects/pg-credit/predict", json={"rows": rows})
        assert answer.status_code == 200, answer.text
        request_id = answer.json()["request_id"]
        feedback = http.post("/v1/feedback", json={"request_id": request_id, "outcome": "default"})
        assert feedback.status_code == 200, feedback.text
        assert http.get("/readyz").json()["ready"]
    assert store.count("feedback", request_id=request_id) == 1
    assert store.count("requests", request_id=request_id) == 1


def test_postgresql_registry_round_trip_and_audit(postgres_url: str, tmp_path: Path) -> None:
    registry = Registry(tmp_path / "ws", url=postgres_url.replace("/tailorkit?", "/registry?"))
    registry.ensure_project(PROJECT, "credit_risk")
    assert registry.solution_of(PROJECT) == "credit_risk"
    run_id = registry.start_run(PROJECT, {"name": PROJECT})
    first = register(registry, tmp_path, "a", run_id=run_id, metrics={"auc": 0.8})
    second = register(registry, tmp_path, "b", run_id=run_id, metrics={"auc": 0.81})
    registry.finish_run(run_id, status="succeeded", summary={"best": "b"})
    registry.set_alias(PROJECT, "champion", first.version, reason="first")
    registry.set_alias(PROJECT, "champion", second.version, reason="better")
    assert registry.resolve(f"{PROJECT}@champion").version == second.version
    assert registry.resolve(f"{PROJECT}:1").metrics == {"auc": 0.8}
    moves = [(m["from_version"], m["to_version"], m["reason"]) for m in registry.audit_log()]
    assert moves == [(None, 1, "first"), (1, 2, "better")]
    assert registry.runs(PROJECT)[0]["status"] == "succeeded"
    registry.close()


def test_postgresql_concurrent_writers_do_not_corrupt(postgres_url: str, tmp_path: Path) -> None:
    check_concurrent_writers(tmp_path / "ws", postgres_url.replace("/tailorkit?", "/concurrency?"))
