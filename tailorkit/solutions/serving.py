"""The serving side of the solution contract: how one loaded version answers the endpoints.

The service never knows a solution's internals: for a project it asks the solution for a
``ServingAdapter`` (``Solution.serving_adapter(version)``). The adapter declares the endpoint
kinds it answers (``predict``, ``recommend``, ``monitor``) and implements those, on plain
JSON-like data.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pandas as pd

from tailorkit.errors import TailorkitError
from tailorkit.registry import ModelVersion

MAX_GROUP_TEXT = 64
ENDPOINT_NOUNS = {
    "predict": "a scoring",
    "recommend": "a recommendation",
    "monitor": "a maintenance (RUL / monitoring)",
}


class UnsupportedEndpoint(TailorkitError):
    """The project's solution does not answer this endpoint kind."""


class ServingAdapter:
    """One loaded model version behind the service's endpoints.

    Subclasses set ``kinds`` and implement the matching methods; every method receives
    plain JSON-like data and returns JSON-like data. ``answer_batch`` gets the items of
    several requests at once (micro-batching: rows to score, or recommend requests) and
    returns one output dict per item.
    ``check_rows`` runs per request before batching, so one bad request cannot fail others;
    it raises ``DataError`` naming the row and field, and returns warnings.
    """

    kinds: ClassVar[frozenset[str]] = frozenset()
    protected: tuple[str, ...] = ()  # the version's features.protected (audited, not inputs)
    # The columns of a row the model takes (what the service may observe; empty: no rows),
    # and the spec's privacy columns ({"protected": [...], "personal": [...]}; None: unknown).
    input_columns: tuple[str, ...] = ()
    privacy: dict[str, list[str]] | None = None

    def __init__(self, version: ModelVersion, solution: str) -> None:
        self.version = version
        self.solution = solution

    def protected_values(self, rows: list[dict[str, Any]]) -> dict[str, list[Any]] | None:
        """Each protected attribute's value on each row, for an experiment's fairness
        guardrail: only these columns of a request are ever kept, a scalar each (a string cut
        to ``MAX_GROUP_TEXT`` characters; anything else, or a missing one, is None). None
        when the version declares no protected attribute."""
        if not self.protected:
            return None
        return {
            column: [_group_value(row.get(column)) for row in rows] for column in self.protected
        }

    def check_rows(self, rows: list[dict[str, Any]]) -> list[str]:
        raise self.unsupported("predict")

    def predict_rows(self, rows: list[dict[str, Any]], reasons: int) -> list[dict[str, Any]]:
        raise self.unsupported("predict")

    def answer_batch(self, items: list[dict[str, Any]], reasons: int) -> list[dict[str, Any]]:
        """What the micro-batcher calls: by default the items are rows to score."""
        return self.predict_rows(items, reasons)

    def is_cheap(self, rows: list[dict[str, Any]]) -> bool:
        """True when scoring ``rows`` takes well under a millisecond or two: the batcher then
        scores them on the event loop, saving two thread switches per request."""
        return False

    def recommend(self, request: dict[str, Any]) -> dict[str, Any]:
        raise self.unsupported("recommend")

    def monitor(self, request: dict[str, Any]) -> dict[str, Any]:
        raise self.unsupported("monitor")

    def unsupported(self, kind: str) -> UnsupportedEndpoint:
        return UnsupportedEndpoint(
            f"project '{self.version.project}' is a {self.solution} project, not "
            f"{ENDPOINT_NOUNS[kind]} project; it answers: {', '.join(sorted(self.kinds))}"
        )


def _group_value(value: Any) -> str | int | float | bool | None:
    if isinstance(value, str):
        return value[:MAX_GROUP_TEXT]
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return None


def type_problem(kind: str, value: Any) -> str | None:
    """Why ``value`` cannot feed a column of type ``kind`` (None when it can)."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN and infinity are not allowed; send null for a missing value"
    if kind == "numeric" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"must be a number or null, got {_describe(value)}"
    if kind == "boolean" and not isinstance(value, (bool, int, str)):
        return f"must be true/false or null, got {_describe(value)}"
    if kind == "boolean" and isinstance(value, str):
        if value.strip().lower() not in ("true", "false", "yes", "no", "1", "0", "y", "n"):
            return f"must be true/false or null, got {_describe(value)}"
    if kind == "datetime" and not isinstance(value, str):
        return f"must be a date string (e.g. 2024-05-31) or null, got {_describe(value)}"
    if kind == "datetime":
        try:
            pd.Timestamp(value)
        except (ValueError, TypeError):
            return f"must be a date string (e.g. 2024-05-31) or null, got {_describe(value)}"
    if kind == "categorical" and not isinstance(value, (str, int, float, bool)):
        return f"must be a string, number or null, got {_describe(value)}"
    return None


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return type(value).__name__
