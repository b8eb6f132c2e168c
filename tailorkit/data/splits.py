"""Seeded evaluation splits: stratified K-fold or holdout, grouped by patient where given."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from tailorkit.errors import DataError


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


def patient_splits(
    y: np.ndarray, patients: Any, *, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold; with patient ids, StratifiedGroupKFold so that all rows of a
    patient land in the same fold (checked)."""
    if patients is None:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y)), y))
    groups = pd.Series(patients).astype(str).to_numpy()
    n_patients = len(np.unique(groups))
    if n_patients < folds:
        raise DataError(f"{n_patients} patients cannot fill {folds} folds; lower evaluation.folds")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(np.zeros(len(y)), y, groups))
    assert_no_patient_leak(splits, groups)
    return splits


def patient_holdout(
    y: np.ndarray, patients: Any, *, fraction: float, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One stratified holdout of ``fraction`` of the rows, or of the patients when patient
    ids are given (a patient counts as diseased when any of their rows is). A fraction 1/k
    is the first of the k folds of :func:`patient_splits`; any other fraction a stratified
    shuffle split of exactly that share (rounded up)."""
    folds = round(1 / fraction)
    if abs(folds * fraction - 1) < 1e-9:
        return patient_splits(y, patients, folds=folds, seed=seed)[:1]
    keys = np.arange(len(y)) if patients is None else pd.Series(patients).astype(str).to_numpy()
    units, unit_of_row = np.unique(keys, return_inverse=True)
    diseased = np.bincount(unit_of_row, weights=y, minlength=len(units)) > 0
    try:
        _, held = train_test_split(
            np.arange(len(units)), test_size=fraction, stratify=diseased, random_state=seed
        )
    except ValueError as error:
        raise DataError(
            f"a stratified holdout of {fraction:g} of {len(units)} "
            f"{'rows' if patients is None else 'patients'} is not possible ({error}); change "
            "evaluation.holdout_fraction"
        ) from None
    valid = np.isin(unit_of_row, held)
    return [(np.flatnonzero(~valid), np.flatnonzero(valid))]


def assert_no_patient_leak(splits: list[tuple[np.ndarray, np.ndarray]], groups: Any) -> None:
    """A patient found in both the training and the validation rows of a fold is an error."""
    groups = np.asarray(groups)
    for number, (train, valid) in enumerate(splits, start=1):
        shared = np.intersect1d(groups[train], groups[valid])
        if shared.size:
            raise DataError(
                f"fold {number}: patient(s) {', '.join(map(str, shared[:5]))} appear in both "
                "training and validation rows; split by patient"
            )


def local_splits(splits: list[tuple[np.ndarray, np.ndarray]]) -> list:
    """Splits re-indexed to the evaluated rows only (for cross-fitting on them); a single
    holdout is cut into two seeded halves that are fitted on each other."""
    evaluated = np.sort(np.concatenate([valid for _, valid in splits]))
    everything = np.arange(len(evaluated))
    if len(splits) == 1:
        shuffled = np.random.default_rng(0).permutation(everything)
        groups = [np.sort(shuffled[: len(shuffled) // 2]), np.sort(shuffled[len(shuffled) // 2 :])]
    else:
        position = {row: i for i, row in enumerate(evaluated)}
        groups = [np.array([position[r] for r in valid]) for _, valid in splits]
    return [(np.setdiff1d(everything, group), group) for group in groups]
