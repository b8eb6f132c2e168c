"""Worker processes for parallel folds and seed bags, started from a fork server."""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import sys
import threading
import types
from collections.abc import Iterator
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
    is none): no torch or OpenMP state of this process reaches them, and none of them runs
    the caller's ``__main__`` script (see :func:`_main_hidden`), so a plain script without an
    ``if __name__ == "__main__":`` guard is safe.

    The fork server imports ``modules`` once, at once, while the caller goes on (reading
    data, training its in-process candidates); workers forked from it start with them
    loaded instead of importing them each (torch alone: 1.5 s of a core per process).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context: multiprocessing.context.BaseContext = _ForkServerContext()
        context.set_forkserver_preload([__name__, *modules])  # once per process: the first
        with _main_hidden():
            multiprocessing.forkserver.ensure_running()  # starts importing now, does not wait
    else:
        context = _SpawnContext()
    return ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=warm_up,  # in every worker, whichever jobs it takes
        initargs=(modules, max(1, _cores() // workers)),
    )


# Why workers must not see ``__main__``: a process started by "spawn" or "forkserver" gets
# the parent's *preparation data* (multiprocessing.spawn.get_preparation_data), which names
# the parent's main module: ``init_main_from_name`` (``python -m mod``: its __spec__.name)
# or ``init_main_from_path`` (``python script.py``: its __file__). The child's
# ``spawn.prepare`` then re-runs that module as ``__mp_main__`` before doing any work (so
# that functions defined in the script unpickle). A script without an
# ``if __name__ == "__main__":`` guard thus runs again inside every worker: there it calls
# ``Project.run()`` once more, whose pool start raises "An attempt has been made to start a
# new process before the current process has finished its bootstrapping phase", the worker
# dies and the caller gets BrokenProcessPool. The data is read while each process starts
# (popen_forkserver / popen_spawn_* ``_launch``, called by ``Process.start`` through
# ``Process._Popen``), and also when the fork server starts (``forkserver.ensure_running``:
# ``main_path``, imported there when ``__main__`` is preloaded). Our jobs never need
# anything from ``__main__`` (they are functions and objects of tailorkit modules), so
# while those calls read the data ``sys.modules["__main__"]`` is a bare module without
# ``__file__`` and with ``__spec__`` None: neither key is sent and the children keep their
# own ``__main__``. Only the entry in ``sys.modules`` is swapped, for the few milliseconds of
# a process start under a lock (code running in the script keeps its globals); the
# script's module object itself is never touched.
_HIDING = threading.Lock()


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """``sys.modules["__main__"]`` is a bare stand-in module inside the block."""
    with _HIDING:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


class _SpawnProcess(multiprocessing.context.SpawnProcess):
    """A spawned process that is not told about ``__main__`` (pickled to the child: it must
    stay a module-level class)."""

    @staticmethod
    def _Popen(process_obj):
        with _main_hidden():
            return multiprocessing.context.SpawnProcess._Popen(process_obj)


class _SpawnContext(multiprocessing.context.SpawnContext):
    Process = _SpawnProcess


if sys.platform != "win32":

    class _ForkServerProcess(multiprocessing.context.ForkServerProcess):
        """A process forked by the fork server that is not told about ``__main__``."""

        @staticmethod
        def _Popen(process_obj):
            with _main_hidden():
                return multiprocessing.context.ForkServerProcess._Popen(process_obj)

    class _ForkServerContext(multiprocessing.context.ForkServerContext):
        Process = _ForkServerProcess


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
