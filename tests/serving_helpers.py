"""Helpers for the serving tests: tiny registered credit models and a real uvicorn server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from tailorkit.data.simulators.applicants import simulate_applicants
from tailorkit.models import make_model
from tailorkit.registry import Registry
from tailorkit.solutions.credit_risk.predict import DECISION_FILE

TINY_PARAMS = {
    "lightgbm": {"n_estimators": 30},
    "logistic": {},
    "ft_transformer": {"d_token": 8, "n_blocks": 1, "max_epochs": 3, "pretrain_epochs": 1},
}
FEATURES = [
    "income",
    "loan_amount",
    "duration_months",
    "debt_to_income",
    "late_payments",
    "employment_years",
    "housing",
    "purpose",
    "region",
]


def applicants(n: int = 400, seed: int = 1):
    frame = simulate_applicants(n, random_state=seed)
    return frame[FEATURES], frame["default"].to_numpy()


def fit_credit_model(
    folder: Path, family: str = "lightgbm", seed: int = 1, shuffled: bool = False
) -> Path:
    """Fit a small credit model on simulated applicants and save it with its decision file
    (``shuffled``: on permuted labels, a deliberately bad model)."""
    X, y = applicants(seed=seed)
    if shuffled:
        y = np.random.default_rng(seed).permutation(y)
    params = dict(TINY_PARAMS.get(family, {}))
    if family != "logistic":
        params["random_state"] = seed
    model = make_model(family, **params).fit(X, y)
    model.save(folder)
    decision = {
        "project": "acme-credit",
        "solution": "credit_risk",
        "threshold": 0.3,
        "key": "application_id",
        "columns": FEATURES,
    }
    (folder / DECISION_FILE).write_text(json.dumps(decision))
    return folder


def register_folder(workspace: Path, project: str, folder: Path, alias: str | None = None) -> int:
    """Register a saved model folder under ``project``; returns the version."""
    registry = Registry(workspace)
    registry.ensure_project(project, "credit_risk")
    family = json.loads((folder / "model.json").read_text())["family"]
    version = registry.register_model(project, folder, family=family).version
    if alias:
        registry.set_alias(project, alias, version)
    return version


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadServer:
    """uvicorn on a free port in a background thread (a real HTTP server)."""

    def __init__(self, app) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        wait_until_up(self.url)
        return self

    def __exit__(self, *_exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_until_up(url: str, timeout: float = 60.0, ready: bool = False) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/{'readyz' if ready else 'healthz'}", timeout=1.0)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"service at {url} did not come up in {timeout} s")


def start_service_process(workspace: Path, port: int, *extra: str) -> subprocess.Popen:
    """``tailorkit serve`` in a subprocess (for kill -9 tests and the benchmark)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tailorkit",
            "serve",
            "--workspace",
            str(workspace),
            "--port",
            str(port),
            "--log-level",
            "warning",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def eventually(condition, timeout: float = 15.0, interval: float = 0.05):
    """Poll ``condition()`` until it returns something truthy (returned) or ``timeout``
    seconds pass (AssertionError): waiting for a state, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
