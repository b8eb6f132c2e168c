"""Operators: whoever runs the service. An operator key (``tailorkit operators create``)
opens ``/metrics`` and the details of ``/readyz``, which name every tenant and project; it
opens no tenant route, and no tenant key opens these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from tailorkit.errors import RegistryError
from tailorkit.registry.convert import aware, now
from tailorkit.registry.engine import Database
from tailorkit.serve.api_keys import (
    OPERATOR_PREFIX,
    check_holder_name,
    issue_key,
    key_matches,
    split_key,
)
from tailorkit.serve.event_tables import OperatorRow


@dataclass(frozen=True)
class Operator:
    id: int
    name: str


class OperatorStore:
    """The operators of one workspace database and their keys (salted hashes only)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def create(self, name: str) -> str:
        """Add an operator; returns its key (shown once)."""
        check_holder_name(name, "operator")
        key = issue_key(OPERATOR_PREFIX)
        with self._database.write() as session:
            if session.scalar(select(OperatorRow.id).where(OperatorRow.name == name)):
                raise RegistryError(
                    f"operator '{name}' already exists; use `tailorkit operators rotate-key`"
                )
            session.add(OperatorRow(name=name, created_at=now(), **key.columns()))
        return key.text

    def rotate_key(self, name: str) -> str:
        """Replace an operator's key; the old one stops working. Returns the new key."""
        key = issue_key(OPERATOR_PREFIX)
        with self._database.write() as session:
            row = _operator_row(session, name)
            row.key_id, row.key_salt, row.key_hash = key.key_id, key.key_salt, key.key_hash
        return key.text

    def remove(self, name: str) -> None:
        with self._database.write() as session:
            session.delete(_operator_row(session, name))

    def authenticate(self, api_key: str) -> Operator | None:
        """The operator owning ``api_key``, or None (a tenant's key is never one)."""
        parts = split_key(api_key, OPERATOR_PREFIX)
        if parts is None:
            return None
        with self._database.read() as session:
            row = session.scalar(select(OperatorRow).where(OperatorRow.key_id == parts[0]))
        if row is None or not key_matches(row.key_salt, row.key_hash, parts[1]):
            return None
        return Operator(row.id, row.name)

    def operators(self) -> list[dict[str, Any]]:
        with self._database.read() as session:
            rows = session.scalars(select(OperatorRow).order_by(OperatorRow.name))
            return [
                {"name": r.name, "key_id": r.key_id, "created_at": aware(r.created_at).isoformat()}
                for r in rows
            ]


def _operator_row(session, name: str) -> OperatorRow:
    row = session.scalar(select(OperatorRow).where(OperatorRow.name == name))
    if row is None:
        raise RegistryError(f"no operator '{name}'; create it with `tailorkit operators create`")
    return row
