"""Database engines and write transactions for the registry.

On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` and waits up to
``BUSY_TIMEOUT_S`` for the write lock, so concurrent processes queue instead of failing; on any
database a write that clashes on a unique key is retried (``retries``), and tables are created
by one process at a time (``create_tables``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from tailorkit.optional import require_sql_driver

BUSY_TIMEOUT_S = 60.0
WRITE_RETRIES = 8
SCHEMA_LOCK = 7_146_291  # PostgreSQL advisory-lock key held while tables are created
WRITE_OPTION = "tailorkit_write"


def make_engine(url: str) -> Engine:
    """An engine; on SQLite: WAL, a busy timeout, foreign keys, and explicit BEGINs."""
    if not url.startswith("sqlite"):
        require_sql_driver(url)
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front (waiting on busy_timeout), so a read-then-
        # write transaction cannot fail halfway when another process committed meanwhile.
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Attempt:
    """One try of a write transaction: swallows a unique-key clash unless it is the last."""

    def __init__(self, last: bool) -> None:
        self.last = last
        self.succeeded = False

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, _tb: Any) -> bool:
        if error is None:
            self.succeeded = True
            return False
        return isinstance(error, IntegrityError) and not self.last


def retries(count: int = WRITE_RETRIES) -> Iterator[Attempt]:
    """Attempts until one succeeds; the last one lets its error propagate."""
    for index in range(count):
        attempt = Attempt(last=index == count - 1)
        yield attempt
        if attempt.succeeded:
            return


def create_tables(metadata: Any, connection: Connection) -> None:
    """``metadata.create_all`` by one process at a time: on PostgreSQL a CREATE TABLE of a
    table that another open transaction is creating fails (DuplicateTable) once that commits,
    so the creators queue on a transaction-scoped advisory lock."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
    metadata.create_all(connection)
