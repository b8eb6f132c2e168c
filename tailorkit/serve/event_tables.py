"""The service's tables beside the registry's: tenants, operators, grants, experiments, served
requests, sampled request inputs (observations), assignments, feedback and alerts (SQLAlchemy
models; the same schema on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class ServeBase(DeclarativeBase):
    """Declarative base of the service tables (created beside the registry's)."""


class KeyHolder:
    """Columns of a named holder of one API key (``serve/api_keys.py``): never the key itself."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    key_salt: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TenantRow(KeyHolder, ServeBase):
    __tablename__ = "serve_tenants"


class OperatorRow(KeyHolder, ServeBase):
    """Whoever runs the service: its key opens ``/metrics`` and readiness details, and no
    tenant's projects (a table of its own, so a key's kind is in its row, not a flag)."""

    __tablename__ = "serve_operators"


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
    plan_json: Mapped[str | None] = mapped_column(Text)  # records.ExperimentPlan


class DecisionRow(ServeBase):
    """One stored decision of an experiment with the analysis that produced it."""

    __tablename__ = "serve_experiment_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(Integer, index=True)
    decision: Mapped[str] = mapped_column(String(20))
    action: Mapped[str | None] = mapped_column(String(20))  # promoted / halted, if acted on
    actor: Mapped[str] = mapped_column(String(100))
    analysis_json: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ServedRequestRow(ServeBase):
    """One answered request: who, which model, which arm, outputs (never inputs, but for the
    protected attributes of an experiment's scored rows, which its fairness guardrail needs);
    and a request of an experiment that failed on its arm's model (``status`` 5xx, no
    outputs), which its error-rate guardrail counts. ``status`` NULL: an older row, answered."""

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
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # retention
    status: Mapped[int | None] = mapped_column(Integer)  # HTTP status of the answer
    protected_json: Mapped[str | None] = mapped_column(Text)  # {attribute: [value per row]}


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
    """One outcome; ``idempotency_key`` (the client's ``Idempotency-Key``, unique per tenant)
    and ``body_digest`` (SHA-256 of the canonical body) make a retried POST answer the first
    event instead of storing a second one."""

    __tablename__ = "serve_feedback"
    __table_args__ = (
        Index("ix_serve_feedback_idempotency", "tenant_id", "idempotency_key", unique=True),
    )
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
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    body_digest: Mapped[str | None] = mapped_column(String(64))


class AlertRow(ServeBase):
    """One alert event (``loop/alerts.py``) and its delivery to the spec's webhook:
    ``status`` is ``stored`` (no webhook), ``pending``, ``delivered`` or ``failed`` (after
    ``attempts`` tries; ``last_error`` says why). The index serves the cooldown's lookup."""

    __tablename__ = "serve_alerts"
    __table_args__ = (Index("ix_serve_alerts_rule", "project", "rule", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    details_json: Mapped[str] = mapped_column(Text)
    model_version: Mapped[int | None] = mapped_column(Integer)
    window_label: Mapped[str | None] = mapped_column(String(40))  # the monitoring window
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ObservationRow(ServeBase):
    """One sampled input row of an answered request (``serve/observations.py``): the model's
    input columns without the spec's protected ones, personal ones as HMAC-SHA256 hashes."""

    __tablename__ = "serve_observations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(32), index=True)
    tenant_id: Mapped[int] = mapped_column(Integer)
    project: Mapped[str] = mapped_column(String(200), index=True)
    model_version: Mapped[int | None] = mapped_column(Integer)
    row: Mapped[int] = mapped_column(Integer)
    inputs_json: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # retention
