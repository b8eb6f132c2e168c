"""The fault suite's database part (issue 28): the workspace database read-only or full, the
PostgreSQL registry restarted under load, and kill -9 of the service during a hot swap and of a
registry writer mid-write. Each test states the promise it checks; all use real service
processes (or a real uvicorn server) and real databases. The kill -9 during a feedback load is
``test_serve_process.py::test_kill_9_during_feedback_load_loses_no_acknowledged_event``."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tailorkit.registry import Registry
from tailorkit.registry.store import DATABASE_FILE
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import EventStore, FeedbackRow
from tests.conftest import _postgres_binaries
from tests.serving_helpers import (
    ThreadServer,
    applicants,
    eventually,
    fit_credit_model,
    free_port,
    register_folder,
    wait_until_up,
)

pytestmark = pytest.mark.slow

PROJECT = "acme-credit"
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_SETPCAP = 24, 1, 8


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return fit_credit_model(tmp_path_factory.mktemp("fault-model") / "model", "lightgbm")


def make_workspace(folder: Path, model: Path, url: str | None = None) -> tuple[Path, str]:
    """A workspace serving ``model`` as acme-credit@champion to tenant acme; returns its key."""
    if url is None:
        register_folder(folder, PROJECT, model, "champion")
        registry = Registry(folder)
    else:
        registry = Registry(folder, url=url)
        registry.ensure_project(PROJECT, "credit_risk")
        registry.set_alias(
            PROJECT, "champion", registry.register_model(PROJECT, model, family="lightgbm").version
        )
    store = EventStore(registry)
    key = store.create_tenant("acme")
    store.grant("acme", PROJECT)
    store.close()
    registry.close()
    return folder, key


class ServiceProcess:
    """``tailorkit serve`` as a child process, its log in a file (a pipe nobody reads could
    fill and stall it); ``bound_by_file_modes``: as root, without CAP_DAC_OVERRIDE."""

    def __init__(self, workspace: Path, key: str, *, bound_by_file_modes: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workspace.parent / f"serve-{self.port}.log"
        command = [sys.executable, "-m", "tailorkit", "serve", "--workspace", str(workspace)]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port), "--log-level", "warning", "--poll", "0.2"],
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=_drop_dac_override if bound_by_file_modes else None,
            )
        self.http = httpx.Client(base_url=self.url, headers={"X-API-Key": key}, timeout=15)

    def __enter__(self) -> ServiceProcess:
        try:
            wait_until_up(self.url, timeout=120)
        except TimeoutError:
            raise AssertionError(f"service did not start: {self.log.read_text()[-3000:]}") from None
        return self

    def __exit__(self, *_exc) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def kill_9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def predict(self, n: int = 1) -> httpx.Response:
        rows = json.loads(applicants(20)[0].head(n).to_json(orient="records"))
        return self.http.post(f"/v1/projects/{PROJECT}/predict", json={"rows": rows})

    def feedback(self, request_id: str) -> httpx.Response:
        return self.http.post("/v1/feedback", json={"request_id": request_id, "outcome": "default"})


def _drop_dac_override() -> None:
    """In the child before exec: drop CAP_DAC_OVERRIDE from the bounding set, so that root
    after exec obeys file modes like any user (the read-only test as root)."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE)")


def _can_drop_dac_override() -> bool:
    if os.geteuid() != 0:
        return True
    status = Path("/proc/self/status").read_text()
    effective = int(
        next(line for line in status.splitlines() if line.startswith("CapEff")).split()[1], 16
    )
    return bool(effective >> CAP_SETPCAP & 1)


def stored_feedback(workspace: Path, url: str | None = None) -> set[str]:
    registry = Registry(workspace, url=url)
    store = EventStore(registry)
    try:
        with store._read() as session:
            return set(session.scalars(select(FeedbackRow.feedback_id)))
    finally:
        store.close()
        registry.close()


def assert_database_error(answer: httpx.Response, *names: str) -> None:
    """A clean 503 that names the database (never a 500, never a traceback)."""
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert "database" in error and all(name in error for name in names), error
    assert "Traceback" not in answer.text


# ----------------------------------------------------------------------------- SQLite
def test_read_only_database_file_serves_predictions_refuses_feedback_and_recovers(tmp_path, model):
    """Promise: with the workspace's SQLite file read-only (chmod 0444) the service starts and
    stays up, predictions (no write on the request path) still answer 200, feedback answers a
    503 naming the database (never a 200 for a write that was not committed, never a 500),
    and once the file is writable again feedback is stored without a restart."""
    if not _can_drop_dac_override():
        pytest.skip("running as root without CAP_SETPCAP: file modes cannot bind the service")
    workspace, key = make_workspace(tmp_path / ".tailorkit", model)
    database = workspace / DATABASE_FILE
    database.chmod(0o444)
    acknowledged = []
    try:
        with ServiceProcess(workspace, key, bound_by_file_modes=True) as service:
            answers = [service.predict() for _ in range(5)]
            assert [a.status_code for a in answers] == [200] * 5, answers[-1].text
            request_id = answers[0].json()["request_id"]
            assert_database_error(service.feedback(request_id), DATABASE_FILE)
            assert service.process.poll() is None
            database.chmod(0o644)
            again = eventually(lambda: (a := service.feedback(request_id)).status_code == 200 and a)
            acknowledged.append(again.json()["feedback_id"])
            assert service.predict().status_code == 200
    finally:
        database.chmod(0o644)
    assert set(acknowledged) <= stored_feedback(workspace)


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


class Load:
    """Threads sending predict then feedback for its answer until stopped, recording every
    status, every transport failure (a timeout is a hang) and every acknowledged feedback."""

    def __init__(self, url: str, key: str, threads: int = 4) -> None:
        self.url, self.key = url, key
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self.acknowledged: list[str] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._send) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _send(self) -> None:
        rows = json.loads(applicants(20)[0].head(1).to_json(orient="records"))
        headers = {"X-API-Key": self.key}
        with httpx.Client(base_url=self.url, headers=headers, timeout=15) as http:
            while not self.stopping.is_set():
                try:
                    answer = http.post(f"/v1/projects/{PROJECT}/predict", json={"rows": rows})
                    self.statuses.append(answer.status_code)
                    if answer.status_code != 200:
                        continue
                    body = {"request_id": answer.json()["request_id"], "outcome": "default"}
                    stored = http.post("/v1/feedback", json=body)
                    self.statuses.append(stored.status_code)
                    if stored.status_code == 200:
                        self.acknowledged.append(stored.json()["feedback_id"])
                except httpx.TransportError as error:
                    self.failures.append(f"{type(error).__name__}: {error}")


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
