"""Micro-batching: concurrent requests to one loaded model share a model call, in short turns.

``MicroBatcher`` queues the requests of one route and scores what queued while the previous
call ran, in one ``answer_batch`` call: no added wait at low load (``max_wait_ms=0``), large
batches under high load. Each call is one turn on the shared scoring thread
(``FairScheduler``) and holds a row budget: at most ``max_batch_rows`` rows, and no more rows
than add about ``turn_ms`` to the call (the time of a row is measured per route, with and
without reason codes). A large request is scored in several such slices, so another tenant's
request waits for one short slice, not for the whole request. A cheap call (one row on a fast
path) is answered on the event loop while no other request is in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from tailorkit.serve.adapters import Adapter
from tailorkit.serve.scheduling import FairScheduler

PROBE_ROWS = 8  # rows of the first call of a kind, before its cost per row is known
COST_MEMORY = 0.2  # weight of the latest call in the fit of a call's cost


class CallCost:
    """A model call's time as ``overhead + per_row * rows``, fitted on recent calls
    (exponentially weighted least squares): the row budget bounds the rows' share of a turn,
    so batching stays whole for a model whose every call has a large fixed cost."""

    def __init__(self) -> None:
        self.weight = self.rows = self.ms = self.rows2 = self.rows_ms = 0.0

    def add(self, rows: int, ms: float) -> None:
        keep = 1.0 - COST_MEMORY
        self.weight = keep * self.weight + 1.0
        self.rows = keep * self.rows + rows
        self.ms = keep * self.ms + ms
        self.rows2 = keep * self.rows2 + rows * rows
        self.rows_ms = keep * self.rows_ms + rows * ms

    def ms_per_row(self) -> float:
        """The marginal time of one row (all of a call's time per row until calls of
        different sizes were seen)."""
        mean_rows, mean_ms = self.rows / self.weight, self.ms / self.weight
        spread = self.rows2 / self.weight - mean_rows**2
        if spread < 1.0:
            return mean_ms / mean_rows
        slope = (self.rows_ms / self.weight - mean_rows * mean_ms) / spread
        return max(slope, 1e-6)


@dataclass
class _Job:
    rows: list[dict[str, Any]]
    reasons: int
    tenant: Hashable
    future: asyncio.Future
    taken: int = 0  # rows handed to a model call so far
    outputs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Piece:
    job: _Job
    start: int
    stop: int


class MicroBatcher:
    """Groups concurrent requests to one adapter (rows to score, users to recommend for)
    into ``answer_batch`` calls, each within the row budget of one turn."""

    def __init__(
        self,
        adapter: Adapter,
        scheduler: FairScheduler,
        *,
        max_batch_rows: int = 1024,
        turn_ms: float = 10.0,
        max_wait_ms: float = 0.0,
        on_batch: Callable[[int, int], None] | None = None,
        in_flight: Callable[[], int] | None = None,
    ) -> None:
        self.adapter = adapter
        self.scheduler = scheduler
        self.max_batch_rows = max_batch_rows
        self.turn_ms = turn_ms
        self.max_wait_ms = max_wait_ms
        self.on_batch = on_batch
        self.in_flight = in_flight
        self.costs: dict[bool, CallCost] = {}  # by "with reason codes"
        self._pending: deque[_Job] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._closing = False

    async def predict(
        self, rows: list[dict[str, Any]], reasons: int, tenant: Hashable = None
    ) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run())
        future = loop.create_future()
        self._pending.append(_Job(rows, reasons, tenant, future))
        self._wakeup.set()
        return await future

    def close(self) -> None:
        """Stop after the jobs already queued (in-flight requests finish)."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()

    def budget(self, with_reasons: bool) -> int:
        """Rows for the next call: the row cap, and about ``turn_ms`` of the model's time."""
        cost = self.costs.get(with_reasons)
        if self.turn_ms <= 0:
            return self.max_batch_rows
        if cost is None:
            return min(PROBE_ROWS, self.max_batch_rows)
        return max(1, min(self.max_batch_rows, int(self.turn_ms / cost.ms_per_row())))

    def take(self) -> list[_Piece]:
        """The next call's rows, first come first served: whole jobs while they fit, then a
        slice of the next one (of the same tenant and kind, with or without reasons)."""
        while self._pending and self._pending[0].future.done():  # failed or cancelled
            self._pending.popleft()
        if not self._pending:
            return []
        head = self._pending[0]
        kind = head.reasons > 0
        room = self.budget(kind)
        pieces: list[_Piece] = []
        for job in list(self._pending):
            if room <= 0 or job.tenant != head.tenant or (job.reasons > 0) != kind:
                break
            if job.future.done():
                continue
            count = min(room, len(job.rows) - job.taken)
            pieces.append(_Piece(job, job.taken, job.taken + count))
            job.taken += count
            room -= count
        while self._pending and self._pending[0].taken == len(self._pending[0].rows):
            self._pending.popleft()
        return pieces

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.max_wait_ms > 0:
                await asyncio.sleep(self.max_wait_ms / 1000)
            pieces = self.take()
            if pieces:
                await self._score(pieces)

    async def _score(self, pieces: list[_Piece]) -> None:
        rows = [row for piece in pieces for row in piece.job.rows[piece.start : piece.stop]]
        reasons = max(piece.job.reasons for piece in pieces)
        try:
            idle = self.in_flight is None or self.in_flight() <= len(pieces)
            if idle and self.adapter.is_cheap(rows):
                outputs = self.adapter.answer_batch(rows, reasons)
            else:
                tenant = pieces[0].job.tenant
                outputs, seconds = await self.scheduler.run(tenant, self._timed, rows, reasons)
                self.costs.setdefault(reasons > 0, CallCost()).add(len(rows), seconds * 1000)
        except Exception as error:
            if len(pieces) == 1:
                _settle(pieces[0].job.future, error=error)
                return
            # One request's rows broke the batch: score each alone so the others succeed.
            for piece in pieces:
                await self._score([piece])
            return
        if self.on_batch:
            self.on_batch(len(pieces), len(rows))
        start = 0
        for piece in pieces:
            job, count = piece.job, piece.stop - piece.start
            part = outputs[start : start + count]
            start += count
            if job.reasons < reasons:
                _trim_reasons(part, job.reasons)
            job.outputs += part
            if piece.stop == len(job.rows):
                _settle(job.future, result=job.outputs)

    def _timed(self, rows: list[dict[str, Any]], reasons: int) -> tuple[list[dict], float]:
        started = time.perf_counter()
        outputs = self.adapter.answer_batch(rows, reasons)
        return outputs, time.perf_counter() - started


def _trim_reasons(part: list[dict[str, Any]], keep: int) -> None:
    for item in part:
        if "reasons" in item:
            item["reasons"] = item["reasons"][:keep]
            if not keep:
                del item["reasons"]


def _settle(future: asyncio.Future, *, result: Any = None, error: BaseException | None = None):
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
