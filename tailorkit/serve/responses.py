"""JSON responses rendered by orjson, stamped with the request id and model version."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS  # int keys as json does


class FastJSONResponse(JSONResponse):
    """JSON rendered by orjson (several times faster than ``json``; NaN/inf become null)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


def dumps(value: Any) -> bytes:
    """JSON bytes; numpy values, int keys and dates as the stdlib encoder wrote them."""
    return orjson.dumps(value, default=str, option=_OPTIONS)


def answer(request: Request, body: dict[str, Any], status: int = 200) -> JSONResponse:
    """``body`` with the request's ``request_id`` and ``model_version`` filled in."""
    body.setdefault("request_id", request.state.request_id)
    body.setdefault("model_version", getattr(request.state, "model_version", None))
    return FastJSONResponse(body, status_code=status)


def error_answer(request: Request, status: int, message: str, **details: Any) -> JSONResponse:
    """The one error shape: ``{"error": message, "request_id": ..., "model_version": ...}``
    (plus any ``details``, such as a 429's ``limit``)."""
    return answer(request, {"error": message, **details}, status=status)
