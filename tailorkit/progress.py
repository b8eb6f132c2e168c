"""Progress of long loops (folds, epochs), for whoever shows it: silent unless a listener is
set (the CLI sets one that draws Rich bars with an ETA)."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")


class Listener(Protocol):
    def start(self, key: int, description: str, total: int) -> None: ...

    def advance(self, key: int, steps: int = 1) -> None: ...

    def finish(self, key: int) -> None: ...


_state: dict[str, Listener | None] = {"listener": None}
_keys = itertools.count()
_lock = threading.Lock()


def set_listener(listener: Listener | None) -> Listener | None:
    """Install ``listener`` (``None``: silence); returns the previous one."""
    with _lock:
        previous, _state["listener"] = _state["listener"], listener
    return previous


@contextlib.contextmanager
def tracking(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A bar for a loop of at most ``total`` steps; yields ``advance(steps=1)``. A loop that
    stops early (early stopping) just leaves the block."""
    listener = _state["listener"]
    if listener is None or total <= 0:
        yield lambda steps=1: None
        return
    key = next(_keys)
    listener.start(key, description, total)
    try:
        yield lambda steps=1: listener.advance(key, steps)
    finally:
        listener.finish(key)


def tracked(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """``items`` one by one, each one a step of a bar (a loop may stop early: the bar ends)."""
    if total is None:
        items = list(items)
        total = len(items)
    with tracking(description, total) as advance:
        for item in items:
            yield item
            advance()
