"""The service as a real process: CLI tenants and experiments, and kill -9 during a feedback
load losing no acknowledged event."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tailorkit.errors import TailorkitError
from tailorkit.registry import Registry
from tailorkit.serve.events import Arm, EventStore, FeedbackRow, TenantRow
from tests.conftest import tk
from tests.serving_helpers import (
    applicants,
    fit_credit_model,
    free_port,
    register_folder,
    start_service_process,
    wait_until_up,
)


def tk_in(workspace: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """``tailorkit *args --workspace WORKSPACE``."""
    done = tk(workspace.parent, *args, "--workspace", str(workspace), ok=ok, timeout=300)
    return done


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("process")
    folder = root / ".tailorkit"
    model = fit_credit_model(root / "model", "lightgbm")
    register_folder(folder, "acme-credit", model, "champion")
    register_folder(folder, "acme-credit", model, "challenger")
    return folder


def test_tenants_and_experiments_through_the_cli(workspace):
    key = tk_in(workspace, "tenants", "create", "initech").stdout.strip()
    assert key.startswith("tk_") and len(key) > 30
    with EventStore(Registry(workspace))._read() as session:
        row = session.scalar(select(TenantRow).where(TenantRow.name == "initech"))
    secret = key.split("_", 2)[2]
    assert row.key_id in key and secret not in row.key_hash + row.key_salt
    assert len(row.key_hash) == 64
    missing = tk_in(workspace, "tenants", "grant", "initech", "nobody", ok=False)
    assert missing.returncode == 2 and "nobody" in missing.stderr
    assert "Traceback" not in missing.stderr
    arms = ("--arm", "champion=90", "--arm", "challenger=10")  # percentages, not shares
    unsummed = tk_in(workspace, "experiments", "create", "acme-credit", *arms, ok=False)
    assert unsummed.returncode != 0 and "Traceback" not in unsummed.stderr
    assert "champion=90 + challenger=10 = 100" in unsummed.stderr + unsummed.stdout
    created = json.loads(
        tk_in(
            workspace,
            "experiments",
            "create",
            "acme-credit",
            "--arm",
            "champion=0.9",
            "--arm",
            "challenger=0.1",
        ).stdout
    )
    assert created["status"] == "running" and created["arms"][1]["weight"] == 0.1
    stopped = json.loads(tk_in(workspace, "experiments", "stop", str(created["id"])).stdout)
    assert stopped["status"] == "stopped"


def test_tenant_and_experiment_mistakes_are_clear(workspace):
    store = EventStore(Registry(workspace))
    hooli = store.authenticate(store.create_tenant("hooli"))
    with pytest.raises(TailorkitError, match="already exists"):
        store.create_tenant("hooli")
    with pytest.raises(TailorkitError, match="invalid"):
        store.create_tenant("bad name")
    store.grant("hooli", "acme-credit")
    store.create_tenant("other")
    with pytest.raises(TailorkitError, match="already belongs to tenant 'hooli'"):
        store.grant("other", "acme-credit")
    with pytest.raises(TailorkitError, match="no alias 'nightly'"):
        store.create_experiment("acme-credit", [Arm("champion", 0.5), Arm("nightly", 0.5)])
    with pytest.raises(TailorkitError, match="at least two arms"):
        store.create_experiment("acme-credit", [Arm("champion", 1)])
    running = store.create_experiment("acme-credit", [Arm("champion", 0.5), Arm("challenger", 0.5)])
    with pytest.raises(TailorkitError, match="already runs experiment"):
        store.create_experiment("acme-credit", [Arm("champion", 0.5), Arm("challenger", 0.5)])
    assert [e.id for e in store.experiments("acme-credit") if e.status == "running"] == [running.id]
    store.stop_experiment(running.id)
    assert store.projects_of(hooli.id) == {"acme-credit"}
    store.revoke("hooli", "acme-credit")
    assert store.projects_of(hooli.id) == set()
    assert "acme-credit" not in store.granted_projects()
    with pytest.raises(TailorkitError, match="has no project 'acme-credit'"):
        store.revoke("hooli", "acme-credit")
    store.grant("other", "acme-credit")  # the freed project can go to another tenant
    assert {t["name"]: t["projects"] for t in store.tenants()}["other"] == ["acme-credit"]
    store.revoke("other", "acme-credit")  # the kill -9 test grants it to 'acme'
    assert "acme-credit" not in store.granted_projects()


@pytest.fixture(params=["sqlite", "postgresql"])
def durable_store(request, workspace, tmp_path_factory) -> tuple[Path, list[str]]:
    """(workspace, extra ``serve`` options) of the database the kill -9 test runs on: the
    workspace's SQLite file, or a real PostgreSQL server holding the same project."""
    if request.param == "sqlite":
        return workspace, []
    db_url = request.getfixturevalue("postgres_url")
    folder = tmp_path_factory.mktemp("pg-process") / ".tailorkit"
    registry = Registry(folder, url=db_url)
    registry.ensure_project("acme-credit", "credit_risk")
    model = Registry(workspace).resolve("acme-credit@champion").path
    version = registry.register_model("acme-credit", model, family="lightgbm").version
    registry.set_alias("acme-credit", "champion", version)
    return folder, ["--db-url", db_url]


@pytest.mark.slow
def test_kill_9_during_feedback_load_loses_no_acknowledged_event(durable_store):
    workspace, options = durable_store
    store = EventStore(Registry(workspace, url=options[1] if options else None))
    key = store.create_tenant("acme")
    store.grant("acme", "acme-credit")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": key}
    process = start_service_process(workspace, port, *options)
    try:
        wait_until_up(url, timeout=120, ready=True)
        X, _ = applicants(20)
        with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
            request_ids = [
                http.post(
                    "/v1/projects/acme-credit/predict",
                    json={"rows": X.iloc[[i]].to_dict("records")},
                ).json()["request_id"]
                for i in range(10)
            ]
        acknowledged: list[str] = []
        lock = threading.Lock()

        def send_feedback(worker: int) -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
                for n in range(100_000):
                    body = {"request_id": request_ids[(worker + n) % 10], "outcome": "default"}
                    try:
                        answer = http.post("/v1/feedback", json=body)
                    except httpx.TransportError:
                        return
                    if answer.status_code == 200:
                        with lock:
                            acknowledged.append(answer.json()["feedback_id"])

        workers = [threading.Thread(target=send_feedback, args=(w,)) for w in range(4)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        for worker in workers:
            worker.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert len(acknowledged) >= 40

    restarted = start_service_process(workspace, port, *options)
    try:
        wait_until_up(url, timeout=120, ready=True)
        with store._read() as session:
            stored = set(session.scalars(select(FeedbackRow.feedback_id)))
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged feedback events lost"
        with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
            again = http.post(
                "/v1/feedback", json={"request_id": request_ids[0], "outcome": "default"}
            )
        assert again.status_code == 200, again.text
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)
