"""Per-tenant rate limits and quotas: a 429 with ``Retry-After`` once a tenant exceeds one.

- requests: a token bucket per tenant, ``tenant_rate`` requests per second with bursts of
  ``tenant_burst``, taken when the API key is authenticated (every authenticated endpoint);
- queued rows: at most ``tenant_queued_rows`` rows of one tenant waiting for or in a model
  call; a request that would pass it is refused before it queues.

A refusal is ``{"error": "...", "limit": "tenant_rate", ...}`` naming the setting (and its
``tailorkit serve`` option). 0 turns a limit off; the defaults are far above what one service
process answers, so only a runaway client meets them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tailorkit.serve.errors import ServiceError


class RateLimited(ServiceError):
    """429: the tenant went over ``limit``; ``retry_after`` whole seconds until it may retry."""

    def __init__(self, limit: str, message: str, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            429,
            f"{message}; retry after {seconds} s",
            headers={"Retry-After": str(seconds)},
            details={"limit": limit, "retry_after_s": seconds},
        )


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = burst, now

    def take(self, now: float, tokens: float = 1.0) -> float:
        """0 when the tokens were taken, else the seconds until they would be there."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= tokens:
            self.tokens -= tokens
            return 0.0
        return (tokens - self.tokens) / self.rate


class TenantLimits:
    """The request rate and queued-rows quota of every tenant, kept in this process."""

    def __init__(
        self,
        rate: float,
        burst: int,
        queued_rows: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.queued_rows = rate, max(1, burst), queued_rows
        self.clock = clock
        self._buckets: dict[int, TokenBucket] = {}
        self.queued: dict[int, int] = {}

    def admit(self, tenant_id: int, name: str) -> None:
        """Count one request of the tenant (``RateLimited`` past its rate)."""
        if self.rate <= 0:
            return
        now = self.clock()
        bucket = self._buckets.get(tenant_id)
        if bucket is None:
            bucket = self._buckets[tenant_id] = TokenBucket(self.rate, self.burst, now)
        wait = bucket.take(now)
        if wait:
            raise RateLimited(
                "tenant_rate",
                f"rate limit: tenant '{name}' sent more than {self.rate:g} requests per second "
                f"(bursts of {self.burst}; tenant_rate / --tenant-rate, --tenant-burst)",
                wait,
            )

    @contextmanager
    def rows(self, tenant_id: int, name: str, count: int) -> Iterator[None]:
        """Hold ``count`` queued rows of the tenant while the block runs (``RateLimited``
        when the tenant already has too many waiting)."""
        held = self.queued.get(tenant_id, 0)
        if self.queued_rows > 0 and held and held + count > self.queued_rows:
            raise RateLimited(
                "tenant_queued_rows",
                f"quota: tenant '{name}' has {held} rows waiting to be scored; at most "
                f"{self.queued_rows} may wait (tenant_queued_rows / --tenant-queued-rows)",
                1.0,
            )
        self.queued[tenant_id] = held + count
        try:
            yield
        finally:
            left = self.queued[tenant_id] - count
            if left:
                self.queued[tenant_id] = left
            else:
                del self.queued[tenant_id]
