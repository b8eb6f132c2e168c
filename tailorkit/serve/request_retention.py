"""Retention of the served-request log: records older than a cutoff are deleted in small
batches (each its own short transaction, so the request-log writer and scoring never wait
long), except those still needed: a request that feedback references, or an exposure of a
running experiment (its analysis joins outcomes to exposures). Observed input rows
(``serve_observations``) expire after the same days, except those of a request that feedback
references (labelled rows, what retraining learns from).

``tailorkit serve --request-log-days N`` sweeps every ``SWEEP_INTERVAL_S`` (first at start);
``tailorkit requests compact --older-than 30d`` does it on demand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session

from tailorkit.errors import DatabaseUnavailable
from tailorkit.registry.engine import Database
from tailorkit.serve.event_tables import (
    ExperimentRow,
    FeedbackRow,
    ObservationRow,
    ServedRequestRow,
)

log = logging.getLogger("tailorkit.serve")

BATCH_ROWS = 1000  # rows per delete transaction
SWEEP_INTERVAL_S = 3600.0
BATCH_PAUSE_S = 0.05  # between batches of one sweep: the writer gets the lock in between


@dataclass(frozen=True)
class Compaction:
    """What a compaction found: records older than ``before``, deleted (or deletable in a dry
    run) and kept because feedback or a running experiment needs them."""

    before: datetime
    deleted: int
    kept: int
    dry_run: bool
    observations: int = 0  # observed input rows deleted (or deletable)


def _needed():
    """A served request that must stay: feedback references it, or it is an exposure of a
    running experiment. (``EXISTS`` is never NULL, so ``NOT`` of it never drops a row.)"""
    referenced = exists().where(FeedbackRow.request_id == ServedRequestRow.request_id)
    running = exists().where(
        ExperimentRow.id == ServedRequestRow.experiment_id, ExperimentRow.status == "running"
    )
    return or_(referenced, running)


def _observation_needed():
    """An observed row that must stay: feedback labels its request."""
    return exists().where(FeedbackRow.request_id == ObservationRow.request_id)


EXPIRING = {
    "requests": (ServedRequestRow, _needed),
    "observations": (ObservationRow, _observation_needed),
}


@dataclass(frozen=True)
class Cursor:
    """Where a sweep stands in (time, id) order: the last record it looked at."""

    at: datetime
    id: int


def delete_expired(
    database: Database,
    before: datetime,
    after: Cursor | None = None,
    limit: int = BATCH_ROWS,
    table: str = "requests",
) -> tuple[int, Cursor | None]:
    """Look at the next ``limit`` records (of ``table``: ``requests`` or ``observations``)
    older than ``before`` (after ``after``, in time order, through the index on ``at``) and
    delete those nothing needs, in one transaction. Returns (how many were deleted, the cursor
    to go on from; None when none are left): the kept records are passed once per sweep, so
    every batch costs the same."""
    model, needed = EXPIRING[table]
    at, key = model.at, model.id
    query = select(key, at).where(at < before).order_by(at, key).limit(limit)
    if after is not None:
        query = query.where(at >= after.at, tuple_(at, key) > tuple_(after.at, after.id))
    with database.write() as session:
        rows = session.execute(query).all()
        if not rows:
            return 0, None
        deleted = session.execute(
            delete(model).where(key.in_([row.id for row in rows]), ~needed())
        ).rowcount
    return deleted, Cursor(rows[-1].at, rows[-1].id) if len(rows) == limit else None


def compact(database: Database, before: datetime, *, dry_run: bool = False) -> Compaction:
    """Delete every expired, unneeded record, batch by batch (``dry_run``: only count)."""
    old = ServedRequestRow.at < before
    with database.read() as session:
        total, kept = _count(session, old), _count(session, old, _needed())
        observed = session.scalar(
            select(func.count())
            .select_from(ObservationRow)
            .where(ObservationRow.at < before, ~_observation_needed())
        )
    if dry_run:
        return Compaction(before, total - kept, kept, True, int(observed or 0))
    deleted = {table: _delete_all(database, before, table) for table in EXPIRING}
    return Compaction(before, deleted["requests"], kept, False, deleted["observations"])


def _delete_all(database: Database, before: datetime, table: str) -> int:
    deleted, cursor = delete_expired(database, before, table=table)
    while cursor is not None:
        count, cursor = delete_expired(database, before, cursor, table=table)
        deleted += count
    return deleted


def _count(session: Session, *where: Any) -> int:
    query = select(func.count()).select_from(ServedRequestRow).where(*where)
    return int(session.scalar(query) or 0)


def cutoff(days: float, now: datetime | None = None) -> datetime:
    """The moment ``days`` ago (UTC)."""
    return (now or datetime.now(timezone.utc)) - timedelta(days=days)


async def sweep_forever(
    delete_batch: Callable[[datetime, Cursor | None], tuple[int, Cursor | None]],
    days: float,
    run_io: Callable[..., Awaitable[Any]],
) -> None:
    """The service's retention loop: every ``SWEEP_INTERVAL_S`` (first at once) delete the
    records older than ``days`` a batch at a time on the database pool (``run_io``);
    ``delete_batch(before, cursor)`` is one batch of one table."""
    while True:
        before, deleted = cutoff(days), 0
        try:
            count, cursor = await run_io(delete_batch, before, None)
            deleted += count
            while cursor is not None:
                await asyncio.sleep(BATCH_PAUSE_S)
                count, cursor = await run_io(delete_batch, before, cursor)
                deleted += count
        except DatabaseUnavailable as error:
            log.warning("request-log retention skipped: %s", error)
        except Exception:
            log.exception("request-log retention failed; retrying in %.0f s", SWEEP_INTERVAL_S)
        if deleted:
            log.info("request-log retention deleted %d record(s) older than %g days", deleted, days)
        await asyncio.sleep(SWEEP_INTERVAL_S)
