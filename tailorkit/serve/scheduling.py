"""Fair use of the one scoring thread: per-tenant queues served round-robin.

Every model call (a micro-batch slice, a monitor call) asks ``FairScheduler.run(tenant,
function, *args)`` for a turn. The scheduler runs one call at a time on the scoring thread;
when it frees up, the next tenant in the rotation with waiting work goes, one turn each. A
tenant with many large requests, or many projects, therefore delays another tenant by at most
one turn of its own; ``MicroBatcher`` keeps each turn short (a row budget per model call).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass
class _Turn:
    function: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future


class FairScheduler:
    """Runs model calls on ``executor`` one at a time, round-robin across tenants."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor
        self._queues: OrderedDict[Hashable, deque[_Turn]] = OrderedDict()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    async def run(self, tenant: Hashable, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` on the scoring thread, when ``tenant``'s turn comes."""
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._serve())
        future = loop.create_future()
        self._queues.setdefault(tenant, deque()).append(_Turn(function, args, future))
        self._wakeup.set()
        return await future

    def waiting(self) -> dict[Hashable, int]:
        """Turns waiting per tenant (not counting the one running)."""
        return {tenant: len(turns) for tenant, turns in self._queues.items()}

    def next_turn(self) -> _Turn | None:
        """The first tenant in the rotation gives up one turn and goes to the back."""
        while self._queues:
            tenant, turns = next(iter(self._queues.items()))
            turn = turns.popleft()
            if turns:
                self._queues.move_to_end(tenant)
            else:
                del self._queues[tenant]
            if not turn.future.done():  # a cancelled request gives its turn away
                return turn
        return None

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            turn = self.next_turn()
            if turn is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                result = await loop.run_in_executor(self.executor, turn.function, *turn.args)
            except Exception as error:
                if not turn.future.done():
                    turn.future.set_exception(error)
            else:
                if not turn.future.done():
                    turn.future.set_result(result)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
