"""PyTorch helpers shared by the neural families: seeding, thread counts, opt-in time limits."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator

import numpy as np
import torch


def default_threads() -> int:
    """Half the cores, at most 4, and never more than this process's torch setting (a fold
    worker's share): tiny matrices gain little from more threads, and oversubscribed cores
    (other jobs, parallel folds) slow torch down many times over."""
    return max(1, min(4, (os.cpu_count() or 2) // 2, torch.get_num_threads()))


@contextlib.contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Use ``n_threads`` intra-op threads inside the block (default: ``default_threads``),
    then restore the setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads or default_threads())
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def torch_session(seed: int, n_threads: int | None) -> Iterator[None]:
    """Seeded torch RNG (restored afterwards) and thread count for one fit."""
    with torch_threads(n_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def resolve_seed(random_state: int | None) -> int:
    """``random_state`` as an int; ``None`` draws a fresh one."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**31))
    return int(random_state)


def deadline_after(time_limit: float | None, started: float | None = None) -> float:
    """The monotonic clock reading at which an opt-in ``time_limit`` (seconds) runs out;
    ``math.inf`` without one. Budgets are epochs and early stopping: a wall-clock limit makes
    the result depend on machine load, so it is only a safety cap a user asks for."""
    if time_limit is None:
        return math.inf
    return (time.monotonic() if started is None else started) + float(time_limit)
