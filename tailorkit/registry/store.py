"""The workspace registry: projects, runs, metrics, model versions, aliases and their audit log.

A workspace is a folder (default ``.tailorkit``) holding ``tailorkit.db`` (SQLite in WAL mode)
and ``artifacts/``, where each model folder is stored once under the SHA-256 of its files.
Pass ``url=`` to keep the tables in another database (PostgreSQL) through SQLAlchemy; the
artifacts stay under the workspace folder.

Concurrency: on SQLite every write transaction starts with ``BEGIN IMMEDIATE`` and waits up to
``BUSY_TIMEOUT_S`` for the write lock, so concurrent processes queue instead of failing; on any
database, version numbers are taken inside one transaction and retried on a unique-key clash.

Alias moves are appended to ``alias_events`` and never updated or deleted. Pointing an alias at
the version it already names is a no-op and is not logged.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import math
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tailorkit.errors import RegistryError

__all__ = ["SCHEMA_VERSION", "ModelVersion", "Registry", "RegistryError"]

SCHEMA_VERSION = 1
DATABASE_FILE = "tailorkit.db"
ARTIFACTS_FOLDER = "artifacts"
BUSY_TIMEOUT_S = 60.0
WRITE_RETRIES = 8
SCHEMA_LOCK = 7_146_291  # PostgreSQL advisory-lock key held while tables are created
RUN_STATUSES = ("running", "succeeded", "failed")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
ALIAS_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_WRITE_OPTION = "tailorkit_write"


# ----------------------------------------------------------------------------- tables
class Base(DeclarativeBase):
    """Declarative base for the registry tables (portable between SQLite and PostgreSQL)."""


class SchemaVersionRow(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class ProjectRow(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    solution: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    spec_json: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report_path: Mapped[str | None] = mapped_column(Text)
    summary_json: Mapped[str | None] = mapped_column(Text)


class MetricRow(Base):
    __tablename__ = "metrics"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("project_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    version: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    family: Mapped[str] = mapped_column(String(100))
    artifact_uri: Mapped[str] = mapped_column(Text)
    artifact_sha: Mapped[str] = mapped_column(String(64))
    metrics_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AliasRow(Base):
    __tablename__ = "aliases"
    __table_args__ = (UniqueConstraint("project_id", "alias"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    alias: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)


class AliasEventRow(Base):
    __tablename__ = "alias_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    alias: Mapped[str] = mapped_column(String(64))
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ----------------------------------------------------------------------------- public types
@dataclass(frozen=True)
class ModelVersion:
    """One registered model version; ``path`` is its folder under the workspace artifacts."""

    project: str
    version: int
    family: str
    path: Path
    run_id: int | None
    metrics: dict
    created_at: datetime
    aliases: tuple[str, ...]


class Registry:
    """Runs, model versions, aliases and the alias audit log of one workspace."""

    def __init__(self, workspace: str | Path = ".tailorkit", url: str | None = None) -> None:
        self.workspace = Path(workspace)
        self.artifacts = self.workspace / ARTIFACTS_FOLDER
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.url = url or f"sqlite:///{(self.workspace / DATABASE_FILE).resolve()}"
        self._engine = _make_engine(self.url)
        self._write_engine = self._engine.execution_options(**{_WRITE_OPTION: True})
        self._ensure_schema()

    def close(self) -> None:
        """Release the database connections (the registry can still be used; it reconnects)."""
        self._engine.dispose()

    # ------------------------------------------------------------------ projects and runs
    def ensure_project(self, name: str, solution: str) -> None:
        """Create the project if it is new; an existing one must keep its solution."""
        _check_name(name)
        for attempt in _retries():
            with attempt, self._write() as session:
                row = session.scalar(select(ProjectRow).where(ProjectRow.name == name))
                if row is None:
                    session.add(ProjectRow(name=name, solution=solution, created_at=_now()))
                elif row.solution != solution:
                    raise RegistryError(
                        f"project '{name}' in workspace {self.workspace} is a '{row.solution}' "
                        f"project, not '{solution}'; give the spec another name"
                    )

    def start_run(self, project: str, spec: dict) -> int:
        """Record a new running run of ``project`` with its resolved spec; returns its id."""
        with self._write() as session:
            project_id = self._project_id(session, project)
            row = RunRow(
                project_id=project_id,
                status="running",
                spec_json=_dumps(spec),
                started_at=_now(),
            )
            session.add(row)
            session.flush()
            return row.id

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        summary: dict | None = None,
        report_path: str | None = None,
    ) -> None:
        """Mark a run succeeded or failed, with its summary and report location."""
        if status not in RUN_STATUSES[1:]:
            raise RegistryError(f"run status must be 'succeeded' or 'failed', not {status!r}")
        with self._write() as session:
            row = self._run(session, run_id)
            row.status = status
            row.finished_at = _now()
            if summary is not None:
                row.summary_json = _dumps(summary)
            if report_path is not None:
                row.report_path = str(report_path)

    def log_metrics(self, run_id: int, model_name: str, metrics: dict[str, float]) -> None:
        """Append one candidate model's metrics to a run (non-finite values are kept as null)."""
        with self._write() as session:
            self._run(session, run_id)
            session.add_all(
                MetricRow(run_id=run_id, model_name=model_name, name=name, value=_finite(value))
                for name, value in metrics.items()
            )

    # ------------------------------------------------------------------ model versions
    def register_model(
        self,
        project: str,
        model_dir: Path,
        *,
        family: str,
        run_id: int | None = None,
        metrics: dict | None = None,
    ) -> ModelVersion:
        """Store ``model_dir`` content-addressed and give it the project's next version."""
        sha = self._store_artifact(Path(model_dir))
        for attempt in _retries():
            with attempt, self._write() as session:
                project_id = self._project_id(session, project)
                if run_id is not None:
                    self._run(session, run_id)
                latest = session.scalar(
                    select(func.max(ModelVersionRow.version)).where(
                        ModelVersionRow.project_id == project_id
                    )
                )
                row = ModelVersionRow(
                    project_id=project_id,
                    version=(latest or 0) + 1,
                    run_id=run_id,
                    family=family,
                    artifact_uri=f"{ARTIFACTS_FOLDER}/{sha}",
                    artifact_sha=sha,
                    metrics_json=_dumps(metrics or {}),
                    created_at=_now(),
                )
                session.add(row)
                session.flush()
                return self._model_version(project, row, ())
        raise AssertionError("unreachable: _retries raises after the last attempt")

    def set_alias(
        self,
        project: str,
        alias: str,
        version: int,
        *,
        actor: str | None = None,
        reason: str = "",
    ) -> None:
        """Point ``project@alias`` at ``version`` and append the move to the audit log."""
        _check_alias(alias)
        actor = actor or _current_user()
        for attempt in _retries():
            with attempt, self._write() as session:
                project_id = self._project_id(session, project)
                self._version_row(session, project, project_id, version)
                row = session.scalar(
                    select(AliasRow)
                    .where(AliasRow.project_id == project_id, AliasRow.alias == alias)
                    .with_for_update()
                )
                if row is not None and row.version == version:
                    return
                previous = row.version if row is not None else None
                if row is None:
                    session.add(AliasRow(project_id=project_id, alias=alias, version=version))
                else:
                    row.version = version
                session.add(
                    AliasEventRow(
                        project_id=project_id,
                        alias=alias,
                        from_version=previous,
                        to_version=version,
                        actor=actor,
                        reason=reason,
                        at=_now(),
                    )
                )

    def resolve(self, ref: str) -> ModelVersion:
        """Find a version by ``name@alias``, ``name:3``, ``name/3`` or ``name`` (latest)."""
        project, alias, version = _parse_ref(ref)
        with self._read() as session:
            project_id = self._project_id(session, project)
            if alias is not None:
                version = self._alias_target(session, project, project_id, alias)
            elif version is None:
                version = self._latest_version(session, project, project_id)
            row = self._version_row(session, project, project_id, version)
            return self._model_version(project, row, self._aliases_of(session, project_id, version))

    def versions(self, project: str | None = None) -> list[ModelVersion]:
        """Every registered version (of one project), ordered by project and version."""
        with self._read() as session:
            query = select(ProjectRow.name, ModelVersionRow).join(
                ProjectRow, ProjectRow.id == ModelVersionRow.project_id
            )
            if project is not None:
                query = query.where(ProjectRow.id == self._project_id(session, project))
            aliases = _aliases_by_version(session)
            rows = session.execute(query.order_by(ProjectRow.name, ModelVersionRow.version))
            return [
                self._model_version(name, row, aliases.get((row.project_id, row.version), ()))
                for name, row in rows
            ]

    def aliases(self, project: str) -> dict[str, int]:
        """The project's aliases and the version each points at."""
        with self._read() as session:
            project_id = self._project_id(session, project)
            return _alias_map(session, project_id)

    # ------------------------------------------------------------------ listings
    def audit_log(self, project: str | None = None) -> list[dict]:
        """Every alias move (of one project), oldest first."""
        with self._read() as session:
            query = select(ProjectRow.name, AliasEventRow).join(
                ProjectRow, ProjectRow.id == AliasEventRow.project_id
            )
            if project is not None:
                query = query.where(ProjectRow.id == self._project_id(session, project))
            return [
                {
                    "id": event_row.id,
                    "project": name,
                    "alias": event_row.alias,
                    "from_version": event_row.from_version,
                    "to_version": event_row.to_version,
                    "actor": event_row.actor,
                    "reason": event_row.reason,
                    "at": _aware(event_row.at),
                }
                for name, event_row in session.execute(query.order_by(AliasEventRow.id))
            ]

    def runs(self, project: str | None = None) -> list[dict]:
        """Every run (of one project), oldest first, with its spec, summary and metrics."""
        with self._read() as session:
            query = select(ProjectRow.name, RunRow).join(
                ProjectRow, ProjectRow.id == RunRow.project_id
            )
            if project is not None:
                query = query.where(ProjectRow.id == self._project_id(session, project))
            rows = session.execute(query.order_by(RunRow.id)).all()
            metrics = _metrics_by_run(session, [row.id for _, row in rows])
            return [_run_dict(name, row, metrics.get(row.id, {})) for name, row in rows]

    def solution_of(self, project: str) -> str:
        """The solution a project was created with."""
        with self._read() as session:
            row = session.scalar(select(ProjectRow).where(ProjectRow.name == project))
            if row is None:
                raise RegistryError(f"no project '{project}' in workspace {self.workspace}")
            return row.solution

    def projects(self) -> list[dict]:
        """Every project with its solution, creation time and number of versions."""
        with self._read() as session:
            counts = dict(
                session.execute(
                    select(ModelVersionRow.project_id, func.count()).group_by(
                        ModelVersionRow.project_id
                    )
                ).all()
            )
            return [
                {
                    "name": row.name,
                    "solution": row.solution,
                    "created_at": _aware(row.created_at),
                    "versions": counts.get(row.id, 0),
                }
                for row in session.scalars(select(ProjectRow).order_by(ProjectRow.name))
            ]

    # ------------------------------------------------------------------ sessions
    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._engine) as session:
            yield session

    def _ensure_schema(self) -> None:
        """Create the tables and the schema_version row unless a current schema exists."""
        if self._schema_version() == SCHEMA_VERSION:
            return
        for attempt in _retries():
            with attempt, self._write() as session:
                create_tables(Base.metadata, session.connection())
                found = session.scalar(select(func.max(SchemaVersionRow.version)))
                if found is None:
                    session.add(SchemaVersionRow(version=SCHEMA_VERSION))
                elif found > SCHEMA_VERSION:
                    raise RegistryError(
                        f"workspace {self.workspace} has registry schema {found}, newer than "
                        f"this tailorkit's {SCHEMA_VERSION}; upgrade tailorkit"
                    )

    def _schema_version(self) -> int | None:
        try:
            with self._read() as session:
                return session.scalar(select(func.max(SchemaVersionRow.version)))
        except DBAPIError:
            return None

    # ------------------------------------------------------------------ lookups
    def _project_id(self, session: Session, project: str) -> int:
        project_id = session.scalar(select(ProjectRow.id).where(ProjectRow.name == project))
        if project_id is None:
            raise RegistryError(
                f"no model '{project}' in workspace {self.workspace}: run `tailorkit run` first"
            )
        return project_id

    def _run(self, session: Session, run_id: int) -> RunRow:
        row = session.get(RunRow, run_id)
        if row is None:
            raise RegistryError(f"no run {run_id} in workspace {self.workspace}")
        return row

    def _latest_version(self, session: Session, project: str, project_id: int) -> int:
        latest = session.scalar(
            select(func.max(ModelVersionRow.version)).where(
                ModelVersionRow.project_id == project_id
            )
        )
        if latest is None:
            raise RegistryError(
                f"{project} has no model versions in workspace {self.workspace}: "
                "run `tailorkit run` first"
            )
        return latest

    def _version_row(
        self, session: Session, project: str, project_id: int, version: int
    ) -> ModelVersionRow:
        row = session.scalar(
            select(ModelVersionRow).where(
                ModelVersionRow.project_id == project_id, ModelVersionRow.version == version
            )
        )
        if row is None:
            numbers = session.scalars(
                select(ModelVersionRow.version)
                .where(ModelVersionRow.project_id == project_id)
                .order_by(ModelVersionRow.version)
            ).all()
            raise RegistryError(f"{project} has no version {version}; versions: {_ranges(numbers)}")
        return row

    def _alias_target(self, session: Session, project: str, project_id: int, alias: str) -> int:
        known = _alias_map(session, project_id)
        if alias not in known:
            listed = ", ".join(sorted(known)) or "none yet (set one with `tailorkit promote`)"
            raise RegistryError(f"{project} has no alias '{alias}'; aliases: {listed}")
        return known[alias]

    def _aliases_of(self, session: Session, project_id: int, version: int) -> tuple[str, ...]:
        return tuple(
            session.scalars(
                select(AliasRow.alias)
                .where(AliasRow.project_id == project_id, AliasRow.version == version)
                .order_by(AliasRow.alias)
            )
        )

    def _model_version(
        self, project: str, row: ModelVersionRow, aliases: tuple[str, ...]
    ) -> ModelVersion:
        return ModelVersion(
            project=project,
            version=row.version,
            family=row.family,
            path=self.workspace / row.artifact_uri,
            run_id=row.run_id,
            metrics=json.loads(row.metrics_json),
            created_at=_aware(row.created_at),
            aliases=aliases,
        )

    # ------------------------------------------------------------------ artifacts
    def _store_artifact(self, model_dir: Path) -> str:
        """Copy ``model_dir`` to ``artifacts/<sha>`` atomically (once per content); return sha."""
        files = _files_of(model_dir)
        sha = _content_sha(model_dir, files)
        target = self.artifacts / sha
        if target.is_dir():
            return sha
        staging = self.artifacts / f".tmp-{uuid.uuid4().hex}"
        try:
            for relative in files:
                destination = staging / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(model_dir / relative, destination)
            try:
                os.rename(staging, target)
            except OSError:
                if not target.is_dir():  # another writer won the race only if target exists
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return sha


