"""Request bodies: strict JSON objects (unknown fields, NaN and infinity are refused).

Every value a body carries can be stored, hashed and echoed: strings are valid Unicode (no
lone UTF-16 surrogates such as ``"\\ud800"``), numbers in rows fit a 64-bit float, and ids,
labels and row numbers fit a 64-bit integer. A field takes the JSON type it documents: an
integer field refuses ``true``, ``3.0`` and ``"3"``, a number field ``true`` and ``"1.5"``,
a date-time field a bare number (seconds or milliseconds?). Anything else is a 422 naming
the field.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT_MAX = int(sys.float_info.max)


def unicode_text(value: str) -> str:
    """``value`` if it encodes as UTF-8 (a lone surrogate, ``"\\ud800"``, does not)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise PydanticCustomError(
                "lone_surrogate",
                "the string holds a lone UTF-16 surrogate ({char}) at position {position}, "
                "which is not valid Unicode text",
                {"char": ascii(value[error.start]), "position": error.start},
            ) from None
    return value


def utc_convertible(value: datetime) -> datetime:
    """``value`` if it converts to UTC (0001-01-01T00:00+01:00 does not)."""
    if value.tzinfo is not None:
        try:
            value.astimezone(timezone.utc)
        except OverflowError:
            raise PydanticCustomError(
                "datetime_range", "the date falls outside years 1 to 9999 in UTC"
            ) from None
    return value


def date_time_text(value: Any) -> Any:
    """``value`` unless it is a number (a datetime parses from ISO 8601 text only)."""
    if isinstance(value, (int, float)):
        raise PydanticCustomError(
            "datetime_text", "send an ISO 8601 date-time string, e.g. 2024-05-01T12:00:00Z"
        )
    return value


Text = Annotated[str, AfterValidator(unicode_text)]
Int = Annotated[int, Field(strict=True)]  # JSON integers only: no true, 3.0 or "3"
Number = Annotated[float, Field(strict=True)]  # JSON numbers only: no true or "1.5"
Int64 = Annotated[Int, Field(ge=INT64_MIN, le=INT64_MAX)]
# An integer a float column can take (a 400-digit number cannot); the schema keeps the
# 309-digit bounds out of the OpenAPI document.
RowInt = Annotated[
    Int,
    Field(ge=-FLOAT_MAX, le=FLOAT_MAX),
    WithJsonSchema({"type": "integer", "description": "within the range of a 64-bit float"}),
]
Scalar = RowInt | float | Text | bool | None
UnitId = Text | Int64
Row = dict[Text, Scalar]  # column names are text too: echoed in warnings and errors


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _keys_are_text(cls, value: object) -> object:
        """A body key that is not valid Unicode is a 422 naming it (pydantic's own check of
        an unknown key names no field, and reads like a body sent as text: a 400)."""
        for key in value if isinstance(value, dict) else ():
            if isinstance(key, str) and not key.isascii():
                try:
                    key.encode("utf-8")
                except UnicodeEncodeError:
                    raise PydanticCustomError(
                        "lone_surrogate",
                        "the key {key} holds a lone UTF-16 surrogate, which is not valid "
                        "Unicode text",
                        {"key": ascii(key)},
                    ) from None
        return value


class PredictRequest(_Body):
    rows: list[Row] = Field(min_length=1, description="Raw feature rows.")
    alias: Text | None = Field(None, description="Force an alias; bypasses any experiment.")
    unit_id: UnitId | None = Field(
        None, description="Customer / user id for sticky A/B assignment (stored hashed)."
    )
    reasons: Int = Field(3, ge=0, le=20, description="Reason codes per row.")


class RecommendRequest(_Body):
    user: UnitId = Field(description="The user to recommend for.")
    k: Int = Field(10, ge=1, le=1000)
    alias: Text | None = None
    unit_id: UnitId | None = None
    context: Row = {}


class MonitorRequest(_Body):
    asset: UnitId = Field(description="The asset (machine, engine) id.")
    readings: list[Row] = Field(min_length=1, description="New sensor rows.")
    alias: Text | None = None
    unit_id: UnitId | None = None


class FeedbackRequest(_Body):
    request_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="The answered request.")
    outcome: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="click, purchase, default, diagnosis_confirmed, failure_observed, label...",
    )
    value: Number | None = None
    label: Text | Int64 | bool | None = None
    row: Int | None = Field(
        None, ge=0, le=INT64_MAX, description="Row of the request the outcome is for."
    )
    observed_at: (
        Annotated[datetime, BeforeValidator(date_time_text), AfterValidator(utc_convertible)] | None
    ) = None


class ErrorBody(BaseModel):
    """Every error answer: one line naming the problem, with the request's id."""

    error: str = Field(description="What went wrong, e.g. `body.rows[0].income: ...`.")
    request_id: str = Field(description="The id in the log and the `X-Request-Id` header.")
    model_version: int | None = Field(description="The version that answered, if one did.")
    limit: str | None = Field(None, description="429 only: the limit that was exceeded.")
    retry_after_s: int | None = Field(None, description="429 only: seconds until a retry.")


ERRORS = {
    400: "The body is not JSON (or not UTF-8).",
    401: "Missing or invalid API key.",
    403: "A tenant's key where an operator key is needed.",
    404: "No such project for this API key, or the project does not answer this endpoint.",
    409: "The Idempotency-Key was used before with another body.",
    413: "The body or the number of rows is over the service's limit.",
    422: "A field is missing or wrong; the message names it.",
    429: "The tenant is over a rate or row limit; retry after `Retry-After` seconds.",
    503: "The database or the model of this route is unavailable.",
}


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` for the given error statuses, all with the ``ErrorBody`` shape."""
    return {status: {"model": ErrorBody, "description": ERRORS[status]} for status in statuses}


AUTHENTICATED = (401, 429, 503)  # every route that takes an API key
WITH_PROJECT = (404, 422)  # a project (or request id) in the path or body, or a bad parameter
WITH_BODY = (400, 413)  # a JSON body
