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

This module holds the ``Registry`` API; the tables are in ``tables``, engines and retries in
``engine``, lookups in ``queries``, names and references in ``refs``, artifacts in ``artifacts``.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tailorkit.errors import DatabaseUnavailable, RegistryError
from tailorkit.registry.actors import current_user
from tailorkit.registry.artifacts import ARTIFACTS_FOLDER, store_artifact
from tailorkit.registry.convert import aware, dumps, finite, now
from tailorkit.registry.engine import Database, create_tables, retries
from tailorkit.registry.integrity import (
    ArtifactMismatch,
    check_folder,
    dump_manifest,
    folder_files,
    manifest_of,
)
from tailorkit.registry.queries import (
    alias_map,
    alias_target,
    aliases_by_version,
    aliases_of,
    latest_version,
    metrics_by_run,
    project_id_of,
    run_dict,
    run_row,
    version_row,
)
from tailorkit.registry.refs import (
    NAME_PATTERN,  # noqa: F401 (serve/events.py imports it from here)
    check_alias,
    check_name,
    parse_ref,
)
from tailorkit.registry.signing import SIGNING_KEY_ENV, check_signature, signature_of, signing_key
from tailorkit.registry.tables import (
    SCHEMA_VERSION,
    AliasEventRow,
    AliasRow,
    ArtifactEventRow,
    ArtifactRow,
    Base,
    MetricRow,
    ModelVersionRow,
    ProjectRow,
    RunRow,
    SchemaVersionRow,
)

__all__ = ["SCHEMA_VERSION", "ModelVersion", "Registry", "RegistryError"]

DATABASE_FILE = "tailorkit.db"
RUN_STATUSES = ("running", "succeeded", "failed")


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
    artifact_sha: str = ""