# ----------------------------------------------------------------------------- engine
def _make_engine(url: str) -> Engine:
    """An engine; on SQLite: WAL, a busy timeout, foreign keys, and explicit BEGINs."""
    if not url.startswith("sqlite"):
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
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class _Attempt:
    """One try of a write transaction: swallows a unique-key clash unless it is the last."""

    def __init__(self, last: bool) -> None:
        self.last = last
        self.succeeded = False

    def __enter__(self) -> _Attempt:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, _tb: Any) -> bool:
        if error is None:
            self.succeeded = True
            return False
        return isinstance(error, IntegrityError) and not self.last


def _retries(count: int = WRITE_RETRIES) -> Iterator[_Attempt]:
    """Attempts until one succeeds; the last one lets its error propagate."""
    for index in range(count):
        attempt = _Attempt(last=index == count - 1)
        yield attempt
        if attempt.succeeded:
            return


# ----------------------------------------------------------------------------- helpers
def create_tables(metadata: Any, connection: Connection) -> None:
    """``metadata.create_all`` by one process at a time: on PostgreSQL a CREATE TABLE of a
    table that another open transaction is creating fails (DuplicateTable) once that commits,
    so the creators queue on a transaction-scoped advisory lock."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
    metadata.create_all(connection)


def _parse_ref(ref: str) -> tuple[str, str | None, int | None]:
    """Split a model reference into (project, alias, version); one of the last two or none."""
    usage = "use name@alias, name:version, name/version or name"
    for separator in ("@", ":", "/"):
        if separator in ref:
            project, _, suffix = ref.partition(separator)
            break
    else:
        project, separator, suffix = ref, "", ""
    if not NAME_PATTERN.fullmatch(project):
        raise RegistryError(f"model reference {ref!r} is malformed; {usage}")
    if separator == "@":
        if not ALIAS_PATTERN.fullmatch(suffix):
            raise RegistryError(f"model reference {ref!r} has a malformed alias; {usage}")
        return project, suffix, None
    if separator:
        if not suffix.isascii() or not suffix.isdigit():
            raise RegistryError(f"model reference {ref!r} has a malformed version; {usage}")
        return project, None, int(suffix)
    return project, None, None


def _check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise RegistryError(
            f"project name {name!r} is invalid; use letters, digits, '-', '_' or '.'"
        )


def _check_alias(alias: str) -> None:
    if not ALIAS_PATTERN.fullmatch(alias):
        raise RegistryError(
            f"alias {alias!r} is invalid; use 1-64 letters, digits, '-' or '_' (e.g. champion)"
        )


def _files_of(model_dir: Path) -> list[str]:
    """The folder's regular files as sorted POSIX paths relative to it."""
    if not model_dir.is_dir():
        raise RegistryError(f"model folder {model_dir} does not exist or is not a folder")
    files = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file())
    if not files:
        raise RegistryError(f"model folder {model_dir} is empty; save the model into it first")
    return files


