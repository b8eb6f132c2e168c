"""The labeled rows split once into a compression part (fine-tuning, distillation) and a
check part (every variant's quality and agreement are measured there)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

CHECK_FRACTION = 0.2


@dataclass
class CompressionData:
    X_fit: pd.DataFrame
    y_fit: np.ndarray
    X_check: pd.DataFrame
    y_check: np.ndarray
    X_unlabeled: pd.DataFrame | None = None


def split_for_compression(
    X: pd.DataFrame, y: np.ndarray, seed: int, X_unlabeled: pd.DataFrame | None = None
) -> CompressionData:
    """A stratified ``CHECK_FRACTION`` check split (``seed``); unlabeled rows ride along."""
    fit, check = train_test_split(
        np.arange(len(y)), test_size=CHECK_FRACTION, stratify=y, random_state=seed
    )
    return CompressionData(
        X.iloc[fit].reset_index(drop=True),
        y[fit],
        X.iloc[check].reset_index(drop=True),
        y[check],
        X_unlabeled,
    )
