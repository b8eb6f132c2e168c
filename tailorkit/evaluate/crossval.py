"""Out-of-fold predictions for every candidate: stratified K-fold or one holdout split."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
    """Fit a fresh clone per fold on the training rows only; predict the held-out rows."""
    from sklearn.metrics import roc_auc_score

    result = CandidateResult(name=name, oof=np.full(len(y), np.nan))
    predict_seconds, predicted_rows = 0.0, 0
    for fold, (train, valid) in enumerate(splits, start=1):
        fold_model = clone(model)
        started = time.perf_counter()
        fold_model.fit(X.iloc[train], y[train], schema=schema, X_unlabeled=X_unlabeled)
        result.fit_seconds += time.perf_counter() - started
        started = time.perf_counter()
        scores = fold_model.predict_proba(X.iloc[valid])[:, 1]
        predict_seconds += time.perf_counter() - started
        predicted_rows += len(valid)
        result.oof[valid] = scores
        result.fold_auc.append(float(roc_auc_score(y[valid], scores)))
        if progress:
            progress(f"{name}: fold {fold}/{len(splits)} AUC {result.fold_auc[-1]:.3f}")
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
