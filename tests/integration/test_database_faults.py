"""The fault suite's database part (issue 28): the workspace database read-only or full, the
PostgreSQL registry restarted under load, and kill -9 of the service during a hot swap and of a
registry writer mid-write. Each test states the promise it checks; all use real service
processes (or a real uvicorn server) and real databases. The kill -9 during a feedback load is
``test_serve_process.py::test_kill_9_during_feedback_load_loses_no_acknowledged_event``."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest

from tailorkit.registry.store import DATABASE_FILE
from tailorkit.serve.app import ServiceSettings, create_app
from tests.conftest import _postgres_binaries
from tests.fault_helpers import (
    Load,
    ServiceProcess,
    assert_database_error,
    can_drop_dac_override,
    make_workspace,
    stored_feedback,
)
from tests.serving_helpers import ThreadServer, eventually, fit_credit_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return fit_credit_model(tmp_path_factory.mktemp("fault-model") / "model", "lightgbm")


# ----------------------------------------------------------------------------- SQLite
@pytest.mark.parametrize("folder_too", [False, True], ids=["file", "file-and-folder"])
def test_read_only_database_stays_up_answers_503_for_writes_and_recovers(
    tmp_path, model, folder_too
):
    """Promise: with the workspace's SQLite file read-only (chmod 0444), and also its folder
    (0555, so SQLite cannot create its -wal and -shm files and cannot even read), the service
    starts and stays up; predictions answer 200 where the database can be read (they write
    nothing on the request path), else a 503 naming the database; feedback answers a 503 naming
    the database (never a 200 for a write that was not committed, never a 500); once the
    files are writable again both answer 200 without a restart and the feedback is stored."""
    if not can_drop_dac_override():
        pytest.skip("running as root without CAP_SETPCAP: file modes cannot bind the service")
    workspace, key = make_workspace(tmp_path / ".tailorkit", model)
    database = workspace / DATABASE_FILE
    assert sorted(p.name for p in workspace.iterdir()) == ["artifacts", DATABASE_FILE]
    database.chmod(0o444)
    if folder_too:
        workspace.chmod(0o555)
    try:
        with ServiceProcess(workspace, key, bound_by_file_modes=True) as service:
            answers = [service.predict() for _ in range(3)]
            if folder_too:
                for answer in answers:
                    assert_database_error(answer, DATABASE_FILE)
            else:
                assert [a.status_code for a in answers] == [200] * 3, answers[-1].text
                assert_database_error(
                    service.feedback(answers[0].json()["request_id"]), DATABASE_FILE
                )
            assert service.process.poll() is None
            database.chmod(0o644)
            workspace.chmod(0o755)
            answered = eventually(lambda: (a := service.predict()).status_code == 200 and a)
            request_id = answered.json()["request_id"]
            stored = eventually(
                lambda: (a := service.feedback(request_id)).status_code == 200 and a
            )
    finally:
        database.chmod(0o644)
        workspace.chmod(0o755)
    assert stored.json()["feedback_id"] in stored_feedback(workspace)


def test_full_database_serves_predictions_refuses_feedback_and_recovers(tmp_path, model):
    """Promise: when the database cannot grow (the running service's file-size limit set to
    0 bytes with prlimit, so every write of a file fails as on a full disk) predictions still
    answer 200, feedback answers a 503 naming the database and is not acknowledged, the service
    stays up, and once space is back feedback is stored again; no acknowledged event is lost."""
    workspace, key = make_workspace(tmp_path / ".tailorkit", model)
    acknowledged = []
    with ServiceProcess(workspace, key) as service:
        request_id = service.predict().json()["request_id"]
        first = service.feedback(request_id)
        assert first.status_code == 200, first.text
        acknowledged.append(first.json()["feedback_id"])
        hard = resource.prlimit(service.process.pid, resource.RLIMIT_FSIZE)[1]
        resource.prlimit(service.process.pid, resource.RLIMIT_FSIZE, (0, hard))
        try:
            during = [service.predict() for _ in range(5)]
            assert [a.status_code for a in during] == [200] * 5, during[-1].text
            for _ in range(3):
                assert_database_error(service.feedback(request_id), DATABASE_FILE)
            assert service.process.poll() is None
        finally:
            resource.prlimit(service.process.pid, resource.RLIMIT_FSIZE, (hard, hard))
        for answer in during[:2]:
            stored = eventually(
                lambda a=answer: (
                    (f := service.feedback(a.json()["request_id"])).status_code == 200 and f
                )
            )
            acknowledged.append(stored.json()["feedback_id"])
        assert service.predict().status_code == 200
    assert set(acknowledged) <= stored_feedback(workspace)


# ----------------------------------------------------------------------------- PostgreSQL
def restart_postgres(url: str) -> None:
    """``pg_ctl restart -m fast`` of the ``postgres_url`` fixture's server (its folder is the
    URL's socket host): open connections are cut, the server is down for a moment."""
    folder = Path(url.split("host=")[1].split("&")[0])
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    pg_ctl = str(_postgres_binaries() / "pg_ctl")
    subprocess.run(
        [*as_user, pg_ctl, "-D", str(folder / "data"), "-l", str(folder / "log"), "-m", "fast"]
        + ["-w", "restart"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_postgres_restart_under_load_fails_cleanly_and_recovers(postgres_url, tmp_path, model):
    """Promise: when the PostgreSQL server restarts under load, every request answers, with
    200 or a clean 503 naming the database (no 500, none hangs: each within the client's 15 s
    timeout); the service recovers by itself (stale pooled connections are replaced), and no
    acknowledged feedback event is lost."""
    workspace, key = make_workspace(tmp_path / ".tailorkit", model, postgres_url)
    settings = ServiceSettings(
        workspace=workspace, db_url=postgres_url, poll_interval=0.2, cache_seconds=0.05
    )
    with ThreadServer(create_app(settings)) as server, Load(server.url, key) as load:
        eventually(lambda: len(load.acknowledged) >= 20, timeout=60)
        restart_postgres(postgres_url)
        after = len(load.statuses)
        eventually(lambda: 200 in load.statuses[after + 20 :], timeout=60)
        acknowledged_before = len(load.acknowledged)
        eventually(lambda: len(load.acknowledged) >= acknowledged_before + 20, timeout=60)
    assert not load.failures, load.failures[:3]
    unexpected = {status for status in load.statuses if status not in (200, 503)}
    assert not unexpected, f"statuses other than 200 and 503 during the restart: {unexpected}"
    lost = set(load.acknowledged) - stored_feedback(workspace, postgres_url)
    assert not lost, f"{len(lost)} acknowledged feedback events lost"
