"""Unit ids are stored as an HMAC under a per-workspace secret: not reversible by hashing
guesses, the same after a restart (A/B exposure stays sticky), different between workspaces."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from tailorkit.errors import RegistryError
from tailorkit.registry import Registry
from tailorkit.serve.events import Arm, EventStore
from tailorkit.serve.records import Experiment


def _stored_hash(workspace: Path, unit_id: str) -> str:
    store = EventStore(Registry(workspace))
    try:
        return store.unit_hash(unit_id)
    finally:
        store.close()
        store.registry.close()


def test_unit_hash_needs_the_workspace_secret(tmp_path: Path):
    first = _stored_hash(tmp_path / "a", "42")
    assert first == _stored_hash(tmp_path / "a", "42")  # restart: the same stored form
    assert first != _stored_hash(tmp_path / "b", "42")  # another workspace, another secret
    guesses = {hashlib.sha256(f"{p}42".encode()).hexdigest() for p in ("", "tailorkit-unit:")}
    assert first not in guesses  # a low-entropy id cannot be found by hashing guesses
    secret = tmp_path / "a" / "secret.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_bytes()) == 32


def test_a_damaged_secret_is_a_clear_error(tmp_path: Path):
    _stored_hash(tmp_path, "42")
    (tmp_path / "secret.key").write_bytes(b"short")
    with pytest.raises(RegistryError, match="secret.key: the workspace secret is damaged"):
        _stored_hash(tmp_path, "42")


def test_assignment_is_sticky_and_does_not_depend_on_the_secret(tmp_path: Path):
    arms = (Arm("champion", 0.5), Arm("challenger", 0.5))
    experiment = Experiment(7, "p", "ab", "split", arms, "running", None, None)  # type: ignore[arg-type]
    before = [experiment.assign(str(unit)).alias for unit in range(200)]
    (tmp_path / "secret.key").unlink(missing_ok=True)
    assert [experiment.assign(str(unit)).alias for unit in range(200)] == before
    assert 60 < before.count("champion") < 140
