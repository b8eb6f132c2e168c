"""Out-of-fold predictions of a candidate, fold after fold here or in worker processes.

A candidate is a *fold task*: ``fit_score(train_rows, valid_rows)`` fits a fresh model on
the training rows and scores the validation rows; ``fit_all(folder)`` fits on every row and
saves the model (weights travel as files, never pickled). Tabular candidates use
:class:`TabularFolds`; a solution with other inputs writes its own task with the same two
methods, and the same engine runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from tailorkit.models.ensemble import blend, select_weights
from tailorkit.models.registry import load_model
from tailorkit.progress import tracked

Progress = Callable[[str], None]
Outcome = tuple[np.ndarray, float, float]  # validation scores, fit seconds, predict seconds


class FoldTask(Protocol):
    """One candidate's training on given rows (picklable: it travels to worker processes)."""

    def fit_score(self, train: np.ndarray, valid: np.ndarray) -> Outcome: ...

    def fit_all(self, folder: Path) -> Path: ...


@dataclass
class CandidateResult:
    """What cross-validation learned about one candidate."""

    name: str
    oof: np.ndarray  # NaN where a row was never in a validation fold (holdout protocol)
    fold_auc: list[float] = field(default_factory=list)
    fit_seconds: float = 0.0
    predict_ms_per_1000: float = 0.0
    refit: Any = None  # fitted on all rows beside the folds (parallel runs)


@dataclass
class TabularFolds:
    """A tabular model's folds: a fresh clone per fold, fitted on the training rows only."""

    model: Any
    X: pd.DataFrame
    y: np.ndarray
    schema: dict[str, str]
    X_unlabeled: pd.DataFrame | None = None

    def fit_score(self, train: np.ndarray, valid: np.ndarray) -> Outcome:
        started = time.perf_counter()
        model = clone(self.model).fit(
            self.X.iloc[train], self.y[train], schema=self.schema, X_unlabeled=self.X_unlabeled
        )
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        scores = model.predict_proba(self.X.iloc[valid])[:, 1]
        return scores, fit_seconds, time.perf_counter() - started

    def fit_all(self, folder: Path) -> Path:
        return self.refit().save(folder)

    def refit(self) -> Any:
        """The model fitted on every row."""
        return clone(self.model).fit(
            self.X, self.y, schema=self.schema, X_unlabeled=self.X_unlabeled
        )


def cross_validate(
    name: str,
    task: FoldTask,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    progress: Progress | None = None,
) -> CandidateResult:
    """The folds one after another in this process (seeded as :class:`FoldJobs` is)."""
    folds = tracked(enumerate(splits), f"{name}: folds", total=len(splits))
    outcomes = ((fold, task.fit_score(train, valid)) for fold, (train, valid) in folds)
    return _gather(name, outcomes, y, splits, progress)


class FoldJobs:
    """One candidate's folds submitted to worker processes at once; ``result()`` collects.

    Submitting before training the in-process candidates lets both use the cores at the same
    time; the submission runs in a thread, since it waits while the fork server is still
    importing. With ``refit_dir``, one more job fits the model on all rows in the same pool
    (rather than after the CV) and saves it there; the loaded model comes back as
    ``result.refit``.
    """

    def __init__(
        self,
        name: str,
        task: FoldTask,
        y: np.ndarray,
        splits: list[tuple[np.ndarray, np.ndarray]],
        *,
        executor: Executor,
        refit_dir: Path | None = None,
    ):
        self.name, self.y, self.splits = name, y, splits
        jobs: list[tuple] = []
        if refit_dir is not None:  # first: the longest job, so no worker idles at the end
            jobs.append((task.fit_all, refit_dir))
        jobs += [(task.fit_score, train, valid) for train, valid in splits]
        self._submitted = ThreadPoolExecutor(1)
        self._futures = self._submitted.submit(lambda: [executor.submit(*job) for job in jobs])
        self._has_refit = refit_dir is not None

    def result(self, progress: Progress | None = None) -> CandidateResult:
        self._submitted.shutdown()
        futures = self._futures.result()  # raises what the submission raised
        refit = futures.pop(0) if self._has_refit else None
        folds = dict(zip(futures, range(len(futures)), strict=True))
        done = tracked(as_completed(folds), f"{self.name}: folds", total=len(folds))
        outcomes = ((folds[f], f.result()) for f in done)
        result = _gather(self.name, outcomes, self.y, self.splits, progress)
        if refit is not None:
            result.refit = load_model(refit.result())
        return result


def _gather(
    name: str,
    outcomes: Iterable[tuple[int, Outcome]],
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    progress: Progress | None,
) -> CandidateResult:
    """Fold outcomes ``(fold, (scores, fit s, predict s))`` into one CandidateResult."""
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
