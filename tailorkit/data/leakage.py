"""Target leakage checks: single features that predict a binary target almost perfectly."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tailorkit.data.column_values import MISSING_LEVEL, as_number, plain_number
from tailorkit.data.findings import issue

LEAK_AUC = 0.95
LEAK_SAMPLE_ROWS = 50_000
LEAK_FOLDS = 3
LEAK_BINS = 20
LEAK_PURE_LEVEL_ROWS = 10  # a level seen this often only with the positive class is flagged


def leakage_issues(
    frame: pd.DataFrame,
    target: str,
    summary: dict,
    types: dict[str, str],
    column_stats: list[dict],
) -> list[dict]:
    """Flag single features that predict the target almost perfectly (cross-validated)."""
    labeled = frame.loc[frame[target].notna()]
    if len(labeled) > LEAK_SAMPLE_ROWS:
        labeled = labeled.sample(LEAK_SAMPLE_ROWS, random_state=0)
    y = (labeled[target].astype(str) == summary["positive_label"]).to_numpy(int)
    if min(y.sum(), len(y) - y.sum()) < 2 * LEAK_FOLDS:
        return []
    folds = _fold_ids(y)
    found = []
    for stats in column_stats:
        column = stats["column"]
        if column == target or stats["n_unique"] < 2:
            continue
        auc = single_feature_auc(labeled[column], y, folds, types[column])
        stats["target_auc"] = plain_number(auc)
        pure = _level_implying_positive(labeled[column], y) if stats["n_unique"] <= 10 else None
        if pure is not None and not (auc > LEAK_AUC or auc < 1 - LEAK_AUC):
            level, rows = pure
            found.append(
                issue(
                    column,
                    "leakage",
                    "high",
                    f"column '{column}' = {level} in {rows} rows, every one of them with "
                    f"'{target}' positive; it may be recorded after the outcome (a failure "
                    "mode, a resolution code): drop it unless truly known at prediction time",
                )
            )
        if auc > LEAK_AUC or auc < 1 - LEAK_AUC:
            found.append(
                issue(
                    column,
                    "leakage",
                    "high",
                    f"column '{column}' alone predicts '{target}' with AUC {auc:.3f} "
                    "(cross-validated); it may be recorded after the outcome: drop it unless "
                    "it is truly known at prediction time",
                )
            )
    return found


def _level_implying_positive(values: pd.Series, y: np.ndarray) -> tuple[str, int] | None:
    """A non-majority level of a low-cardinality column that only ever occurs with y = 1."""
    levels = values.astype(str).where(values.notna(), MISSING_LEVEL)
    counts = levels.value_counts()
    if len(counts) > 10 or y.mean() >= 0.5:
        return None
    positives = pd.Series(y, index=levels.index).groupby(levels).sum()
    for level, count in counts.iloc[1:].items():
        if count >= LEAK_PURE_LEVEL_ROWS and positives[level] == count:
            return str(level), int(count)
    return None


def _fold_ids(y: np.ndarray) -> np.ndarray:
    """Stratified fold numbers: each class shuffled, then dealt out round-robin."""
    rng = np.random.default_rng(0)
    folds = np.zeros(len(y), dtype=int)
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(y == label))
        folds[members] = np.arange(len(members)) % LEAK_FOLDS
    return folds


def single_feature_auc(
    values: pd.Series, y: np.ndarray, folds: np.ndarray, column_type: str
) -> float:
    """Out-of-fold AUC of one feature: the stronger of its rank order and its binned shape.

    Numbers and dates are cut into quantile bins (a shallow tree's view: any shape, not only
    monotone); other columns are grouped by level. Each bin's target mean is learned on the
    training folds only, so identifiers and rare levels cannot fake a signal.
    """
    numeric = as_number(values, column_type)
    if numeric is None:
        codes = pd.factorize(values.astype(str).where(values.notna(), MISSING_LEVEL))[0]
        return rank_auc(_out_of_fold_bin_means(codes, y, folds), y)
    missing = ~np.isfinite(numeric)
    filled = np.where(missing, np.nanmin(numeric) - 1.0, numeric)
    by_rank = rank_auc(filled, y)
    edges = np.unique(np.quantile(filled[~missing], np.linspace(0, 1, LEAK_BINS + 1)[1:-1]))
    codes = np.where(missing, len(edges) + 1, np.searchsorted(edges, filled, side="right"))
    by_bins = rank_auc(_out_of_fold_bin_means(codes, y, folds), y)
    return by_rank if abs(by_rank - 0.5) >= abs(by_bins - 0.5) else by_bins


def _out_of_fold_bin_means(
    codes: np.ndarray, y: np.ndarray, folds: np.ndarray, smoothing: float = 10.0
) -> np.ndarray:
    """Each row's smoothed target mean of its bin, learned without the row's own fold."""
    codes = np.asarray(codes, dtype=np.int64)
    n_bins = int(codes.max()) + 1
    scores = np.zeros(len(y))
    for fold in np.unique(folds):
        train, held_out = folds != fold, folds == fold
        prior = y[train].mean()
        sums = np.bincount(codes[train], weights=y[train], minlength=n_bins)
        counts = np.bincount(codes[train], minlength=n_bins)
        means = (sums + smoothing * prior) / (counts + smoothing)
        scores[held_out] = means[codes[held_out]]
    return scores


def rank_auc(scores: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC from ranks (ties count half): the chance a positive outranks a negative."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return 0.5
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))
