"""Helpers for the fault suite: a workspace served to one tenant, ``tailorkit serve`` as a
child process (killable with -9), and a predict-then-feedback load that records every answer."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from tailorkit.registry import Registry
from tailorkit.serve.events import EventStore, FeedbackRow
from tests.serving_helpers import applicants, free_port

PROJECT = "acme-credit"
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_SETPCAP = 24, 1, 8


def make_workspace(
    folder: Path, model: Path, url: str | None = None, family: str = "lightgbm"
) -> tuple[Path, str]:
    """A workspace serving ``model`` as acme-credit@champion to tenant acme; returns its key.
    Every connection is closed afterwards (SQLite then removes its -wal and -shm files)."""
    registry = Registry(folder, url=url)
    registry.ensure_project(PROJECT, "credit_risk")
    version = registry.register_model(PROJECT, model, family=family).version
    registry.set_alias(PROJECT, "champion", version)
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
        deadline = time.monotonic() + 120
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.__exit__()
        raise AssertionError(f"service did not start: {self.log.read_text()[-3000:]}")

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


def can_drop_dac_override() -> bool:
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
