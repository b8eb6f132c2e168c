"""Optional signatures of artifacts: HMAC-SHA256 of the artifact's SHA (the digest of its
per-file manifest) with a key kept outside the workspace.

``TAILORKIT_SIGNING_KEY_FILE`` (or ``Registry(signing_key_file=...)``) names the key file: at
least 32 bytes, e.g. ``openssl rand -hex 32``. While a key is configured, registration signs
each artifact and loading refuses one whose signature is missing or wrong, so files edited
together with their manifest (and the recorded SHA) are still caught. A key inside the
workspace folder is refused: a copy of the workspace would carry it, and whoever altered the
copy could re-sign it. Without a key, only the hashes are checked.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from tailorkit.errors import RegistryError
from tailorkit.registry.integrity import ArtifactMismatch

SIGNING_KEY_ENV = "TAILORKIT_SIGNING_KEY_FILE"
MIN_KEY_BYTES = 32
_PURPOSE = b"tailorkit:artifact-signature"


def signing_key(workspace: Path, key_file: str | Path | None = None) -> bytes | None:
    """The key that signs artifacts (derived from the key file's bytes), or None when neither
    ``key_file`` nor ``TAILORKIT_SIGNING_KEY_FILE`` names one."""
    named = key_file or os.environ.get(SIGNING_KEY_ENV)
    if not named:
        return None
    path = Path(named).expanduser().resolve()
    source = f"signing key file {path} ({SIGNING_KEY_ENV})"
    if not path.is_file():
        raise RegistryError(f"{source} does not exist or is not a file")
    if path.is_relative_to(Path(workspace).resolve()):
        raise RegistryError(
            f"{source} is inside the workspace {workspace}: a copy of the workspace would carry "
            f"the key; keep it outside (e.g. ~/.config/tailorkit/signing.key)"
        )
    key = path.read_bytes().strip()
    if len(key) < MIN_KEY_BYTES:
        raise RegistryError(
            f"{source} holds {len(key)} bytes, fewer than {MIN_KEY_BYTES}; make one with "
            f"`openssl rand -hex 32 > {path}`"
        )
    return hmac.new(key, _PURPOSE, hashlib.sha256).digest()


def signature_of(key: bytes, sha: str) -> str:
    """The hex HMAC-SHA256 of an artifact's SHA."""
    return hmac.new(key, sha.encode(), hashlib.sha256).hexdigest()


def check_signature(key: bytes, sha: str, signature: str | None, name: str) -> None:
    """Raise ``ArtifactMismatch`` unless ``signature`` is the key's signature of ``sha``."""
    if signature is None:
        raise ArtifactMismatch(
            f"artifact of {name} is not signed and a signing key is configured "
            f"({SIGNING_KEY_ENV}); refusing to load it (check and sign it: tailorkit sign)"
        )
    if not hmac.compare_digest(signature, signature_of(key, sha)):
        raise ArtifactMismatch(
            f"artifact of {name} has a signature that the signing key did not make (its files "
            f"or recorded manifest were altered, or it was signed with another key); refusing "
            f"to load it"
        )
