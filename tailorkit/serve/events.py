"""The service's tables beside the registry's: tenants, grants, experiments, served requests,
assignments and feedback, in the same database (SQLite WAL or PostgreSQL by URL).

Durability: feedback is acknowledged only after its transaction commits, so a ``kill -9``
of the service never loses an acknowledged event. Served-request records are written by a
background thread in small groups (every ``flush_interval`` seconds) so that scoring does not
wait on a disk sync; a crash can lose at most the last group of *request logs*, never feedback.

No raw personal data is stored: unit ids (customers, users) are kept as a SHA-256 digest, and
request inputs are not stored, only the outputs (scores, decisions, reason codes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tailorkit.errors import RegistryError, TailorkitError
from tailorkit.registry import Registry
from tailorkit.registry.store import _WRITE_OPTION, NAME_PATTERN, _make_engine, create_tables

log = logging.getLogger("tailorkit.serve")

KEY_PREFIX = "tk"
EXPERIMENT_MODES = ("split", "shadow")


class ServeBase(DeclarativeBase):
    """Declarative base of the service tables (created beside the registry's)."""


class TenantRow(ServeBase):
    __tablename__ = "serve_tenants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    key_salt: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GrantRow(ServeBase):
    """A project belongs to exactly one tenant (unique project)."""

    __tablename__ = "serve_grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("serve_tenants.id"), index=True)
    project: Mapped[str] = mapped_column(String(200), unique=True)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExperimentRow(ServeBase):
    __tablename__ = "serve_experiments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20))
    arms_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ServedRequestRow(ServeBase):
    """One answered request: who, which model, which arm, outputs (never inputs)."""

    __tablename__ = "serve_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(32), unique=True)
    tenant_id: Mapped[int] = mapped_column(Integer, index=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    endpoint: Mapped[str] = mapped_column(String(20))
    alias: Mapped[str | None] = mapped_column(String(64))
    model_version: Mapped[int | None] = mapped_column(Integer)
    experiment_id: Mapped[int | None] = mapped_column(Integer, index=True)
    arm: Mapped[str | None] = mapped_column(String(64))
    unit_hash: Mapped[str | None] = mapped_column(String(64))
    n_rows: Mapped[int] = mapped_column(Integer)
    outputs_json: Mapped[str] = mapped_column(Text)
    shadow_json: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AssignmentRow(ServeBase):
    """The first exposure of a unit to an experiment, and the arm it got (sticky)."""

    __tablename__ = "serve_assignments"
    __table_args__ = (UniqueConstraint("experiment_id", "unit_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(Integer, index=True)
    unit_hash: Mapped[str] = mapped_column(String(64))
    arm: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FeedbackRow(ServeBase):
    __tablename__ = "serve_feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feedback_id: Mapped[str] = mapped_column(String(32), unique=True)
    request_id: Mapped[str] = mapped_column(String(32), index=True)
    tenant_id: Mapped[int] = mapped_column(Integer, index=True)
    project: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(200))
    row: Mapped[int | None] = mapped_column(Integer)
    observed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ----------------------------------------------------------------------------- public types
@dataclass(frozen=True)
class Tenant:
    id: int
    name: str


@dataclass(frozen=True)
class Arm:
    alias: str
    weight: float


@dataclass(frozen=True)
class Experiment:
    id: int
    project: str
    name: str
    mode: str
    arms: tuple[Arm, ...]
    status: str
    created_at: datetime
    stopped_at: datetime | None

    def assign(self, unit_id: str) -> Arm:
        """The arm of ``unit_id``: a stable hash, so the same unit always gets the same arm."""
        if self.mode == "shadow":
            return self.arms[0]
        point = unit_point(self.id, unit_id)
        total = sum(a.weight for a in self.arms)
        cumulative = 0.0
        for arm in self.arms:
            cumulative += arm.weight / total
            if point < cumulative:
                return arm
        return self.arms[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "mode": self.mode,
            "arms": [{"alias": a.alias, "weight": a.weight} for a in self.arms],
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
        }


def unit_point(experiment_id: int, unit_id: str) -> float:
    """A uniform number in [0, 1) from the experiment and the unit (SHA-256, not ``hash``)."""
    digest = hashlib.sha256(f"{experiment_id}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def unit_hash(unit_id: str) -> str:
    """The stored form of a unit id: a SHA-256 digest, so no raw identifier is kept."""
    return hashlib.sha256(f"tailorkit-unit:{unit_id}".encode()).hexdigest()


# ----------------------------------------------------------------------------- the store
class EventStore:
    """Tenants, grants, experiments and events of one workspace database."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._engine = _make_engine(registry.url)
        self._write_engine = self._engine.execution_options(**{_WRITE_OPTION: True})
        with self._write() as session:
            create_tables(ServeBase.metadata, session.connection())

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._engine) as session:
            yield session

    def ping(self) -> None:
        """Raise when the database cannot be read."""
        with self._read() as session:
            session.scalar(select(func.count()).select_from(TenantRow))

    # ------------------------------------------------------------------ tenants
    def create_tenant(self, name: str) -> str:
        """Create a tenant and return its API key (shown once; only a salted hash is kept)."""
        _check_tenant_name(name)
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(24)
        salt = secrets.token_hex(16)
        with self._write() as session:
            if session.scalar(select(TenantRow.id).where(TenantRow.name == name)) is not None:
                raise RegistryError(f"tenant '{name}' already exists; use `tenants rotate-key`")
            session.add(
                TenantRow(
                    name=name,
                    key_id=key_id,
                    key_salt=salt,
                    key_hash=_key_digest(salt, secret),
                    created_at=_now(),
                )
            )
        return f"{KEY_PREFIX}_{key_id}_{secret}"

    def rotate_key(self, name: str) -> str:
        """Replace a tenant's API key; the old key stops working. Returns the new key."""
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(24)
        salt = secrets.token_hex(16)
        with self._write() as session:
            row = self._tenant_row(session, name)
            row.key_id, row.key_salt, row.key_hash = key_id, salt, _key_digest(salt, secret)
        return f"{KEY_PREFIX}_{key_id}_{secret}"

    def authenticate(self, api_key: str) -> Tenant | None:
        """The tenant owning ``api_key``, or None (constant-time comparison of the hash)."""
        parts = api_key.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        with self._read() as session:
            row = session.scalar(select(TenantRow).where(TenantRow.key_id == parts[1]))
        if row is None or not hmac.compare_digest(
            row.key_hash, _key_digest(row.key_salt, parts[2])
        ):
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
                    "created_at": _aware(row.created_at).isoformat(),
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
            session.add(GrantRow(tenant_id=row.id, project=project, granted_at=_now()))

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
        self, project: str, arms: list[Arm], *, mode: str = "split", name: str | None = None
    ) -> Experiment:
        """Start an experiment; a project runs at most one at a time."""
        self.registry.solution_of(project)
        _check_arms(arms, mode)
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
                created_at=_now(),
            )
            session.add(row)
            session.flush()
            return _experiment(row)

    def stop_experiment(self, experiment_id: int) -> Experiment:
        with self._write() as session:
            row = session.get(ExperimentRow, experiment_id)
            if row is None:
                raise RegistryError(f"no experiment {experiment_id}")
            if row.status == "running":
                row.status, row.stopped_at = "stopped", _now()
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
        """Insert served-request records and first-exposure assignments in one transaction."""
        if not records:
            return
        assignments = {
            (r["experiment_id"], r["unit_hash"]): r
            for r in records
            if r.get("experiment_id") is not None and r.get("unit_hash")
        }
        with self._write() as session:
            session.execute(insert(ServedRequestRow), records)  # one executemany, no ORM objects
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
                session.execute(_insert_ignore(self._engine.dialect.name, rows))

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

    def add_feedback(self, record: dict[str, Any]) -> None:
        """Write one feedback event; returns only after the commit (durable acknowledgement)."""
        with self._write() as session:
            session.add(FeedbackRow(received_at=_now(), **record))

    def count(self, table: str, **where: Any) -> int:
        model = {
            "requests": ServedRequestRow,
            "feedback": FeedbackRow,
            "assignments": AssignmentRow,
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
                    "at": _aware(r.at).isoformat(),
                }
                for r in rows
            ]


class RequestLogWriter:
    """Writes served-request records from a queue in groups, on its own thread."""

    def __init__(self, store: EventStore, flush_interval: float = 0.05, max_group: int = 500):
        self.store = store
        self.flush_interval = flush_interval
        self.max_group = max_group
        self._queue: queue.Queue = queue.Queue()
        self._pending = 0
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="request-log", daemon=True)
        self._stopping = False
        self._thread.start()

    def put(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put(record)

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every record put so far is committed."""
        with self._lock:
            self._lock.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        self.flush()
        self._stopping = True
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stopping:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            try:
                group.append(self._queue.get(timeout=self.flush_interval))
                while len(group) < self.max_group:
                    group.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            stop = None in group
            group = [r for r in group if r is not None]
            try:
                self.store.write_requests(group)
            except Exception:  # the service keeps answering; the loss is logged
                log.exception("could not write %d request log record(s)", len(group))
            with self._lock:
                self._pending -= len(group)
                self._lock.notify_all()
            if stop:
                return


# ----------------------------------------------------------------------------- helpers
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
        created_at=_aware(row.created_at),
        stopped_at=_aware(row.stopped_at) if row.stopped_at else None,
    )


def _check_arms(arms: list[Arm], mode: str) -> None:
    if mode not in EXPERIMENT_MODES:
        raise TailorkitError(f"experiment mode must be one of {', '.join(EXPERIMENT_MODES)}")
    if len(arms) < 2:
        raise TailorkitError("an experiment needs at least two arms (e.g. champion and challenger)")
    if len({a.alias for a in arms}) != len(arms):
        raise TailorkitError("each alias may appear in one arm only")
    if mode == "shadow" and len(arms) != 2:
        raise TailorkitError("a shadow experiment has two arms: the live alias, then the shadow")
    if mode == "split" and any(not a.weight > 0 for a in arms):
        raise TailorkitError("every arm of a split experiment needs a weight above 0")


def _check_tenant_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name) or "_" in name or len(name) > 100:
        raise TailorkitError(
            f"tenant name {name!r} is invalid; use letters, digits, '-' or '.' (e.g. acme)"
        )


def _key_digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
