"""Worker processes for parallel folds and seed bags, started from a fork server."""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.forkserver
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from threadpoolctl import threadpool_limits


def fold_workers(n_jobs: int | None, n_folds: int) -> int:
    """How many fold processes to run: ``None`` means one per core, at most one per fold."""
    return max(1, min(n_folds, n_jobs if n_jobs else _cores()))


def _cores() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


def fold_executor(workers: int, modules: tuple[str, ...] = ()) -> ProcessPoolExecutor:
    """Worker processes for parallel folds, forked from a fork server (spawned where there
    is none): no torch or OpenMP state of this process reaches them.

    The fork server imports ``modules`` once, at once, while the caller goes on (reading
    data, training its in-process candidates); workers forked from it start with them
    loaded instead of importing them each (torch alone: 1.5 s of a core per process).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__, *modules])  # once per process: the first
        multiprocessing.forkserver.ensure_running()  # starts importing now, does not wait
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=warm_up,  # in every worker, whichever jobs it takes
        initargs=(modules, max(1, _cores() // workers)),
    )


def warm_up(modules: tuple[str, ...], threads: int = 1) -> None:
    """Import ``modules`` (already there when forked from the fork server) and cap the
    worker's BLAS/OpenMP pools and torch's intra-op threads at its share of the cores (idle
    BLAS threads spin, and oversubscribed cores slow every process down; models' default
    thread counts stay within torch's setting). The limits apply to the pools loaded so
    far, so numpy's BLAS is loaded first."""
    importlib.import_module("numpy")
    for module in modules:
        importlib.import_module(module)
    threadpool_limits(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
