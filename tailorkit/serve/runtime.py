"""Loaded models, their micro-batchers, and hot swaps when an alias moves.

``ModelPool`` maps ``(project, alias)`` routes to a ``Served`` model (adapter + batcher,
``serve/batching.py``); every model call takes its turn on the one scoring thread through the
pool's ``FairScheduler`` (``serve/scheduling.py``), round-robin across tenants.
A poller re-resolves every route each ``poll_interval`` seconds; when an alias points at a
new version, that version is loaded on a worker thread and the route is switched by one
dictionary assignment. Requests already holding the old ``Served`` finish on it; its batcher
drains and stops.

Before a version is loaded in-process its files are checked against the manifest recorded at
registration (``Registry.verify``), then it is trial-loaded in a child process
(``models.isolated``: a native crash in a model parser kills that child, not the service);
checks of several routes run in parallel, once per artifact. A failure is kept (for readiness
and the route's 503s) naming the model's files relative to its artifact, never a folder of the
host (``registry.redaction``); the log has the full error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tailorkit.errors import TailorkitError
from tailorkit.models.isolated import TrialLoader
from tailorkit.registry import ModelVersion, Registry
from tailorkit.registry.redaction import without_paths
from tailorkit.serve.adapters import Adapter, load_adapter
from tailorkit.serve.batching import MicroBatcher
from tailorkit.serve.observations import ObservationPolicy, policy_for
from tailorkit.serve.scheduling import FairScheduler

log = logging.getLogger("tailorkit.serve")


TRIALS_FOLDER = "trials"  # in the workspace: passed child-process trial loads, per artifact


class ModelUnavailable(TailorkitError):
    """The model of a route failed to load (missing or corrupt artifact)."""


@dataclass
class Served:
    """One loaded model version of a route."""

    version: ModelVersion
    adapter: Adapter
    batcher: MicroBatcher
    loaded_at: float = field(default_factory=time.time)
    observation: ObservationPolicy | None = None  # which input columns may be stored


class ModelPool:
    """Routes ``(project, alias)`` to loaded models; swaps them when an alias moves."""

    def __init__(
        self,
        registry: Registry,
        *,
        poll_interval: float = 2.0,
        max_batch_rows: int = 1024,
        turn_ms: float = 10.0,
        max_wait_ms: float = 0.0,
        on_batch: Callable[[int, int], None] | None = None,
        in_flight: Callable[[], int] | None = None,
    ) -> None:
        self.registry = registry
        self.poll_interval = poll_interval
        self.max_batch_rows = max_batch_rows
        self.turn_ms = turn_ms
        self.max_wait_ms = max_wait_ms
        self.on_batch = on_batch
        self.in_flight = in_flight
        # One scoring thread: the model call holds the cores; more threads would contend.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="score")
        self.scheduler = FairScheduler(self.executor)
        self.loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load")
        # Hash checks and child-process trial loads: parallel, each mostly waits on a child.
        self.checker = ThreadPoolExecutor(
            max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="check"
        )
        self.trials = TrialLoader(registry.workspace / TRIALS_FOLDER)
        self.routes: dict[tuple[str, str], Served] = {}
        self.failures: dict[tuple[str, str], str] = {}
        self._failed_versions: set[tuple[str, int]] = set()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._solutions: dict[str, str] = {}
        self._poller: asyncio.Task | None = None
        self.swaps = 0
        self._guard = threading.Lock()

    # ------------------------------------------------------------------ lookups
    async def get(self, project: str, alias: str) -> Served:
        """The route's model, loading it on first use (raises ``RegistryError`` when unknown)."""
        route = (project, alias)
        served = self.routes.get(route)
        if served is not None:
            return served
        lock = self._locks.setdefault(route, asyncio.Lock())
        async with lock:
            served = self.routes.get(route)
            if served is None:
                loop = asyncio.get_running_loop()
                version = await loop.run_in_executor(
                    self.loader, self.registry.resolve, f"{project}@{alias}"
                )
                if (version.project, version.version) in self._failed_versions:
                    raise ModelUnavailable(  # not retried: the artifact does not change
                        self.failures.get(route)
                        or f"model {version.project}:{version.version} failed to load"
                    )
                served = await self._load(route, version)
                if served is None:
                    raise ModelUnavailable(self.failures[route])
                self.routes[route] = served
        return served

    async def preload(self, routes: list[tuple[str, str]]) -> None:
        """Load the given routes (startup), their artifact checks in parallel; failures are
        recorded, never raised."""

        async def one(route: tuple[str, str]) -> None:
            try:
                await self.get(*route)
            except TailorkitError as error:
                self.failures.setdefault(route, without_paths(str(error), self.registry.workspace))
                log.error("route %s@%s not loaded: %s", route[0], route[1], error)

        await asyncio.gather(*(one(route) for route in routes))

    def start_polling(self) -> None:
        if self._poller is None and self.poll_interval > 0:
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        for served in list(self.routes.values()):
            served.batcher.close()
        self.scheduler.close()
        self.executor.shutdown(wait=False)
        self.loader.shutdown(wait=False)
        self.checker.shutdown(wait=False)

    # ------------------------------------------------------------------ loading
    async def _load(self, route: tuple[str, str], version: ModelVersion) -> Served | None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.checker, self._check_artifact, version)
            adapter = await loop.run_in_executor(self.loader, self._build_adapter, version)
            policy = await loop.run_in_executor(self.loader, policy_for, adapter, self.registry)
        except Exception as error:  # a missing or corrupt artifact must not stop the service
            message = (
                f"model {version.project}:{version.version} ({route[0]}@{route[1]}) failed to "
                f"load: {type(error).__name__}: {error}"
            )
            log.error(message)
            self.failures[route] = without_paths(message, self.registry.workspace, version)
            self._failed_versions.add((version.project, version.version))
            return None
        self.failures.pop(route, None)
        batcher = MicroBatcher(
            adapter,
            self.scheduler,
            max_batch_rows=self.max_batch_rows,
            turn_ms=self.turn_ms,
            max_wait_ms=self.max_wait_ms,
            on_batch=self.on_batch,
            in_flight=self.in_flight,
        )
        log.info("loaded %s:%s for %s@%s", version.project, version.version, *route)
        return Served(version, adapter, batcher, observation=policy)

    def _check_artifact(self, version: ModelVersion) -> None:
        """Its files as registered (a mismatch is audited), and loadable in a child process."""
        self.registry.verify(version, actor="serve")
        name = f"{version.project}:{version.version}"
        self.trials.check(version.path, version.artifact_sha, name)

    def _build_adapter(self, version: ModelVersion) -> Adapter:
        solution = self._solutions.get(version.project)
        if solution is None:
            solution = self.registry.solution_of(version.project)
            self._solutions[version.project] = solution
        return load_adapter(solution, version)

    # ------------------------------------------------------------------ hot swap
    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.refresh()
            except Exception:
                log.exception("alias poll failed; retrying in %.1f s", self.poll_interval)

    async def refresh(self) -> int:
        """Re-resolve every route; load and switch those whose alias moved. Returns swaps."""
        loop = asyncio.get_running_loop()
        swapped = 0
        for route in list(self.routes) + [r for r in self.failures if r not in self.routes]:
            try:
                version = await loop.run_in_executor(
                    self.loader, self.registry.resolve, f"{route[0]}@{route[1]}"
                )
            except TailorkitError as error:
                log.warning("route %s@%s: %s", route[0], route[1], error)
                continue
            current = self.routes.get(route)
            if current is not None and current.version.version == version.version:
                continue
            if (version.project, version.version) in self._failed_versions:
                continue
            fresh = await self._load(route, version)
            if fresh is None:
                continue  # keep serving the old version; the failure is in readiness
            self.routes[route] = fresh  # the atomic switch
            swapped += 1
            self.swaps += 1
            if current is not None:
                current.batcher.close()
                log.info(
                    "%s@%s moved %s -> %s",
                    route[0],
                    route[1],
                    current.version.version,
                    version.version,
                )
        return swapped
