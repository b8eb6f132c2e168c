"""Out-of-fold predictions for every candidate: stratified K-fold or one holdout split."""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, train_test_split

from tailorkit.models.base import TabularModel

Progress = Callable[[str], None]


@dataclass
class CandidateResult:
    """What cross-validation learned about one candidate."""

    name: str
    oof: np.ndarray  # NaN where a row was never in a validation fold (holdout protocol)
    fold_auc: list[float] = field(default_factory=list)
    fit_seconds: float = 0.0
    predict_ms_per_1000: float = 0.0
    refit: TabularModel | None = None  # fitted on all rows beside the folds (parallel runs)


def make_splits(
    y: np.ndarray, *, protocol: str, folds: int, holdout_fraction: float, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded, stratified (train, validation) index pairs."""
    if protocol == "holdout":
        train, valid = train_test_split(
            np.arange(len(y)), test_size=holdout_fraction, stratify=y, random_state=seed
        )
        return [(np.sort(train), np.sort(valid))]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def cross_validate(
    name: str,
    model: TabularModel,
    X: pd.DataFrame,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    schema: dict[str, str],
    X_unlabeled: pd.DataFrame | None = None,
    progress: Progress | None = None,
) -> CandidateResult:
    """Fit a fresh clone per fold on the training rows only; predict the held-out rows, one
    fold after another in this process (:class:`FoldJobs` runs them in worker processes,
    seeded the same way)."""
    outcomes = (
        (fold, fit_fold(clone(model), X.iloc[train], y[train], X.iloc[valid], schema, X_unlabeled))
        for fold, (train, valid) in enumerate(splits)
    )
    return _gather(name, outcomes, y, splits, progress)


class FoldJobs:
    """One candidate's folds submitted to worker processes at once; ``result()`` collects.

    Only the fold's rows and the unfitted model travel; predictions come back. Submitting
    before training the in-process candidates lets both use the cores at the same time; the
    submission runs in a thread, since it waits while the fork server is still importing.
    With ``refit_dir``, one more job fits the model on all rows in the same pool (rather than
    after the CV) and saves it there; the loaded model comes back as ``result.refit``.
    """

    def __init__(
        self,
        name: str,
        model: TabularModel,
        X: pd.DataFrame,
        y: np.ndarray,
        splits: list[tuple[np.ndarray, np.ndarray]],
        *,
        schema: dict[str, str],
        X_unlabeled: pd.DataFrame | None,
        executor: Executor,
        refit_dir: Path | None = None,
    ):
        self.name, self.y, self.splits = name, y, splits
        jobs = []
        if refit_dir is not None:  # first: the longest job, so no worker idles at the end
            jobs.append((fit_all, clone(model), X, y, schema, X_unlabeled, refit_dir))
        jobs += [
            (fit_fold, clone(model), X.iloc[train], y[train], X.iloc[valid], schema, X_unlabeled)
            for train, valid in splits
        ]
        self._submitted = ThreadPoolExecutor(1)
        self._futures = self._submitted.submit(lambda: [executor.submit(*job) for job in jobs])
        self._has_refit = refit_dir is not None

    def result(self, progress: Progress | None = None) -> CandidateResult:
        self._submitted.shutdown()
        futures = self._futures.result()  # raises what the submission raised
        refit = futures.pop(0) if self._has_refit else None
        folds = dict(zip(futures, range(len(futures)), strict=True))
        outcomes = ((folds[f], f.result()) for f in as_completed(folds))
        result = _gather(self.name, outcomes, self.y, self.splits, progress)
        if refit is not None:
            from tailorkit.models import load_model

            result.refit = load_model(refit.result())
        return result


def _gather(name, outcomes, y: np.ndarray, splits, progress: Progress | None) -> CandidateResult:
    """Fold outcomes ``(fold, (scores, fit s, predict s))`` into one CandidateResult."""
    from sklearn.metrics import roc_auc_score

    result = CandidateResult(name=name, oof=np.full(len(y), np.nan))
    predict_seconds, predicted_rows, done = 0.0, 0, 0
    fold_auc = [0.0] * len(splits)
    for fold, (scores, fit_seconds, predict_time) in outcomes:
        valid = splits[fold][1]
        result.fit_seconds += fit_seconds
        predict_seconds += predict_time
        predicted_rows += len(valid)
        result.oof[valid] = scores
        fold_auc[fold] = float(roc_auc_score(y[valid], scores))
        done += 1
        if progress:
            progress(
                f"{name}: fold {fold + 1}/{len(splits)} AUC {fold_auc[fold]:.3f} ({done} done)"
            )
    result.fold_auc = fold_auc
    result.predict_ms_per_1000 = 1000.0 * predict_seconds / max(predicted_rows, 1) * 1000.0
    return result


def fit_fold(
    model: TabularModel,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_valid: pd.DataFrame,
    schema: dict[str, str],
    X_unlabeled: pd.DataFrame | None,
) -> tuple[np.ndarray, float, float]:
    """One fold: fit, then score the held-out rows; returns (scores, fit s, predict s)."""
    started = time.perf_counter()
    model.fit(X_train, y_train, schema=schema, X_unlabeled=X_unlabeled)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scores = model.predict_proba(X_valid)[:, 1]
    return scores, fit_seconds, time.perf_counter() - started


def fit_all(
    model: TabularModel,
    X: pd.DataFrame,
    y: np.ndarray,
    schema: dict[str, str],
    X_unlabeled: pd.DataFrame | None,
    folder: Path,
) -> Path:
    """Fit on every row and save the model (weights travel as files, never pickled)."""
    model.fit(X, y, schema=schema, X_unlabeled=X_unlabeled)
    return model.save(folder)


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
    thread counts stay within torch's setting)."""
    import importlib
    import sys

    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    for module in modules:
        importlib.import_module(module)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def cross_fitted_blend(
    oof: dict[str, np.ndarray],
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
) -> np.ndarray:
    """Ensemble predictions whose weights never saw the rows they score.

    For K-fold, the weights for fold k come from the other folds' out-of-fold predictions;
    for a holdout, from the other half of the holdout rows.
    """
    from tailorkit.models.ensemble import blend, select_weights

    evaluated = np.flatnonzero(~np.isnan(next(iter(oof.values()))))
    if len(splits) > 1:
        groups = [valid for _, valid in splits]
    else:
        shuffled = np.random.default_rng(seed).permutation(evaluated)
        groups = [np.sort(shuffled[: len(shuffled) // 2]), np.sort(shuffled[len(shuffled) // 2 :])]
    blended = np.full(len(y), np.nan)
    for group in groups:
        others = np.setdiff1d(evaluated, group)
        weights = select_weights({n: p[others] for n, p in oof.items()}, y[others])
        blended[group] = blend({n: p[group] for n, p in oof.items()}, weights)
    return blended
