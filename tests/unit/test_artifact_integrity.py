"""Artifacts are checked against the per-file manifest recorded at registration: a changed,
missing or added file is named, recorded in the artifact audit log, and never loaded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tailorkit.registry import Registry
from tailorkit.registry.integrity import ArtifactMismatch

PROJECT = "credit"


def model_dir(folder: Path, content: str = "a") -> Path:
    (folder / "weights").mkdir(parents=True)
    (folder / "model.json").write_text(f'{{"family": "gbm", "content": "{content}"}}')
    (folder / "decision.json").write_text('{"threshold": 0.3}')
    (folder / "weights" / "booster.txt").write_text(f"tree {content}\n" * 50)
    return folder


@pytest.fixture
def registry(tmp_path: Path):
    registry = Registry(tmp_path / "ws")
    registry.ensure_project(PROJECT, "credit_risk")
    yield registry
    registry.close()


def registered(registry: Registry, tmp_path: Path):
    return registry.register_model(PROJECT, model_dir(tmp_path / "m"), family="gbm")


def test_an_unchanged_artifact_verifies(registry, tmp_path):
    version = registered(registry, tmp_path)
    registry.verify(version)
    assert registry.resolve(f"{PROJECT}:1", verify=True).version == 1
    assert registry.artifact_events(PROJECT) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda p: (p / "decision.json").write_text('{"threshold": 0.9}'), "decision.json"),
        (lambda p: (p / "weights" / "booster.txt").unlink(), "weights/booster.txt"),
        (lambda p: (p / "extra.py").write_text("print('hi')"), "extra.py"),
        (lambda p: _flip_one_bit(p / "weights" / "booster.txt"), "weights/booster.txt"),
    ],
    ids=["edited", "missing", "added", "bit-flipped"],
)
def test_a_changed_file_is_named_and_audited(registry, tmp_path, change, named):
    version = registered(registry, tmp_path)
    change(version.path)
    with pytest.raises(ArtifactMismatch, match=named) as raised:
        registry.resolve(f"{PROJECT}:1", verify=True, actor="tester")
    assert f"{PROJECT}:1" in str(raised.value) and str(tmp_path) not in str(raised.value)
    (event,) = registry.artifact_events(PROJECT)
    assert event["version"] == 1 and named in event["problem"] and event["actor"] == "tester"


def test_two_versions_sharing_content_each_verify(registry, tmp_path):
    first = registered(registry, tmp_path)
    second = registry.register_model(PROJECT, first.path, family="gbm")
    assert second.path == first.path
    registry.verify(second)


def test_a_workspace_of_schema_1_gains_the_manifest_tables(tmp_path):
    registry = Registry(tmp_path / "ws")
    registry.ensure_project(PROJECT, "credit_risk")
    version = registered(registry, tmp_path)
    registry.close()
    database = tmp_path / "ws" / "tailorkit.db"
    with sqlite3.connect(database) as connection:  # what a workspace of tailorkit 0.x holds
        connection.execute("DROP TABLE artifacts")
        connection.execute("DROP TABLE artifact_events")
        connection.execute("DELETE FROM schema_version")
        connection.execute("INSERT INTO schema_version VALUES (1)")
    reopened = Registry(tmp_path / "ws")
    reopened.verify(version)  # no manifest: the whole folder is checked against its SHA
    (version.path / "decision.json").write_text('{"threshold": 0.9}')
    with pytest.raises(ArtifactMismatch, match="registered before per-file manifests"):
        reopened.verify(version)
    assert len(reopened.artifact_events(PROJECT)) == 1


def _flip_one_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
