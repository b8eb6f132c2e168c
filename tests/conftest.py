"""Shared fixtures: small simulated credit data, fast project specs, the CLI in a subprocess
(``tk``), and a real PostgreSQL server (``postgres_url``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import settings

from tailorkit.data.simulators.applicants import simulate_applicants

# property tests: the same examples on every run and no per-example deadline (a shared CI
# machine is slow at times; a deadline would make a pass depend on the load)
settings.register_profile("tailorkit", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("tailorkit")

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY_FT = {"d_token": 8, "n_blocks": 1, "max_epochs": 3, "pretrain_epochs": 2}


@pytest.fixture
def applicants_csv(tmp_path: Path) -> Path:
    path = tmp_path / "applications.csv"
    simulate_applicants(600, random_state=1).to_csv(path, index=False)
    return path


def write_spec(folder: Path, **changes) -> Path:
    """A fast credit-risk spec in ``folder``; keyword arguments replace top-level keys."""
    spec = {
        "name": "acme-credit",
        "solution": "credit_risk",
        "data": {"train": "applications.csv", "key": "application_id"},
        "target": "default",
        "features": {"protected": ["sex"]},
        "models": ["logistic", "lightgbm"],
        "evaluation": {"folds": 3, "bootstrap": 100},
        "requirements": ["auc >= 0.6", "demographic_parity_difference[sex] <= 0.5"],
    }
    spec.update(changes)
    path = folder / "tailorkit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def project_dir(tmp_path: Path, applicants_csv: Path) -> Path:
    write_spec(tmp_path)
    return tmp_path


def tk(
    folder: Path, *args: str, ok: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess:
    """``tailorkit *args`` in a real subprocess run in ``folder`` (the one CLI helper of the
    tests); ``ok``: it must exit 0."""
    done = subprocess.run(
        [sys.executable, "-m", "tailorkit", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server in a temporary folder (unix socket), with two databases."""
    binaries = _postgres_binaries()
    if binaries is None:
        if os.environ.get("TAILORKIT_REQUIRE_POSTGRES"):  # set by .ci/run: never skip there
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    initdb = str(binaries / "initdb")
    folder = Path(tempfile.mkdtemp(prefix="tailorkit-pg-"))  # reachable by the postgres user
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        folder.chmod(0o777)
    data, port = folder / "data", _free_port()
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "tk"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=''"
    pg_ctl = [*as_user, str(binaries / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        [*pg_ctl, "-o", options, "-l", str(folder / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        for database in ("tailorkit", "registry", "concurrency"):
            subprocess.run(
                [
                    *as_user,
                    str(binaries / "createdb"),
                    "-h",
                    str(folder),
                    "-p",
                    str(port),
                    "-U",
                    "tk",
                    database,
                ],
                check=True,
                capture_output=True,
            )
        yield f"postgresql+psycopg://tk@/tailorkit?host={folder}&port={port}"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _postgres_binaries() -> Path | None:
    """The folder of initdb, pg_ctl and createdb: on PATH, else Debian's versioned folder."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    version = lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0  # noqa: E731
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    return debian[-1].parent if debian else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