class Registry:
    """Runs, model versions, aliases and the alias audit log of one workspace."""

    def __init__(
        self,
        workspace: str | Path = ".tailorkit",
        url: str | None = None,
        signing_key_file: str | Path | None = None,
    ) -> None:
        """``signing_key_file`` (default: ``TAILORKIT_SIGNING_KEY_FILE``): sign artifacts at
        registration and refuse unsigned ones at load (``signing``)."""
        self.workspace = Path(workspace)
        self._signing_key = signing_key(self.workspace, signing_key_file)
        self.artifacts = self.workspace / ARTIFACTS_FOLDER
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.url = url or f"sqlite:///{(self.workspace / DATABASE_FILE).resolve()}"
        self._database = Database(self.url, partial(_ensure_schema, workspace=self.workspace))

    def close(self) -> None:
        """Release the database connections (the registry can still be used; it reconnects)."""
        self._database.close()

    # ------------------------------------------------------------------ projects and runs
    def ensure_project(self, name: str, solution: str) -> None:
        """Create the project if it is new; an existing one must keep its solution."""
        check_name(name)
        for attempt in retries():
            with attempt, self._write() as session:
                row = session.scalar(select(ProjectRow).where(ProjectRow.name == name))
                if row is None:
                    session.add(ProjectRow(name=name, solution=solution, created_at=now()))
                elif row.solution != solution:
                    raise RegistryError(
                        f"project '{name}' in workspace {self.workspace} is a '{row.solution}' "
                        f"project, not '{solution}'; give the spec another name"
                    )

    def start_run(self, project: str, spec: dict) -> int:
        """Record a new running run of ``project`` with its resolved spec; returns its id."""
        with self._write() as session:
            project_id = project_id_of(session, self.workspace, project)
            row = RunRow(
                project_id=project_id,
                status="running",
                spec_json=dumps(spec),
                started_at=now(),
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
            row = run_row(session, self.workspace, run_id)
            row.status = status
            row.finished_at = now()
            if summary is not None:
                row.summary_json = dumps(summary)
            if report_path is not None:
                row.report_path = str(report_path)

    def log_metrics(self, run_id: int, model_name: str, metrics: dict[str, float]) -> None:
        """Append one candidate model's metrics to a run (non-finite values are kept as null)."""
        with self._write() as session:
            run_row(session, self.workspace, run_id)
            session.add_all(
                MetricRow(run_id=run_id, model_name=model_name, name=name, value=finite(value))
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
        sha, manifest = store_artifact(self.artifacts, Path(model_dir))
        signature = signature_of(self._signing_key, sha) if self._signing_key else None
        for attempt in retries():
            with attempt, self._write() as session:
                project_id = project_id_of(session, self.workspace, project)
                stored = _artifact_row(session, sha, manifest)
                stored.signature = signature or stored.signature
                if run_id is not None:
                    run_row(session, self.workspace, run_id)
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
                    metrics_json=dumps(metrics or {}),
                    created_at=now(),
                )
                session.add(row)
                session.flush()
                return self._model_version(project, row, ())
        raise AssertionError("unreachable: retries raises after the last attempt")

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
        check_alias(alias)
        actor = actor or current_user()
        for attempt in retries():
            with attempt, self._write() as session:
                project_id = project_id_of(session, self.workspace, project)
                version_row(session, project, project_id, version)
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
                        at=now(),
                    )
                )

    def resolve(self, ref: str, *, verify: bool = False, actor: str | None = None) -> ModelVersion:
        """Find a version by ``name@alias``, ``name:3``, ``name/3`` or ``name`` (latest);
        ``verify``: check its files first (``verify``), as every loader of a model does."""
        project, alias, version = parse_ref(ref)
        with self._read() as session:
            project_id = project_id_of(session, self.workspace, project)
            if alias is not None:
                version = alias_target(session, project, project_id, alias)
            elif version is None:
                version = latest_version(session, self.workspace, project, project_id)
            row = version_row(session, project, project_id, version)
            found = self._model_version(project, row, aliases_of(session, project_id, version))
        if verify:
            self.verify(found, actor=actor)
        return found

    def verify(self, version: ModelVersion, *, actor: str | None = None) -> None:
        """Check every file of the version's artifact against the manifest recorded when it
        was registered, and (while a signing key is configured) its signature; a mismatch is
        appended to ``artifact_events`` and raised (``ArtifactMismatch`` names the file)."""
        with self._read() as session:
            row = session.get(ArtifactRow, version.artifact_sha)
            manifest = row.manifest_json if row is not None else None
            signature = row.signature if row is not None else None
        name = f"{version.project}:{version.version}"
        try:
            check_folder(version.path, version.artifact_sha, manifest, name)
            if self._signing_key:
                check_signature(self._signing_key, version.artifact_sha, signature, name)
        except ArtifactMismatch as error:
            with self._write() as session:
                session.add(
                    ArtifactEventRow(
                        project_id=project_id_of(session, self.workspace, version.project),
                        version=version.version,
                        artifact_sha=version.artifact_sha,
                        problem=str(error),
                        actor=actor or current_user(),
                        at=now(),
                    )
                )
            raise

    def sign(self, version: ModelVersion) -> bool:
        """Sign an unsigned artifact (registered before a key was configured) once its files
        match what was recorded; True if it was signed now. A wrong signature stays refused."""
        if not self._signing_key:
            raise RegistryError(f"no signing key is configured; set {SIGNING_KEY_ENV}")
        with self._read() as session:
            row = session.get(ArtifactRow, version.artifact_sha)
            recorded, signature = (row.manifest_json, row.signature) if row else (None, None)
        name = f"{version.project}:{version.version}"
        check_folder(version.path, version.artifact_sha, recorded, name)
        if signature is not None:
            check_signature(self._signing_key, version.artifact_sha, signature, name)
            return False
        files = folder_files(version.path)
        manifest = json.loads(recorded) if recorded else manifest_of(version.path, files)
        with self._write() as session:
            row = _artifact_row(session, version.artifact_sha, manifest)
            row.signature = signature_of(self._signing_key, version.artifact_sha)
        return True

    def versions(self, project: str | None = None) -> list[ModelVersion]:
        """Every registered version (of one project), ordered by project and version."""
        with self._read() as session:
            query = select(ProjectRow.name, ModelVersionRow).join(
                ProjectRow, ProjectRow.id == ModelVersionRow.project_id
            )
            if project is not None:
                query = query.where(
                    ProjectRow.id == project_id_of(session, self.workspace, project)
                )
            aliases = aliases_by_version(session)
            rows = session.execute(query.order_by(ProjectRow.name, ModelVersionRow.version))
            return [
                self._model_version(name, row, aliases.get((row.project_id, row.version), ()))
                for name, row in rows
            ]

    def aliases(self, project: str) -> dict[str, int]:
        """The project's aliases and the version each points at."""
        with self._read() as session:
            project_id = project_id_of(session, self.workspace, project)
            return alias_map(session, project_id)

    # ------------------------------------------------------------------ listings
    def audit_log(self, project: str | None = None) -> list[dict]:
        """Every alias move (of one project), oldest first."""
        fields = ("alias", "from_version", "to_version", "actor", "reason", "at")
        return self._events(AliasEventRow, fields, project)

    def artifact_events(self, project: str | None = None) -> list[dict]:
        """Every artifact found changed at load time (of one project), oldest first."""
        fields = ("version", "artifact_sha", "problem", "actor", "at")
        return self._events(ArtifactEventRow, fields, project)

    def _events(self, table: type, fields: tuple[str, ...], project: str | None) -> list[dict]:
        """Rows of an event table with their project's name, oldest first."""
        with self._read() as session:
            query = select(ProjectRow.name, table).join(
                ProjectRow, ProjectRow.id == table.project_id
            )
            if project is not None:
                query = query.where(
                    ProjectRow.id == project_id_of(session, self.workspace, project)
                )
            rows = session.execute(query.order_by(table.id))
            return [
                {
                    "id": row.id,
                    "project": name,
                    **{f: aware(row.at) if f == "at" else getattr(row, f) for f in fields},
                }
                for name, row in rows
            ]

    def runs(self, project: str | None = None) -> list[dict]:
        """Every run (of one project), oldest first, with its spec, summary and metrics."""
        with self._read() as session:
            query = select(ProjectRow.name, RunRow).join(
                ProjectRow, ProjectRow.id == RunRow.project_id
            )
            if project is not None:
                query = query.where(
                    ProjectRow.id == project_id_of(session, self.workspace, project)
                )
            rows = session.execute(query.order_by(RunRow.id)).all()
            metrics = metrics_by_run(session, [row.id for _, row in rows])
            return [run_dict(name, row, metrics.get(row.id, {})) for name, row in rows]

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
                    "created_at": aware(row.created_at),
                    "versions": counts.get(row.id, 0),
                }
                for row in session.scalars(select(ProjectRow).order_by(ProjectRow.name))
            ]

    # ------------------------------------------------------------------ sessions
    def _write(self) -> AbstractContextManager[Session]:
        """One write transaction, committed on success (``DatabaseUnavailable`` otherwise)."""
        return self._database.write()

    def _read(self) -> AbstractContextManager[Session]:
        return self._database.read()

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
            created_at=aware(row.created_at),
            aliases=aliases,
            artifact_sha=row.artifact_sha,
        )