def _content_sha(model_dir: Path, files: list[str]) -> str:
    """SHA-256 over each file's relative path and the SHA-256 of its bytes."""
    digest = hashlib.sha256()
    for relative in files:
        file_digest = hashlib.sha256()
        with open(model_dir / relative, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                file_digest.update(block)
        digest.update(f"{relative}\0{file_digest.hexdigest()}\n".encode())
    return digest.hexdigest()


def _alias_map(session: Session, project_id: int) -> dict[str, int]:
    rows = session.execute(
        select(AliasRow.alias, AliasRow.version)
        .where(AliasRow.project_id == project_id)
        .order_by(AliasRow.alias)
    )
    return {alias: version for alias, version in rows}


def _aliases_by_version(session: Session) -> dict[tuple[int, int], tuple[str, ...]]:
    grouped: dict[tuple[int, int], list[str]] = {}
    rows = session.execute(
        select(AliasRow.project_id, AliasRow.version, AliasRow.alias).order_by(AliasRow.alias)
    )
    for project_id, version, alias in rows:
        grouped.setdefault((project_id, version), []).append(alias)
    return {key: tuple(names) for key, names in grouped.items()}


def _metrics_by_run(session: Session, run_ids: list[int]) -> dict[int, dict[str, dict]]:
    grouped: dict[int, dict[str, dict]] = {}
    if not run_ids:
        return grouped
    rows = session.scalars(
        select(MetricRow).where(MetricRow.run_id.in_(run_ids)).order_by(MetricRow.id)
    )
    for row in rows:
        grouped.setdefault(row.run_id, {}).setdefault(row.model_name, {})[row.name] = row.value
    return grouped


def _run_dict(project: str, row: RunRow, metrics: dict[str, dict]) -> dict:
    return {
        "id": row.id,
        "project": project,
        "status": row.status,
        "spec": json.loads(row.spec_json),
        "started_at": _aware(row.started_at),
        "finished_at": _aware(row.finished_at) if row.finished_at else None,
        "report_path": row.report_path,
        "summary": json.loads(row.summary_json) if row.summary_json else None,
        "metrics": metrics,
    }


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``'1-3, 5'``; ``[]`` -> ``'none'``."""
    if not numbers:
        return "none"
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _dumps(document: Any) -> str:
    return json.dumps(document, default=str, sort_keys=True)


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
