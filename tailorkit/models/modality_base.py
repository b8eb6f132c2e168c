"""The non-tabular classifiers' part of the model contract (text, images, visits, fusion).

``fit(inputs, y)`` returns self; ``predict_proba`` gives one column per class (``classes_``
holds the original labels, binary or multi-class). ``model.json`` adds the classes and the
family's own state to the common layout (``models/base.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin

from tailorkit.errors import DataError
from tailorkit.models.base import Model


class ModalityModel(ClassifierMixin, Model):
    """Base class: subclasses implement ``_fit``, ``_predict_logits``, ``_save``, ``_load``."""

    kind = "modality"
    modality: ClassVar[str] = ""

    def fit(self, inputs: Any, y: Any, **options: Any) -> ModalityModel:
        labels = np.asarray(y)
        if labels.ndim != 1 or len(labels) != _length(inputs):
            raise DataError(f"{self.family}: one label per row is needed ({len(labels)} given)")
        if pd_isna(labels).any():
            raise DataError(f"{self.family}: the labels have empty values")
        self.classes_, encoded = np.unique(labels, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(f"{self.family}: the labels hold a single class")
        self._fit(inputs, encoded.astype(np.int64), **options)
        return self

    def predict_proba(self, inputs: Any) -> np.ndarray:
        logits = np.asarray(self._predict_logits(inputs), dtype=np.float64)
        if logits.ndim == 1:  # binary models may return the positive-class logit only
            logits = np.column_stack([np.zeros_like(logits), logits])
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        return odds / odds.sum(axis=1, keepdims=True)

    def predict(self, inputs: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(inputs).argmax(axis=1)]

    # ------------------------------------------------------ persistence
    def _save_document(self, path: Path) -> dict[str, Any]:
        return {"classes": self.classes_.tolist(), "state": self._save(path)}

    def _load_document(self, document: dict[str, Any], path: Path) -> None:
        self.classes_ = np.asarray(document["classes"])
        self._load(path, document["state"])

    # ------------------------------------------------ to be implemented
    def _fit(self, inputs: Any, y: np.ndarray, **options: Any) -> None:
        raise NotImplementedError

    def _predict_logits(self, inputs: Any) -> np.ndarray:
        raise NotImplementedError

    def _save(self, path: Path) -> dict[str, Any]:
        raise NotImplementedError

    def _load(self, path: Path, state: dict[str, Any]) -> None:
        raise NotImplementedError


def _length(inputs: Any) -> int:
    return inputs.n_rows if hasattr(inputs, "n_rows") else len(inputs)


def pd_isna(values: np.ndarray) -> np.ndarray:
    return pd.isna(values)
