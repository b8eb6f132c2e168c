"""API keys of tenants and operators: ``<prefix>_<key id>_<secret>``, shown once.

Only the key id, a random salt and HMAC-SHA256(salt, secret) are stored; a presented key is
looked up by its id and its secret compared in constant time. The prefix says whose key it
is: ``tk`` a tenant's (scoring, feedback), ``tko`` an operator's (``/metrics``, readiness
details), so neither kind can pass for the other.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from tailorkit.errors import TailorkitError
from tailorkit.registry.refs import NAME_PATTERN

TENANT_PREFIX = "tk"
OPERATOR_PREFIX = "tko"


@dataclass(frozen=True)
class IssuedKey:
    """A new key: the text handed out once, and the columns stored for it."""

    text: str
    key_id: str
    key_salt: str
    key_hash: str

    def columns(self) -> dict[str, str]:
        return {"key_id": self.key_id, "key_salt": self.key_salt, "key_hash": self.key_hash}


def issue_key(prefix: str) -> IssuedKey:
    """A fresh random key with ``prefix``."""
    key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(24), secrets.token_hex(16)
    return IssuedKey(f"{prefix}_{key_id}_{secret}", key_id, salt, _digest(salt, secret))


def split_key(text: str, prefix: str) -> tuple[str, str] | None:
    """(key id, secret) of a key with ``prefix``; None for any other text."""
    parts = text.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix:
        return None
    return parts[1], parts[2]


def key_matches(key_salt: str, key_hash: str, secret: str) -> bool:
    """Whether ``secret`` is the one stored as (salt, hash); constant-time."""
    return hmac.compare_digest(key_hash, _digest(key_salt, secret))


def check_holder_name(name: str, kind: str) -> None:
    """A tenant's or operator's name: letters, digits, '-' or '.' (it is no part of a key)."""
    if not NAME_PATTERN.fullmatch(name) or "_" in name or len(name) > 100:
        raise TailorkitError(
            f"{kind} name {name!r} is invalid; use letters, digits, '-' or '.' (e.g. acme)"
        )


def _digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()
