"""The service's event store: tenants and their keys, grants, experiments, served requests,
assignments and feedback, in the registry's database (SQLite WAL or PostgreSQL by URL).

Durability: feedback is acknowledged only after its transaction commits, so a ``kill -9``
of the service never loses an acknowledged event. Served-request records are written by a
background thread in small groups (every ``flush_interval`` seconds) so that scoring does not
wait on a disk sync; a crash can lose at most the last group of *request logs*, never feedback.

No raw personal data is stored: unit ids (customers, users) are kept as an HMAC-SHA256 under
the workspace's secret (``registry.workspace_secret``, purpose ``unit-id``), and request inputs
are stored only as a sample (``observations``: the model's input columns without the spec's
protected ones, personal ones hashed) beside every output (scores, decisions, reason codes).
Feedback sent with an ``Idempotency-Key`` is stored once per (tenant, key); served-request
records are deleted after the retention window (``request_retention``) unless feedback or a
running experiment needs them.
"""

from __future__ import annotations

import json
import logging
from contextlib import AbstractContextManager
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import (
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tailorkit.errors import RegistryError
from tailorkit.registry import Registry
from tailorkit.registry.convert import aware, now
from tailorkit.registry.engine import Database, create_tables
from tailorkit.registry.schema_upgrade import add_missing_columns
from tailorkit.registry.workspace_secret import workspace_secret
from tailorkit.serve import request_retention
from tailorkit.serve.alert_store import AlertStore
from tailorkit.serve.api_keys import (
    TENANT_PREFIX,
    check_holder_name,
    issue_key,
    key_matches,
    split_key,
)
from tailorkit.serve.event_tables import (
    AssignmentRow,
    ExperimentRow,
    FeedbackRow,
    GrantRow,
    ObservationRow,
    ServeBase,
    ServedRequestRow,
    TenantRow,
)
from tailorkit.serve.observations import OBSERVED_INPUT_PURPOSE, observation_rows
from tailorkit.serve.operators import OperatorStore
from tailorkit.serve.records import (
    Arm,
    Experiment,
    ExperimentPlan,
    StoredFeedback,
    Tenant,
    check_arms,
    check_plan,
    unit_hash,
    unit_point,
)
from tailorkit.serve.request_log import RequestLogWriter

__all__ = [
    "Arm",
    "AssignmentRow",
    "EventStore",
    "Experiment",
    "ExperimentRow",
    "FeedbackRow",
    "GrantRow",
    "RequestLogWriter",
    "ServedRequestRow",
    "Tenant",
    "TenantRow",
    "unit_hash",
    "unit_point",
]

log = logging.getLogger("tailorkit.serve")

UNIT_ID_PURPOSE = "unit-id"  # the workspace-secret key that hashes unit ids


# ----------------------------------------------------------------------------- the store
class EventStore:
    """Tenants, grants, experiments and events of one workspace database."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._database = Database(registry.url, _create_tables)
        self.operators = OperatorStore(self._database)
        self.alerts = AlertStore(self._database)

    def close(self) -> None:
        self._database.close()

    def _write(self) -> AbstractContextManager[Session]:
        """One committed write transaction; ``DatabaseUnavailable`` when it cannot commit."""
        return self._database.write()

    def _read(self) -> AbstractContextManager[Session]:
        return self._database.read()

    def write(self) -> AbstractContextManager[Session]:
        """A write transaction over the service tables (for ``serve`` modules that own one)."""
        return self._write()

    def read(self) -> AbstractContextManager[Session]:
        """A read-only session, for the serve layer's queries kept in their own modules."""
        return self._database.read()

    @cached_property
    def _unit_key(self) -> bytes:
        return workspace_secret(self.registry.workspace, UNIT_ID_PURPOSE)

    @cached_property
    def _observed_key(self) -> bytes:
        return workspace_secret(self.registry.workspace, OBSERVED_INPUT_PURPOSE)

    def unit_hash(self, unit_id: str) -> str:
        """The stored form of ``unit_id``: the same in every process and after a restart."""
        return unit_hash(unit_id, self._unit_key)

    def ping(self) -> None:
        """Raise when the database cannot be read."""
        with self._read() as session:
            session.scalar(select(func.count()).select_from(TenantRow))

    # ------------------------------------------------------------------ tenants
    def create_tenant(self, name: str) -> str:
        """Create a tenant and return its API key (shown once; only a salted hash is kept)."""
        check_holder_name(name, "tenant")
        key = issue_key(TENANT_PREFIX)
        with self._write() as session:
            if session.scalar(select(TenantRow.id).where(TenantRow.name == name)) is not None:
                raise RegistryError(f"tenant '{name}' already exists; use `tenants rotate-key`")
            session.add(TenantRow(name=name, created_at=now(), **key.columns()))
        return key.text

    def rotate_key(self, name: str) -> str:
        """Replace a tenant's API key; the old key stops working. Returns the new key."""
        key = issue_key(TENANT_PREFIX)
        with self._write() as session:
            row = self._tenant_row(session, name)
            row.key_id, row.key_salt, row.key_hash = key.key_id, key.key_salt, key.key_hash
        return key.text

    def authenticate(self, api_key: str) -> Tenant | None:
        """The tenant owning ``api_key``, or None (constant-time comparison of the hash)."""
        parts = split_key(api_key, TENANT_PREFIX)
        if parts is None:
            return None
        with self._read() as session:
            row = session.scalar(select(TenantRow).where(TenantRow.key_id == parts[0]))
        if row is None or not key_matches(row.key_salt, row.key_hash, parts[1]):
            return None
        return Tenant(row.id, row.name)

    def tenants(self) -> list[dict[str, Any]]:
        with self._read() as session:
            grants: dict[int, list[str]] = {}
            for tenant_id, project in session.execute(
                select(GrantRow.tenant_id, GrantRow.project).order_by(GrantRow.project)
            ):
                grants.setdefault(tenant_id, []).append(project)
            return [
                {
                    "name": row.name,
                    "key_id": row.key_id,
                    "projects": grants.get(row.id, []),
                    "created_at": aware(row.created_at).isoformat(),
                }
                for row in session.scalars(select(TenantRow).order_by(TenantRow.name))
            ]

    def grant(self, tenant: str, project: str) -> None:
        """Give ``project`` to ``tenant``; a project belongs to one tenant only."""
        self.registry.solution_of(project)  # the project must exist
        with self._write() as session:
            row = self._tenant_row(session, tenant)
            owner = session.scalar(select(GrantRow).where(GrantRow.project == project))
            if owner is not None:
                if owner.tenant_id == row.id:
                    return
                other = session.get(TenantRow, owner.tenant_id)
                raise RegistryError(
                    f"project '{project}' already belongs to tenant '{other.name}'; "
                    f"run `tailorkit tenants revoke {other.name} {project}` first"
                )
            session.add(GrantRow(tenant_id=row.id, project=project, granted_at=now()))

    def revoke(self, tenant: str, project: str) -> None:
        with self._write() as session:
            row = self._tenant_row(session, tenant)
            grant = session.scalar(
                select(GrantRow).where(GrantRow.project == project, GrantRow.tenant_id == row.id)
            )
            if grant is None:
                raise RegistryError(f"tenant '{tenant}' has no project '{project}'")
            session.delete(grant)

    def projects_of(self, tenant_id: int) -> set[str]:
        with self._read() as session:
            return set(
                session.scalars(select(GrantRow.project).where(GrantRow.tenant_id == tenant_id))
            )

    def project_owners(self) -> dict[str, int]:
        """Each granted project and the id of the tenant it belongs to."""
        with self._read() as session:
            return dict(session.execute(select(GrantRow.project, GrantRow.tenant_id)).all())

    def granted_projects(self) -> list[str]:
        with self._read() as session:
            return list(session.scalars(select(GrantRow.project).order_by(GrantRow.project)))

    def _tenant_row(self, session: Session, name: str) -> TenantRow:
        row = session.scalar(select(TenantRow).where(TenantRow.name == name))
        if row is None:
            raise RegistryError(f"no tenant '{name}'; create it with `tailorkit tenants create`")
        return row

    # ------------------------------------------------------------------ experiments
    def create_experiment(
        self,
        project: str,
        arms: list[Arm],
        *,
        mode: str = "split",
        name: str | None = None,
        plan: ExperimentPlan | None = None,
    ) -> Experiment:
        """Start an experiment (with the ``plan`` that decides it); one per project at a time."""
        self.registry.solution_of(project)
        check_arms(arms, mode)
        check_plan(plan, arms, mode)
        known = self.registry.aliases(project)
        for arm in arms:
            if arm.alias not in known:
                listed = ", ".join(sorted(known)) or "none"
                raise RegistryError(
                    f"project '{project}' has no alias '{arm.alias}' (aliases: {listed}); "
                    f"set it with `tailorkit promote {project} VERSION --alias {arm.alias}`"
                )
        with self._write() as session:
            running = session.scalar(
                select(ExperimentRow).where(
                    ExperimentRow.project == project, ExperimentRow.status == "running"
                )
            )
            if running is not None:
                raise RegistryError(
                    f"project '{project}' already runs experiment {running.id} "
                    f"('{running.name}'); stop it first with `tailorkit experiments stop "
                    f"{running.id}`"
                )
            row = ExperimentRow(
                project=project,
                name=name or "-vs-".join(a.alias for a in arms),
                mode=mode,
                arms_json=json.dumps([{"alias": a.alias, "weight": a.weight} for a in arms]),
                status="running",
                created_at=now(),
                plan_json=json.dumps(plan.as_dict()) if plan else None,
            )
            session.add(row)
            session.flush()
            return _experiment(row)

    def stop_experiment(self, experiment_id: int, status: str = "stopped") -> Experiment:
        """End a running experiment as ``stopped`` (by a person), ``shipped`` or ``halted``."""
        with self._write() as session:
            row = session.get(ExperimentRow, experiment_id)
            if row is None:
                raise RegistryError(f"no experiment {experiment_id}")
            if row.status == "running":
                row.status, row.stopped_at = status, now()
            return _experiment(row)

    def experiments(
        self, project: str | None = None, *, projects: set[str] | None = None
    ) -> list[Experiment]:
        with self._read() as session:
            query = select(ExperimentRow).order_by(ExperimentRow.id)
            if project is not None:
                query = query.where(ExperimentRow.project == project)
            rows = [_experiment(r) for r in session.scalars(query)]
        return [e for e in rows if projects is None or e.project in projects]

    def running_experiments(self) -> dict[str, Experiment]:
        """The running experiment of each project that has one."""
        with self._read() as session:
            rows = session.scalars(select(ExperimentRow).where(ExperimentRow.status == "running"))
            return {row.project: _experiment(row) for row in rows}

    def experiment_summary(self, experiment_id: int) -> dict[str, Any]:
        """Counts per arm: units assigned, exposures (requests), feedback events."""
        with self._read() as session:
            units = dict(
                session.execute(
                    select(AssignmentRow.arm, func.count())
                    .where(AssignmentRow.experiment_id == experiment_id)
                    .group_by(AssignmentRow.arm)
                ).all()
            )
            exposures = dict(
                session.execute(
                    select(ServedRequestRow.arm, func.count())
                    .where(ServedRequestRow.experiment_id == experiment_id)
                    .group_by(ServedRequestRow.arm)
                ).all()
            )
            outcomes = dict(
                session.execute(
                    select(ServedRequestRow.arm, func.count(FeedbackRow.id))
                    .join(FeedbackRow, FeedbackRow.request_id == ServedRequestRow.request_id)
                    .where(ServedRequestRow.experiment_id == experiment_id)
                    .group_by(ServedRequestRow.arm)
                ).all()
            )
        arms = sorted(set(units) | set(exposures))
        return {
            arm: {
                "units": units.get(arm, 0),
                "exposures": exposures.get(arm, 0),
                "feedback": outcomes.get(arm, 0),
            }
            for arm in arms
        }

    # ------------------------------------------------------------------ events
    def write_requests(self, records: list[dict[str, Any]]) -> None:
        """Insert served-request records, their observed input rows and first-exposure
        assignments in one transaction."""
        if not records:
            return
        observed = observation_rows(records, self._observed_key)
        assignments = {
            (r["experiment_id"], r["unit_hash"]): r
            for r in records
            if r.get("experiment_id") is not None and r.get("unit_hash")
        }
        with self._write() as session:
            session.execute(insert(ServedRequestRow), records)  # one executemany, no ORM objects
            if observed:
                session.execute(insert(ObservationRow), observed)
            if assignments:
                rows = [
                    {
                        "experiment_id": eid,
                        "unit_hash": unit,
                        "arm": record["arm"],
                        "first_seen_at": record["at"],
                    }
                    for (eid, unit), record in assignments.items()
                ]
                session.execute(_insert_ignore(self._database.engine.dialect.name, rows))

    def request_owner(self, request_id: str) -> tuple[int, str, int | None] | None:
        """(tenant id, project, model version) of a logged request, or None."""
        with self._read() as session:
            row = session.execute(
                select(
                    ServedRequestRow.tenant_id,
                    ServedRequestRow.project,
                    ServedRequestRow.model_version,
                ).where(ServedRequestRow.request_id == request_id)
            ).first()
        return tuple(row) if row else None

    def add_feedback(self, record: dict[str, Any]) -> StoredFeedback:
        """Write one feedback event; returns only after the commit (durable acknowledgement).

        With an ``idempotency_key`` the unique index on (tenant, key) decides: when a row with
        that key exists (a retry, or a concurrent twin that committed first) nothing is
        written and that row is returned (``replayed``), for the caller to compare digests."""
        try:
            with self._write() as session:
                session.add(FeedbackRow(received_at=now(), **record))
        except IntegrityError:
            stored = self._feedback_by_key(record["tenant_id"], record.get("idempotency_key"))
            if stored is None:
                raise
            return stored
        return StoredFeedback(record["feedback_id"], record.get("body_digest"), replayed=False)

    def _feedback_by_key(self, tenant_id: int, key: str | None) -> StoredFeedback | None:
        if key is None:
            return None
        with self._read() as session:
            row = session.execute(
                select(FeedbackRow.feedback_id, FeedbackRow.body_digest).where(
                    FeedbackRow.tenant_id == tenant_id, FeedbackRow.idempotency_key == key
                )
            ).first()
        return None if row is None else StoredFeedback(row[0], row[1], replayed=True)

    # ------------------------------------------------------------------ retention
    def compact_requests(
        self, before: datetime, *, dry_run: bool = False
    ) -> request_retention.Compaction:
        """Delete served-request records older than ``before`` that nothing needs."""
        return request_retention.compact(self._database, before, dry_run=dry_run)

    def delete_expired(
        self, before: datetime, after: request_retention.Cursor | None, table: str = "requests"
    ) -> tuple[int, request_retention.Cursor | None]:
        """One retention batch of the service's sweep over ``table`` (``requests`` or
        ``observations``; ``request_retention.delete_expired``)."""
        return request_retention.delete_expired(self._database, before, after, table=table)

    def count(self, table: str, **where: Any) -> int:
        model = {
            "requests": ServedRequestRow,
            "feedback": FeedbackRow,
            "assignments": AssignmentRow,
            "observations": ObservationRow,
        }[table]
        with self._read() as session:
            query = select(func.count()).select_from(model)
            for column, value in where.items():
                query = query.where(getattr(model, column) == value)
            return int(session.scalar(query) or 0)

    def recent_requests(self, tenant_id: int, project: str, limit: int) -> list[dict[str, Any]]:
        with self._read() as session:
            rows = session.scalars(
                select(ServedRequestRow)
                .where(ServedRequestRow.tenant_id == tenant_id, ServedRequestRow.project == project)
                .order_by(ServedRequestRow.id.desc())
                .limit(limit)
            )
            return [
                {
                    "request_id": r.request_id,
                    "endpoint": r.endpoint,
                    "alias": r.alias,
                    "model_version": r.model_version,
                    "experiment_id": r.experiment_id,
                    "arm": r.arm,
                    "n_rows": r.n_rows,
                    "latency_ms": r.latency_ms,
                    "at": aware(r.at).isoformat(),
                }
                for r in rows
            ]


# ----------------------------------------------------------------------------- helpers
def _create_tables(database: Database) -> None:
    """Create the tables; a workspace of an older tailorkit gains the columns and indexes
    added since (feedback idempotency, the request log's time index, request status and
    protected attributes)."""
    with database.session(write=True) as session:
        create_tables(ServeBase.metadata, session.connection())
        added = add_missing_columns(ServeBase.metadata, session.connection())
    if added:
        log.info("upgraded the service tables: added %s", ", ".join(added))


def _insert_ignore(dialect: str, rows: list[dict[str, Any]]):
    if dialect == "postgresql":
        return postgresql.insert(AssignmentRow).values(rows).on_conflict_do_nothing()
    return sqlite.insert(AssignmentRow).values(rows).on_conflict_do_nothing()


def _experiment(row: ExperimentRow) -> Experiment:
    return Experiment(
        id=row.id,
        project=row.project,
        name=row.name,
        mode=row.mode,
        arms=tuple(Arm(a["alias"], float(a["weight"])) for a in json.loads(row.arms_json)),
        status=row.status,
        created_at=aware(row.created_at),
        stopped_at=aware(row.stopped_at) if row.stopped_at else None,
        plan=_plan(row.plan_json),
    )


def _plan(text: str | None) -> ExperimentPlan | None:
    if not text:
        return None
    plan = json.loads(text)
    return ExperimentPlan(**{**plan, "guardrails": tuple(plan["guardrails"])})
