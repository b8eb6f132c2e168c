"""Served-request records written off the request path: a background thread commits them in
small groups, so scoring never waits on a disk sync (a crash loses at most the last group of
request logs, never acknowledged feedback)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

log = logging.getLogger("tailorkit.serve")


class RequestLogWriter:
    """Writes served-request records from a queue in groups, on its own thread."""

    def __init__(self, store: Any, flush_interval: float = 0.05, max_group: int = 500):
        self.store = store
        self.flush_interval = flush_interval
        self.max_group = max_group
        self._queue: queue.Queue = queue.Queue()
        self._pending = 0
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="request-log", daemon=True)
        self._stopping = False
        self._thread.start()

    def put(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put(record)

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every record put so far is committed."""
        with self._lock:
            self._lock.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        self.flush()
        self._stopping = True
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stopping:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            # Gather for one flush interval: one write per interval, not one per request or
            # two, so the writer's Python work rarely holds the GIL while a request needs it.
            deadline = time.monotonic() + self.flush_interval
            try:
                while len(group) < self.max_group and group[-1] is not None:
                    group.append(self._queue.get(timeout=max(deadline - time.monotonic(), 0)))
            except queue.Empty:
                pass
            stop = None in group
            group = [r for r in group if r is not None]
            try:
                self.store.write_requests(group)
            except Exception:  # the service keeps answering; the loss is logged
                log.exception("could not write %d request log record(s)", len(group))
            with self._lock:
                self._pending -= len(group)
                self._lock.notify_all()
            if stop:
                return
