"""POST one alert to a webhook, with retries and exponential backoff.

A try that cannot connect, times out (``timeout_s`` for each of connect, write and read), or
is answered 408, 429 or 5xx is retried after ``backoff_s * 2**n`` seconds (at most
``MAX_BACKOFF_S``), ``retries`` times; any other 4xx is final (the receiver refuses this
body: sending it again cannot help). Each request carries ``Idempotency-Key: alert-<id>``,
so a receiver that got a try whose answer was lost can drop the repeat.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tailorkit import __version__

MAX_BACKOFF_S = 30.0
RETRY_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class Delivery:
    """How a delivery ended: ``delivered`` or ``failed``, after ``attempts`` tries."""

    status: str
    attempts: int
    last_error: str | None = None


def post_with_retries(
    url: str,
    payload: dict[str, Any],
    *,
    retries: int,
    timeout_s: float,
    backoff_s: float = 0.5,
    idempotency_key: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST ``payload`` as JSON to ``url`` until a 2xx answer, or ``retries`` more tries."""
    headers = {"User-Agent": f"tailorkit/{__version__}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    error = None
    with httpx.Client(timeout=timeout_s, headers=headers, follow_redirects=False) as client:
        for attempt in range(1, retries + 2):
            if attempt > 1:
                sleep(min(backoff_s * 2 ** (attempt - 2), MAX_BACKOFF_S))
            error, final = _try(client, url, payload)
            if error is None:
                return Delivery("delivered", attempt)
            if final:
                return Delivery("failed", attempt, error)
    return Delivery("failed", retries + 1, error)


def _try(client: httpx.Client, url: str, payload: dict[str, Any]) -> tuple[str | None, bool]:
    """(what went wrong or None, whether it is final) for one POST."""
    try:
        answer = client.post(url, json=payload)
    except httpx.TimeoutException as failure:
        return f"timed out after {client.timeout.read:g} s ({type(failure).__name__})", False
    except httpx.TransportError as failure:
        return f"could not reach the webhook: {type(failure).__name__}: {failure}", False
    if answer.is_success:
        return None, False
    retry = answer.status_code in RETRY_STATUSES or answer.status_code >= 500
    return f"the webhook answered {answer.status_code} {answer.reason_phrase}".strip(), not retry
