"""The fault suite's kill -9 part (issue 28): the service killed during a hot swap, and a
registry writer killed mid-write. Each test states the promise it checks; real service
processes, real SQLite. (The service killed during a feedback load: ``test_serve_process.py``.)"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tailorkit.registry import Registry
from tailorkit.registry.artifacts import ARTIFACTS_FOLDER, files_of
from tailorkit.registry.integrity import manifest_of, manifest_sha
from tailorkit.registry.tables import AliasRow, ModelVersionRow
from tests.fault_helpers import PROJECT, Load, ServiceProcess, make_workspace, stored_feedback
from tests.serving_helpers import eventually, fit_credit_model

pytestmark = pytest.mark.slow

# Registers copies of a model folder (each with a fresh 4 MB file, so that copying the artifact
# takes a while) and points champion at each new version, printing the version, forever.
WRITER = """
import os, shutil, sys
from pathlib import Path
from tailorkit.registry import Registry
workspace, model = Path(sys.argv[1]), Path(sys.argv[2])
registry = Registry(workspace)
while True:
    folder = workspace.parent / f"candidate-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(model, folder)
    (folder / "padding.bin").write_bytes(os.urandom(4 << 20))
    version = registry.register_model("acme-credit", folder, family="lightgbm").version
    registry.set_alias("acme-credit", "champion", version)
    print(version, flush=True)
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("kill-models")
    return [fit_credit_model(root / f"v{seed}", "lightgbm", seed=seed) for seed in (1, 2)]


def check_registry_consistent(workspace: Path) -> dict[str, int]:
    """Every version row has its artifact folder with exactly the content of its hash, and
    every alias names a registered version; returns the aliases."""
    registry = Registry(workspace)
    try:
        with registry._read() as session:
            versions = {row.version: row for row in session.scalars(select(ModelVersionRow))}
            aliases = {row.alias: row.version for row in session.scalars(select(AliasRow))}
    finally:
        registry.close()
    for number, row in versions.items():
        folder = workspace / row.artifact_uri
        assert folder.is_dir(), f"version {number} has no artifact folder"
        sha = manifest_sha(manifest_of(folder, files_of(folder)))
        assert sha == row.artifact_sha, f"version {number}"
    assert set(aliases.values()) <= set(versions), aliases
    return aliases


def test_kill_9_during_hot_swap_leaves_a_consistent_registry_and_a_working_restart(
    tmp_path, models
):
    """Promise: a kill -9 of the service at any moment of a hot swap (right after the alias
    move, while the new version loads, after the switch) loses no acknowledged feedback, and
    the restarted service starts and answers with the version the alias names."""
    workspace, key = make_workspace(tmp_path / ".tailorkit", models[0])
    registry = Registry(workspace)
    second = registry.register_model(PROJECT, models[1], family="lightgbm").version
    acknowledged: list[str] = []
    targets = [(second, 0.0), (1, 0.15), (second, None)]  # None: kill once the switch answers
    for target, delay in targets:
        with ServiceProcess(workspace, key) as service, Load(service.url, key) as load:
            eventually(lambda: len(load.acknowledged) >= 10, timeout=60)  # noqa: B023
            registry.set_alias(PROJECT, "champion", target)
            if delay is None:
                eventually(lambda: service.predict().json()["model_version"] == target)  # noqa: B023
            else:
                time.sleep(delay)
            service.kill_9()
        acknowledged += load.acknowledged
        assert check_registry_consistent(workspace)["champion"] == target
    with ServiceProcess(workspace, key) as service:
        answer = service.predict()
        assert answer.status_code == 200 and answer.json()["model_version"] == second
    lost = set(acknowledged) - stored_feedback(workspace)
    assert not lost, f"{len(lost)} acknowledged feedback events lost"
    registry.close()


def test_kill_9_of_a_registry_writer_mid_write_leaves_the_registry_consistent(tmp_path, models):
    """Promise: a process registering versions and moving the alias, killed with -9 at any
    moment (copying the artifact, committing the version, moving the alias), leaves a
    consistent registry: no version row without its complete artifact files, no alias at a
    missing version; and the service then starts and answers with the alias's version."""
    workspace, key = make_workspace(tmp_path / ".tailorkit", models[0])
    chance = random.Random(28)
    for _trial in range(4):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(workspace), str(models[1])],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            writer.stdout.readline()  # one version written: the loop is at full speed
            time.sleep(chance.uniform(0.0, 0.3))
            os.kill(writer.pid, signal.SIGKILL)
        finally:
            writer.kill()
            writer.wait(timeout=30)
        aliases = check_registry_consistent(workspace)
    staging = [p.name for p in (workspace / ARTIFACTS_FOLDER).iterdir() if p.name.startswith(".")]
    print(f"staging folders left by the kills: {len(staging)}")
    with ServiceProcess(workspace, key) as service:
        answer = service.predict()
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == aliases["champion"]
