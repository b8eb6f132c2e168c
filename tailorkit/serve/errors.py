"""Service errors and the handlers that turn every failure into one JSON line.

A validation failure names its first problem as ``body.rows[0].income: message``; malformed
JSON is a 400; an unexpected exception is a 500 that points at the log, never a traceback
(rendered by ``serve/middleware.py``, so the connection stays open and the 500 is counted).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tailorkit.errors import DatabaseUnavailable, RegistryError, TailorkitError
from tailorkit.serve.adapters import UnsupportedEndpoint
from tailorkit.serve.responses import error_answer
from tailorkit.serve.schemas import FLOAT_MAX

log = logging.getLogger("tailorkit.serve")


class ServiceError(TailorkitError):
    """An HTTP error with a status code and a one-line message (and optional response headers
    and extra JSON fields, e.g. a 429's ``Retry-After`` and the limit's name)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.details = details or {}


def install_error_handlers(app: FastAPI) -> None:
    """Every error, ours or the framework's, answered as ``{"error": ..., ...}``."""

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError):
        response = error_answer(request, error.status, str(error), **error.details)
        response.headers.update(error.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError):
        status, message = validation_answer(error.errors())
        return error_answer(request, status, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        response = error_answer(request, error.status_code, str(error.detail))
        response.headers.update(error.headers or {})  # a 405's Allow
        return response

    @app.exception_handler(DatabaseUnavailable)
    async def database_unavailable(request: Request, error: DatabaseUnavailable):
        return error_answer(request, 503, str(error))

    @app.exception_handler(TailorkitError)
    async def user_error(request: Request, error: TailorkitError):
        status = 404 if isinstance(error, (RegistryError, UnsupportedEndpoint)) else 422
        return error_answer(request, status, str(error))


def internal_error_body(state: dict[str, Any], error: Exception) -> dict[str, Any]:
    """The JSON 500 of an unexpected exception (logged with its traceback, never sent)."""
    request_id = state.get("request_id", "?")
    log.error("request %s failed", request_id, exc_info=error)
    return {
        "error": f"internal error ({type(error).__name__}); see the log",
        "request_id": request_id,
        "model_version": state.get("model_version"),
    }


def validation_answer(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """(status, message): 400 for a body that is not JSON at all, 422 for a wrong one."""
    invalid = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if invalid is not None:
        detail = (invalid.get("ctx") or {}).get("error", "invalid JSON")
        return 400, f"malformed JSON body: {detail}"
    if any(
        _location(e.get("loc", ())) == "body" and isinstance(e.get("input"), (bytes, str))
        for e in errors
    ):  # not sent as JSON at all
        return 400, validation_message(errors)
    return 422, validation_message(errors)


def validation_message(errors: list[dict[str, Any]]) -> str:
    """The first validation problem as one line: ``body.rows[0].income: message``.

    A value failing every member of a union reports once, with its most telling message:
    NaN, infinity or a too-large number first, then a broken constraint (a lone surrogate, a
    bound), then a wrong type."""
    problems: dict[str, tuple[int, str]] = {}
    for error in errors:
        path = _location(error.get("loc", ()))
        rank, message = _explained(error, path)
        if path not in problems or rank < problems[path][0]:
            problems[path] = (rank, message)
    path, (_rank, message) = next(iter(problems.items()))
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return f"{path}: {message}{more}"


def _explained(error: dict[str, Any], path: str) -> tuple[int, str]:
    """(rank, message) of one error: a lower rank tells more about what is wrong."""
    message = error.get("msg", "invalid value")
    kind = error.get("type", "")
    value = error.get("input")
    if type(value) is int and abs(value) > FLOAT_MAX:
        return 0, f"a {len(str(abs(value)))}-digit integer is beyond the range of a 64-bit float"
    if kind == "finite_number":
        return 0, "NaN and infinity are not allowed; send null for a missing value"
    if kind == "missing":
        return 1, "field required"
    if kind in ("model_attributes_type", "dict_type") and path == "body":
        return 1, "the request body must be a JSON object (Content-Type: application/json)"
    if kind.endswith(("_type", "_parsing")) or kind == "string_unicode":
        return 2, message
    return 1, message


_UNION_MEMBERS = {"float", "int", "str", "bool", "none", "list", "dict"}


def _location(parts: tuple) -> str:
    """``body.rows[0].income``; a bad key of a mapping as ``body.rows[0] key 'na\ufffdme'``."""
    path = ""
    for index, part in enumerate(parts):
        text = str(part)
        if text in _UNION_MEMBERS or text.startswith(("function-", "constrained-")):
            continue
        if text == "[key]":
            continue
        if index + 1 < len(parts) and parts[index + 1] == "[key]":
            path += f" key {text!r}"
        else:
            path += f"[{text}]" if isinstance(part, int) else (f".{text}" if path else text)
    return path
