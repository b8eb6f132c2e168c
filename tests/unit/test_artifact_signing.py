"""With a signing key (a file outside the workspace), artifacts are signed at registration and
a version whose signature is missing or wrong is refused, even when its files were edited
together with the recorded manifest and SHA; without a key only the hashes are checked."""

from __future__ import annotations

import json
import secrets
import sqlite3
from pathlib import Path

import pytest

from tailorkit.errors import RegistryError
from tailorkit.registry import Registry
from tailorkit.registry.integrity import ArtifactMismatch, folder_files, manifest_of, manifest_sha
from tailorkit.registry.signing import SIGNING_KEY_ENV
from tests.unit.test_artifact_integrity import PROJECT, model_dir


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "signing.key"
    path.parent.mkdir()
    path.write_text(secrets.token_hex(32))
    return path


def workspace_registry(tmp_path: Path, key_file: Path | None) -> Registry:
    registry = Registry(tmp_path / "ws", signing_key_file=key_file)
    registry.ensure_project(PROJECT, "credit_risk")
    return registry


def forge(registry: Registry, version) -> None:
    """Edit a file and everything that records it: the manifest row, the artifact's SHA (and
    folder name) and the version's reference, keeping the old signature: all hashes match."""
    folder = version.path
    (folder / "decision.json").write_text('{"threshold": 0.99}')
    manifest = manifest_of(folder, folder_files(folder))
    sha = manifest_sha(manifest)
    folder.rename(folder.with_name(sha))
    with sqlite3.connect(registry.workspace / "tailorkit.db") as connection:
        connection.execute(
            "INSERT INTO artifacts (sha, manifest_json, signature, created_at) SELECT ?, ?, "
            "signature, created_at FROM artifacts WHERE sha = ?",
            (sha, json.dumps(manifest), version.artifact_sha),
        )
        connection.execute(
            "UPDATE model_versions SET artifact_sha = ?, artifact_uri = ? WHERE artifact_sha = ?",
            (sha, f"artifacts/{sha}", version.artifact_sha),
        )


def test_a_signed_artifact_verifies(tmp_path, key_file):
    registry = workspace_registry(tmp_path, key_file)
    registry.register_model(PROJECT, model_dir(tmp_path / "m"), family="gbm")
    assert registry.resolve(f"{PROJECT}:1", verify=True).version == 1
    with sqlite3.connect(registry.workspace / "tailorkit.db") as connection:
        (signature,) = connection.execute("SELECT signature FROM artifacts").fetchone()
    assert len(signature) == 64 and registry.artifact_events() == []


def test_files_edited_with_their_manifest_pass_the_hashes_but_not_the_signature(tmp_path, key_file):
    registry = workspace_registry(tmp_path, key_file)
    forge(registry, registry.register_model(PROJECT, model_dir(tmp_path / "m"), family="gbm"))
    Registry(tmp_path / "ws").resolve(f"{PROJECT}:1", verify=True)  # no key: the hashes match
    with pytest.raises(ArtifactMismatch, match=f"{PROJECT}:1 has a signature"):
        registry.resolve(f"{PROJECT}:1", verify=True, actor="tester")
    (event,) = registry.artifact_events(PROJECT)
    assert "signature" in event["problem"] and event["actor"] == "tester"
    with pytest.raises(ArtifactMismatch, match="signature"):  # sign does not bless a forgery
        registry.sign(registry.resolve(f"{PROJECT}:1"))


def test_without_a_key_only_hashes_are_checked_and_sign_adds_the_signature(tmp_path, key_file):
    unsigned = workspace_registry(tmp_path, None)
    unsigned.register_model(PROJECT, model_dir(tmp_path / "m"), family="gbm")
    unsigned.resolve(f"{PROJECT}:1", verify=True)
    keyed = Registry(tmp_path / "ws", signing_key_file=key_file)
    with pytest.raises(ArtifactMismatch, match="is not signed"):
        keyed.resolve(f"{PROJECT}:1", verify=True)
    version = keyed.resolve(f"{PROJECT}:1")
    assert keyed.sign(version) and not keyed.sign(version)  # signed once
    keyed.resolve(f"{PROJECT}:1", verify=True)
    (version.path / "decision.json").write_text('{"threshold": 0.9}')
    with pytest.raises(ArtifactMismatch, match="decision.json"):
        keyed.sign(version)  # a changed file is never signed


def test_the_key_comes_from_the_environment_and_must_live_outside_the_workspace(
    tmp_path, key_file, monkeypatch
):
    monkeypatch.setenv(SIGNING_KEY_ENV, str(key_file))
    registry = workspace_registry(tmp_path, None)
    registry.register_model(PROJECT, model_dir(tmp_path / "m"), family="gbm")
    other_key = tmp_path / "other.key"
    other_key.write_text(secrets.token_hex(32))
    with pytest.raises(ArtifactMismatch, match="signature"):
        Registry(tmp_path / "ws", signing_key_file=other_key).resolve(PROJECT, verify=True)
    inside = tmp_path / "ws" / "signing.key"
    inside.write_text(secrets.token_hex(32))
    with pytest.raises(RegistryError, match="inside the workspace"):
        Registry(tmp_path / "ws", signing_key_file=inside)
    short = tmp_path / "short.key"
    short.write_text("tooshort")
    with pytest.raises(RegistryError, match="fewer than 32"):
        Registry(tmp_path / "ws", signing_key_file=short)
    with pytest.raises(RegistryError, match="does not exist"):
        Registry(tmp_path / "ws", signing_key_file=tmp_path / "nope.key")
