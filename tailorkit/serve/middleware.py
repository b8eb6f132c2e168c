"""The pure-ASGI request middleware: request ids, the body-size limit, metrics, access log."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException

from tailorkit.serve.errors import internal_error_body
from tailorkit.serve.responses import dumps
from tailorkit.serve.service import Service

access_log = logging.getLogger("tailorkit.serve.access")


class _TooLarge(StarletteHTTPException):
    pass


class RequestMiddleware:
    """Request ids, the body-size limit (413), latency metrics and one access-log line."""

    def __init__(self, app, service: Service) -> None:
        self.app = app
        self.service = service
        self._series: dict[tuple, tuple[Any, Any, Any]] = {}  # label values -> metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        service = self.service
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        labels = {"tenant": "", "project": "", "model_version": "", "endpoint": "other"}
        state.update(request_id=request_id, labels=labels, started=started)
        response = {"status": 500, "started": False}
        limit = service.settings.max_body_bytes

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                response.update(status=message["status"], started=True)
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        declared = _content_length(scope)
        try:
            if declared is not None and declared > limit:
                message = f"request body of {declared} bytes exceeds the limit of {limit}"
                body = {"error": message, "request_id": request_id, "model_version": None}
                await _send_json(send_with_id, 413, body)
            else:
                await self._serve(scope, receive, send_with_id, limit, response)
        finally:
            elapsed = time.perf_counter() - started
            self._record(scope, request_id, labels, response["status"], elapsed)

    async def _serve(self, scope, receive, send, limit: int, response: dict[str, Any]) -> None:
        """The app's answer within the body-size limit; an unexpected exception becomes a JSON
        500 on the same connection (re-raised only once the response is under way, when
        closing the connection is the one way left to tell the client)."""
        received = [0]

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request":
                received[0] += len(message.get("body", b""))
                if received[0] > limit:
                    raise _TooLarge(413, f"request body exceeds the limit of {limit} bytes")
            return message

        self.service.in_flight += 1
        try:
            await self.app(scope, counted_receive, send)
        except Exception as error:
            if response["started"]:
                raise
            await _send_json(send, 500, internal_error_body(scope["state"], error))
        finally:
            self.service.in_flight -= 1

    def _record(
        self, scope, request_id: str, labels: dict[str, str], status: int, elapsed: float
    ) -> None:
        values = (labels["tenant"], labels["project"], labels["model_version"], labels["endpoint"])
        if labels["endpoint"] != "other" or labels["tenant"] or status >= 500:
            requests, latency, errors = self._metric_series(values, status)
            requests.inc()
            latency.observe(elapsed)
            if errors is not None:
                errors.inc()
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                "request_id=%s method=%s path=%s tenant=%s project=%s model_version=%s "
                "status=%s ms=%.2f",
                request_id,
                scope["method"],
                scope["path"],
                *values[:3],
                status,
                elapsed * 1000,
            )

    def _metric_series(self, values: tuple[str, ...], status: int) -> tuple[Any, Any, Any]:
        """The request counter, latency histogram and error counter (None below 400) of one
        label set, looked up once: ``labels()`` costs more than the update."""
        key = (*values, status)
        series = self._series.get(key)
        if series is None:
            service, code = self.service, str(status)
            series = (
                service.requests.labels(*values, code),
                service.latency.labels(*values),
                service.errors.labels(*values, code) if status >= 400 else None,
            )
            self._series[key] = series
        return series


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_json(send, status: int, body: dict[str, Any]) -> None:
    payload = dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
