"""Request bodies: strict JSON objects (unknown fields, NaN and infinity are refused)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

Scalar = float | int | str | bool | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PredictRequest(_Body):
    rows: list[dict[str, Scalar]] = Field(min_length=1, description="Raw feature rows.")
    alias: str | None = Field(None, description="Force an alias; bypasses any experiment.")
    unit_id: str | int | None = Field(
        None, description="Customer / user id for sticky A/B assignment (stored hashed)."
    )
    reasons: int = Field(3, ge=0, le=20, description="Reason codes per row.")


class RecommendRequest(_Body):
    user: str | int = Field(description="The user to recommend for.")
    k: int = Field(10, ge=1, le=1000)
    alias: str | None = None
    unit_id: str | int | None = None
    context: dict[str, Scalar] = {}


class MonitorRequest(_Body):
    asset: str | int = Field(description="The asset (machine, engine) id.")
    readings: list[dict[str, Scalar]] = Field(min_length=1, description="New sensor rows.")
    alias: str | None = None
    unit_id: str | int | None = None


class FeedbackRequest(_Body):
    request_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="The answered request.")
    outcome: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="click, purchase, default, diagnosis_confirmed, failure_observed, label...",
    )
    value: float | None = None
    label: str | int | bool | None = None
    row: int | None = Field(None, ge=0, description="Row of the request the outcome is for.")
    observed_at: datetime | None = None
