"""The workspace's secret: 32 random bytes in ``<workspace>/secret.key`` (mode 0600), made
once by the first process that needs it. Each use gets its own key derived from it (HMAC-SHA256
of the purpose), so e.g. hashing unit ids and signing artifacts never share a key.

Anyone who can read the file can recompute the keys: a copy of the workspace folder that
includes it reveals them; keep it out of shared copies and back it up with the database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from tailorkit.errors import RegistryError

SECRET_FILE = "secret.key"
SECRET_BYTES = 32


def workspace_secret(workspace: str | Path, purpose: str) -> bytes:
    """The 32-byte key of ``purpose`` (e.g. ``"unit-id"``) in ``workspace``: the same for every
    process and restart, different for every purpose and every workspace."""
    master = _read_or_create(Path(workspace) / SECRET_FILE)
    return hmac.new(master, f"tailorkit:{purpose}".encode(), hashlib.sha256).digest()


def _read_or_create(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(SECRET_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, path)  # atomic, and never replaces a secret another process made
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    secret = path.read_bytes()
    if len(secret) != SECRET_BYTES:
        raise RegistryError(
            f"{path}: the workspace secret is damaged ({len(secret)} bytes, expected "
            f"{SECRET_BYTES}); restore it from a backup (a new one changes every unit hash)"
        )
    return secret
