"""Stored alert events (``serve_alerts``): the cooldown (one alert per rule and project per
``cooldown``), the delivery's outcome, and the list ``tailorkit alerts`` prints.

The cooldown's check and the insert share one write transaction that holds the write lock
(``BEGIN IMMEDIATE`` on SQLite, an advisory lock per project and rule on PostgreSQL), so two
processes raising the same alert at once store it once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from tailorkit.loop.alerts import Alert
from tailorkit.registry.convert import aware, dumps, now
from tailorkit.registry.engine import Database
from tailorkit.serve.event_tables import AlertRow

DELIVERY_STATUSES = ("stored", "pending", "delivered", "failed")


@dataclass(frozen=True)
class StoredAlert:
    """An alert as stored: what the webhook receives (``payload``) and the CLI lists."""

    id: int
    project: str
    rule: str
    severity: str
    message: str
    details: dict[str, Any]
    model_version: int | None
    window: str | None
    at: datetime
    status: str
    attempts: int
    last_error: str | None
    delivered_at: datetime | None

    def payload(self) -> dict[str, Any]:
        """The JSON body POSTed to the webhook (no delivery bookkeeping)."""
        keys = ("id", "project", "rule", "severity", "message", "details", "model_version")
        return {
            **{key: getattr(self, key) for key in keys},
            "window": self.window,
            "at": self.at.isoformat(),
        }

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["at"] = self.at.isoformat()
        found["delivered_at"] = self.delivered_at.isoformat() if self.delivered_at else None
        return found


class AlertStore:
    """The alert events of one workspace database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def record(
        self, alert: Alert, *, cooldown_s: float, deliver: bool, at: datetime | None = None
    ) -> StoredAlert | None:
        """Store ``alert`` (``pending`` delivery when ``deliver``, else ``stored``), unless
        the same rule fired for the project less than ``cooldown_s`` ago: then None."""
        at = at or now()
        with self._database.write() as session:
            _lock_rule(session, alert.project, alert.rule)
            recent = session.scalar(
                select(AlertRow.id)
                .where(
                    AlertRow.project == alert.project,
                    AlertRow.rule == alert.rule,
                    AlertRow.at > at - timedelta(seconds=cooldown_s),
                )
                .limit(1)
            )
            if recent is not None:
                return None
            row = AlertRow(
                project=alert.project,
                rule=alert.rule,
                severity=alert.severity,
                message=alert.message,
                details_json=dumps(alert.details),
                model_version=alert.model_version,
                window_label=alert.window,
                at=at,
                status="pending" if deliver else "stored",
                attempts=0,
            )
            session.add(row)
            session.flush()
            return _stored(row)

    def mark(self, alert_id: int, status: str, attempts: int, last_error: str | None) -> None:
        """The delivery's outcome: ``delivered`` or ``failed`` after ``attempts`` tries."""
        assert status in DELIVERY_STATUSES, status
        with self._database.write() as session:
            session.execute(
                update(AlertRow)
                .where(AlertRow.id == alert_id)
                .values(
                    status=status,
                    attempts=attempts,
                    last_error=last_error,
                    delivered_at=now() if status == "delivered" else None,
                )
            )

    def get(self, alert_id: int) -> StoredAlert | None:
        with self._database.read() as session:
            row = session.get(AlertRow, alert_id)
            return _stored(row) if row is not None else None

    def list(self, project: str | None = None, limit: int = 100) -> list[StoredAlert]:
        """The latest ``limit`` alerts (of ``project``), newest first."""
        query = select(AlertRow).order_by(AlertRow.at.desc(), AlertRow.id.desc()).limit(limit)
        if project is not None:
            query = query.where(AlertRow.project == project)
        with self._database.read() as session:
            return [_stored(row) for row in session.scalars(query)]


def _lock_rule(session: Session, project: str, rule: str) -> None:
    """On PostgreSQL, queue the writers of one (project, rule) until the transaction ends."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already holds the database's write lock
    digest = hashlib.sha256(f"alert\0{project}\0{rule}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _stored(row: AlertRow) -> StoredAlert:
    return StoredAlert(
        id=row.id,
        project=row.project,
        rule=row.rule,
        severity=row.severity,
        message=row.message,
        details=json.loads(row.details_json),
        model_version=row.model_version,
        window=row.window_label,
        at=aware(row.at),
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        delivered_at=aware(row.delivered_at) if row.delivered_at else None,
    )
