"""Retention of the served-request log: records older than the window go (the service's sweep
with ``request_log_days``, ``tailorkit requests compact`` on demand); those that feedback
references or that are exposures of a running experiment stay; a dry run deletes nothing; a
bad ``--older-than`` is a usage error naming the option."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tailorkit.registry import Registry
from tailorkit.serve import request_retention
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import Arm, EventStore
from tests.conftest import tk
from tests.serving_helpers import ThreadServer, eventually, fit_credit_model

PROJECT = "acme-credit"
OLD = timedelta(days=40)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return fit_credit_model(tmp_path_factory.mktemp("model"), "logistic")


@pytest.fixture
def workspace(model, tmp_path) -> Path:
    folder = tmp_path / ".tailorkit"
    store = EventStore(Registry(folder))
    fill(store, model)
    store.close()
    return folder


def fill(store: EventStore, model: Path) -> None:
    """Old records: plain, with feedback, exposures of a running and of a stopped experiment;
    and a recent one. Ids name them: ``old-plain``, ``old-feedback``, ``old-running``,
    ``old-stopped``, ``recent``."""
    registry = store.registry
    for project in (PROJECT, "other-credit"):
        registry.ensure_project(project, "credit_risk")
        for alias in ("champion", "challenger"):
            version = registry.register_model(project, model, family="logistic").version
            registry.set_alias(project, alias, version)
    arms = [Arm("champion", 0.5), Arm("challenger", 0.5)]
    stopped = store.create_experiment(PROJECT, arms)
    store.stop_experiment(stopped.id)
    running = store.create_experiment("other-credit", arms)
    now = datetime.now(timezone.utc)
    records = {
        "old-plain": (now - OLD, None),
        "old-feedback": (now - OLD, None),
        "old-running": (now - OLD, running.id),
        "old-stopped": (now - OLD, stopped.id),
        "recent": (now, None),
    }
    store.write_requests([record(name, at, eid) for name, (at, eid) in records.items()])
    store.add_feedback(
        {
            "feedback_id": "f" * 32,
            "request_id": request_id("old-feedback"),
            "tenant_id": 1,
            "project": PROJECT,
            "outcome": "default",
        }
    )


def request_id(name: str) -> str:
    return name.encode().hex().ljust(32, "0")[:32]


def record(name: str, at: datetime, experiment_id: int | None) -> dict:
    return {
        "request_id": request_id(name),
        "tenant_id": 1,
        "project": PROJECT,
        "endpoint": "predict",
        "alias": "champion",
        "model_version": 1,
        "experiment_id": experiment_id,
        "arm": "champion" if experiment_id else None,
        "unit_hash": None,
        "n_rows": 1,
        "outputs_json": "[]",
        "shadow_json": None,
        "latency_ms": 1.0,
        "at": at,
    }


def remaining(workspace: Path, url: str | None = None) -> set[str]:
    store = EventStore(Registry(workspace, url=url))
    try:
        names = ("old-plain", "old-feedback", "old-running", "old-stopped", "recent")
        return {n for n in names if store.count("requests", request_id=request_id(n))}
    finally:
        store.close()


KEPT = {"old-feedback", "old-running", "recent"}


def test_compact_deletes_old_unreferenced_records_and_dry_run_deletes_none(workspace):
    folder = workspace.parent
    command = ("requests", "compact", "--older-than", "30d", "--workspace", str(workspace))
    dry = tk(folder, *command, "--dry-run")
    assert "would delete 2 served-request record(s)" in dry.stdout, dry.stdout
    assert "kept 2" in dry.stdout
    assert len(remaining(workspace)) == 5
    done = tk(folder, *command)
    assert "deleted 2 served-request record(s)" in done.stdout, done.stdout
    assert remaining(workspace) == KEPT
    assert "deleted 0" in tk(folder, *command).stdout  # nothing left to delete


@pytest.mark.parametrize("age", ["30", "30x", "-3d", "thirty days"])
def test_a_bad_older_than_is_a_usage_error_naming_the_option(workspace, age):
    done = tk(workspace.parent, "requests", "compact", "--older-than", age, ok=False)
    assert done.returncode == 2
    assert "--older-than" in done.stderr and "30d" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert len(remaining(workspace)) == 5


def test_the_service_sweeps_records_older_than_request_log_days(workspace):
    settings = ServiceSettings(workspace=workspace, poll_interval=0, request_log_days=30)
    with ThreadServer(create_app(settings)):
        eventually(lambda: remaining(workspace) == KEPT)


def test_request_log_days_zero_keeps_every_record(workspace):
    settings = ServiceSettings(workspace=workspace, poll_interval=0, request_log_days=0)
    with ThreadServer(create_app(settings)) as server:
        service = server.server.config.app.state.service
        sweeps = [t for t in service.background if "sweep" in t.get_coro().__qualname__]
        assert not sweeps  # no retention sweep was started
    assert len(remaining(workspace)) == 5


def sweep_in_batches_of_one(store: EventStore, before: datetime) -> int:
    """A sweep one record per batch: the cursor must step over records of the same time."""
    deleted, cursor, batches = 0, None, 0
    while batches == 0 or cursor is not None:
        count, cursor = request_retention.delete_expired(store._database, before, cursor, 1)
        deleted, batches = deleted + count, batches + 1
    return deleted


def test_a_sweep_steps_over_kept_records_of_the_same_time(workspace):
    store = EventStore(Registry(workspace))
    before = datetime.now(timezone.utc) - timedelta(days=30)
    assert sweep_in_batches_of_one(store, before) == 2  # the four old records share a time
    assert remaining(workspace) == KEPT
    store.close()


def test_compaction_on_postgresql(postgres_url, model, tmp_path):
    workspace = tmp_path / ".tailorkit"
    store = EventStore(Registry(workspace, url=postgres_url))
    fill(store, model)
    before = datetime.now(timezone.utc) - timedelta(days=30)
    dry = store.compact_requests(before, dry_run=True)
    assert (dry.deleted, dry.kept) == (2, 2)
    assert len(remaining(workspace, postgres_url)) == 5
    assert sweep_in_batches_of_one(store, before) == 2
    assert remaining(workspace, postgres_url) == KEPT
    assert store.compact_requests(before).deleted == 0
    store.close()
