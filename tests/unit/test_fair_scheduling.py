"""Fair scheduling of the scoring thread: tenants take turns, a large request is split into
slices with other tenants' work between them, and the per-tenant limits refuse with 429.
Deterministic: the scoring thread is held on a gate until every request has queued."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tailorkit.serve.batching import CallCost, MicroBatcher
from tailorkit.serve.limits import RateLimited, TenantLimits
from tailorkit.serve.scheduling import FairScheduler
from tailorkit.solutions.serving import ServingAdapter


class Recording(ServingAdapter):
    """Answers each row with its own id; records every model call as (name, row ids)."""

    def __init__(self, name: str, calls: list, gate: threading.Event) -> None:
        super().__init__(None, "test")
        self.name, self.calls, self.gate = name, calls, gate

    def answer_batch(self, items, reasons):
        self.gate.wait(10)
        self.calls.append((self.name, [item["id"] for item in items]))
        extra = {"reasons": ["a", "b", "c"][:reasons]} if reasons else {}
        return [{"id": item["id"], **extra} for item in items]


def rows(prefix: str, n: int) -> list[dict]:
    return [{"id": f"{prefix}{i}"} for i in range(n)]


async def _until(condition) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not met")


def test_the_scheduler_serves_tenants_round_robin():
    """Turns queued by a heavy tenant and then a quiet one run interleaved, not in arrival
    order (a plain executor queue runs all of the heavy tenant's first)."""
    executor = ThreadPoolExecutor(max_workers=1)
    scheduler = FairScheduler(executor)
    gate, order = threading.Event(), []

    def call(name: str) -> str:
        gate.wait(10)
        order.append(name)
        return name

    async def scenario():
        heavy = [asyncio.ensure_future(scheduler.run("heavy", call, f"h{i}")) for i in range(4)]
        await _until(lambda: scheduler.waiting().get("heavy") == 3)  # h0 runs, held
        quiet = [asyncio.ensure_future(scheduler.run("quiet", call, f"q{i}")) for i in range(2)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*heavy, *quiet)
        scheduler.close()

    asyncio.run(scenario())
    executor.shutdown()
    assert order == ["h0", "h1", "q0", "h2", "q1", "h3"]


def test_a_large_request_is_split_and_another_tenant_goes_between_its_slices():
    """Tenant A sends 7 rows with reasons (row budget 3 per call); tenant B then sends one
    row: B is scored after A's first slice, and each answer is whole and in order."""
    executor = ThreadPoolExecutor(max_workers=1)
    scheduler = FairScheduler(executor)
    gate, calls = threading.Event(), []
    heavy = MicroBatcher(
        Recording("A", calls, gate), scheduler, max_batch_rows=3, turn_ms=0, in_flight=lambda: 9
    )
    quiet = MicroBatcher(
        Recording("B", calls, gate), scheduler, max_batch_rows=3, turn_ms=0, in_flight=lambda: 9
    )

    async def scenario():
        big = asyncio.ensure_future(heavy.predict(rows("a", 7), 2, tenant="A"))
        await _until(lambda: heavy._pending and heavy._pending[0].taken == 3)
        small = asyncio.ensure_future(quiet.predict(rows("b", 1), 0, tenant="B"))
        await _until(lambda: scheduler.waiting().get("B") == 1)
        gate.set()
        answers = await asyncio.gather(big, small)
        heavy.close(), quiet.close()
        scheduler.close()
        return answers

    big, small = asyncio.run(scenario())
    executor.shutdown()
    assert calls == [
        ("A", ["a0", "a1", "a2"]),
        ("B", ["b0"]),
        ("A", ["a3", "a4", "a5"]),
        ("A", ["a6"]),
    ]
    assert [item["id"] for item in big] == [f"a{i}" for i in range(7)]
    assert all(item["reasons"] == ["a", "b"] for item in big)
    assert small == [{"id": "b0"}]


def test_the_row_budget_follows_the_measured_cost_of_a_row():
    """The rows of one call add about ``turn_ms``: the budget follows the marginal time of a
    row, not the call's fixed cost."""
    batcher = MicroBatcher(Recording("A", [], threading.Event()), None, turn_ms=10.0)
    assert batcher.budget(True) == 8  # unknown cost: a small probe first
    with_reasons, plain = CallCost(), CallCost()
    with_reasons.add(8, 17.0)  # 1 ms per call + 2 ms per row with reason codes
    batcher.costs = {True: with_reasons, False: plain}
    assert batcher.budget(True) == 4  # one size seen: the whole 17 / 8 ms per row
    with_reasons.add(4, 9.0)
    assert batcher.budget(True) == 5
    plain.add(10, 30.1)  # 30 ms per call, 0.01 ms per row
    plain.add(110, 31.1)
    assert batcher.budget(False) == 1000
    batcher.max_batch_rows = 256
    assert batcher.budget(False) == 256


def test_a_tenant_over_its_rate_gets_429_with_retry_after_and_others_do_not():
    now = [0.0]
    limits = TenantLimits(rate=2, burst=3, queued_rows=0, clock=lambda: now[0])
    for _ in range(3):
        limits.admit(1, "acme")
    with pytest.raises(RateLimited) as refused:
        limits.admit(1, "acme")
    error = refused.value
    assert error.status == 429 and error.headers == {"Retry-After": "1"}
    assert error.details["limit"] == "tenant_rate" and "--tenant-rate" in str(error)
    limits.admit(2, "globex")  # another tenant's bucket is full
    now[0] = 0.5  # one token back
    limits.admit(1, "acme")


def test_the_queued_rows_quota_refuses_a_tenant_with_too_many_rows_waiting():
    limits = TenantLimits(rate=0, burst=1, queued_rows=1000, clock=lambda: 0.0)
    with limits.rows(1, "acme", 1000):  # one request of any size is let in when none waits
        with pytest.raises(RateLimited) as refused:
            with limits.rows(1, "acme", 1):
                pass
        with limits.rows(2, "globex", 10):
            assert limits.queued == {1: 1000, 2: 10}
    assert limits.queued == {}
    assert refused.value.details["limit"] == "tenant_queued_rows"