def _artifact_row(session: Session, sha: str, manifest: dict[str, str]) -> ArtifactRow:
    """The artifact's row; added with ``manifest`` when it has none yet."""
    row = session.get(ArtifactRow, sha)
    if row is None:
        row = ArtifactRow(sha=sha, manifest_json=dump_manifest(manifest), created_at=now())
        session.add(row)
    return row


def _ensure_schema(database: Database, workspace: Path) -> None:
    """Create the tables and the schema_version row unless a current schema exists; an older
    schema gains the tables it lacks (every migration so far only adds tables)."""
    if _schema_version(database) == SCHEMA_VERSION:
        return
    for attempt in retries():
        with attempt, database.session(write=True) as session:
            create_tables(Base.metadata, session.connection())
            found = session.scalar(select(func.max(SchemaVersionRow.version)))
            if found is None or found < SCHEMA_VERSION:
                session.add(SchemaVersionRow(version=SCHEMA_VERSION))
            elif found > SCHEMA_VERSION:
                raise RegistryError(
                    f"workspace {workspace} has registry schema {found}, newer than this "
                    f"tailorkit's {SCHEMA_VERSION}; upgrade tailorkit"
                )


def _schema_version(database: Database) -> int | None:
    try:
        with database.session(write=False) as session:
            return session.scalar(select(func.max(SchemaVersionRow.version)))
    except (DBAPIError, DatabaseUnavailable):  # no tables yet (or no database: the write says)
        return None
