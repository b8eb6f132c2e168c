"""Database engines and write transactions for the registry.

On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` and waits up to
``BUSY_TIMEOUT_S`` for the write lock, so concurrent processes queue instead of failing; on any
database a write that clashes on a unique key is retried (``retries``), and tables are created
by one process at a time (``create_tables``). A database that cannot be reached, read or
written is a ``DatabaseUnavailable`` naming it (``unavailable_as_error``); ``Database`` holds
one database's engines and sessions and prepares its tables on first reach.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from tailorkit.errors import DatabaseUnavailable
from tailorkit.optional import require_sql_driver

BUSY_TIMEOUT_S = 60.0
WRITE_RETRIES = 8
# psycopg names the server's socket folder or host and port: answers name no paths or hosts
SERVER_ADDRESS = re.compile(r'(on socket|at) "[^"]*"( \([^)]*\))?(, port \d+)?')
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


class Database:
    """One database's engines and sessions. ``prepare(database)`` (creating the tables) runs
    once, at construction, or on the first session when the database was unavailable then, so
    a service started while its database is down, read-only or restarting comes up and
    answers 503 until it is back."""

    def __init__(self, url: str, prepare: Callable[[Database], None]) -> None:
        self.engine = make_engine(url)
        self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self._prepare, self._prepared = prepare, False
        with suppress(DatabaseUnavailable):
            self._ensure_prepared()

    def _ensure_prepared(self) -> None:
        if not self._prepared:
            self._prepare(self)
            self._prepared = True

    def read(self) -> Any:
        """A session for reading (``with database.read() as session``)."""
        self._ensure_prepared()
        return self.session(write=False)

    def write(self) -> Any:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        self._ensure_prepared()
        return self.session(write=True)

    @contextmanager
    def session(self, *, write: bool) -> Iterator[Session]:
        """A session without the preparation (for ``prepare`` itself); a database that cannot
        be reached, read or written raises ``DatabaseUnavailable``."""
        engine = self._write_engine if write else self.engine
        with (
            unavailable_as_error(self.engine),
            Session(engine, expire_on_commit=not write) as session,
            session.begin() if write else nullcontext(),
        ):
            yield session

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def unavailable_as_error(engine: Engine) -> Iterator[None]:
    """Turn "cannot reach, read or write the database" (server down or restarting, lost
    connection, read-only or full file) into ``DatabaseUnavailable`` naming the database.

    On SQLite the pool is emptied as well: a connection opened while the file was read-only
    stays read-only, so the next call must open the file again to see it writable."""
    try:
        yield
    except DBAPIError as error:
        if not isinstance(error, OperationalError) and not error.connection_invalidated:
            raise
        if engine.dialect.name == "sqlite":
            engine.dispose()
        raise DatabaseUnavailable(
            f"{database_name(engine.url)} is unavailable: {_reason(error)}; retry later"
        ) from error


def _reason(error: DBAPIError) -> str:
    """The driver's first line (``attempt to write a readonly database``), without addresses."""
    lines = str(error.orig).split("\n") if error.orig is not None else []
    first = next((line.strip() for line in lines if line.strip()), type(error).__name__)
    return " ".join(SERVER_ADDRESS.sub("", first).split())


def database_name(url: URL) -> str:
    """The database in words, without a folder or a host: ``SQLite database tailorkit.db``."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite database {Path(url.database or 'memory').name}"
    return f"{url.get_backend_name()} database '{url.database}'"


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
