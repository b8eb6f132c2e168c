"""SQL sources: SQLAlchemy URLs and SQLite/DuckDB files, opened read-only, read whole or in
chunks by ``table`` or ``query``; passwords never appear in messages."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tailorkit.data.io_files import SPEC_HINT, FileSource, absolute_path
from tailorkit.errors import DataError
from tailorkit.optional import require_sql_driver

_URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_database_url(source: str | Path) -> bool:
    """True for SQLAlchemy URLs such as ``sqlite:///x.db`` or ``postgresql+psycopg://...``."""
    return isinstance(source, str) and bool(_URL_PATTERN.match(source))


def hide_password(text: str) -> str:
    """The URL with its password masked, for messages; other text unchanged."""
    if not is_database_url(text):
        return text
    try:
        from sqlalchemy.engine import make_url

        return make_url(text).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a label must never fail; fall back to a crude mask
        return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", text)


@dataclass(frozen=True)
class SqlSource:
    """A database to read: the label for messages and how to build a read-only engine."""

    label: str
    url: str
    database_file: Path | None = None
    dialect: str = ""

    @classmethod
    def from_url(cls, url: str, base_dir: Path | None) -> SqlSource:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        label = hide_password(url)
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise DataError(
                f"'{label}' is not a valid database URL; write it like "
                "sqlite:///data.db or postgresql+psycopg://user@host/db"
            ) from None
        dialect = parsed.get_backend_name()
        database = parsed.database or ""
        if dialect not in ("sqlite", "duckdb") or database in ("", ":memory:"):
            return cls(label, url, None, dialect)
        path = absolute_path(database, base_dir)
        if not path.is_file():
            raise DataError(
                f"database file '{database}' of {label} not found (looked in {path}); check "
                f"the URL in {SPEC_HINT}"
            )
        return cls(label, url, path, dialect)

    @classmethod
    def from_file(cls, file: FileSource) -> SqlSource:
        head = file.path.read_bytes()[:16] if file.path.stat().st_size else b""
        if file.kind == "sqlite" and head and not head.startswith(b"SQLite format 3"):
            raise DataError(
                f"data file '{file.given}' is not a SQLite database; check the file or its "
                "extension"
            )
        return cls(file.given, f"{file.kind}:///{file.path}", file.path, file.kind)

    def engine(self):
        import sqlalchemy as sa

        require_sql_driver(self.url)
        if self.database_file is not None and self.dialect == "sqlite":
            uri = self.database_file.as_uri() + "?mode=ro"
            return sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
        if self.database_file is not None and self.dialect == "duckdb":
            return sa.create_engine(
                f"duckdb:///{self.database_file}", connect_args={"read_only": True}
            )
        return sa.create_engine(self.url)


def _sql_statement(sql: SqlSource, connection, table: str | None, query: str | None) -> str:
    import sqlalchemy as sa

    if table and query:
        raise DataError(
            f"database '{sql.label}': set either 'table' or 'query' in {SPEC_HINT}, not both"
        )
    inspector = sa.inspect(connection)
    if query:
        return query
    available = sorted(inspector.get_table_names() + inspector.get_view_names())
    if not table:
        raise DataError(
            f"'{sql.label}' is a database: set 'table' (one of {_listing(available)}) or "
            f"'query' in {SPEC_HINT}"
        )
    schema, _, name = table.rpartition(".")
    if table not in available and not (schema and name in _schema_tables(inspector, schema)):
        raise DataError(
            f"database '{sql.label}' has no table '{table}'; available tables: "
            f"{_listing(available)}"
        )
    quote = connection.dialect.identifier_preparer.quote
    if table in available:
        return f"SELECT * FROM {quote(table)}"
    return f"SELECT * FROM {quote(schema)}.{quote(name)}"


def _schema_tables(inspector, schema: str) -> list[str]:
    try:
        return inspector.get_table_names(schema=schema) + inspector.get_view_names(schema=schema)
    except Exception:  # noqa: BLE001 - an unknown schema simply has no tables
        return []


def _listing(names: list[str]) -> str:
    if not names:
        return "(none: the database is empty)"
    return ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")


@contextmanager
def _sql_connection(sql: SqlSource, label: str) -> Iterator:
    from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

    try:
        engine = sql.engine()
    except (NoSuchModuleError, ModuleNotFoundError) as error:
        raise DataError(
            f"the database driver for '{sql.label}' is not installed ({error}); install that "
            "driver package into this environment"
        ) from None
    try:
        try:
            connection = engine.connect()
        except (SQLAlchemyError, OSError) as error:
            raise DataError(
                f"cannot connect to '{sql.label}' ({_database_message(error)}); check the URL "
                "and that the database is reachable"
            ) from None
        with connection:
            yield connection
    except (pd.errors.DatabaseError, SQLAlchemyError) as error:
        raise DataError(
            f"{label} failed: {_database_message(error)}; fix the table or query in {SPEC_HINT}"
        ) from None
    finally:
        engine.dispose()


def sql_label(sql: SqlSource, table: str | None, query: str | None) -> str:
    """How messages name the table or query of a database."""
    if table and not query:
        return f"table '{table}' of database '{sql.label}'"
    return f"the query on database '{sql.label}'"


def _database_message(error: BaseException) -> str:
    cause = error.__cause__ or error
    original = getattr(cause, "orig", None) or cause
    text = str(original).strip().splitlines()
    return text[0].rstrip(".") if text else type(original).__name__


def read_sql(sql: SqlSource, table: str | None, query: str | None) -> pd.DataFrame:
    """The whole table or query result."""
    label = sql_label(sql, table, query)
    with _sql_connection(sql, label) as connection:
        statement = _sql_statement(sql, connection, table, query)
        return pd.read_sql_query(statement, connection)


def sql_chunks(
    sql: SqlSource, table: str | None, query: str | None, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """The table or query result, chunk_rows rows at a time."""
    label = sql_label(sql, table, query)
    with _sql_connection(sql, label) as connection:
        statement = _sql_statement(sql, connection, table, query)
        yield from pd.read_sql_query(statement, connection, chunksize=chunk_rows)
