"""The contract shared by the non-tabular model families (text, images, visits, fusion).

Same scikit-learn shape as ``TabularModel``: keyword-only ``__init__`` that stores its
arguments, ``fit(inputs, y)`` returns self, fitted state ends in ``_``, ``predict_proba``
gives one column per class (``classes_`` holds the original labels, binary or multi-class).
A saved model is a folder with ``model.json`` (family, parameters, classes, the family's
own state) plus safetensors weights; loading picks the class from a fixed table by family
name and never runs code from the folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from tailorkit.errors import DataError, RegistryError

MODEL_FILE = "model.json"


class ModalityModel(ClassifierMixin, BaseEstimator):
    """Base class: subclasses implement ``_fit``, ``_predict_logits``, ``_save``, ``_load``."""

    family: ClassVar[str] = ""
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
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        document = {
            "family": self.family,
            "params": self.get_params(deep=False),
            "classes": self.classes_.tolist(),
            "state": self._save(path),
        }
        (path / MODEL_FILE).write_text(json.dumps(document, indent=1))
        return path

    @classmethod
    def _from_document(cls, document: dict[str, Any], path: Path) -> ModalityModel:
        model = cls(**document["params"])
        model.classes_ = np.asarray(document["classes"])
        model._load(path, document["state"])
        return model

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
    import pandas as pd

    return pd.isna(values)


MODALITY_FAMILIES = {
    "image_cnn": ("tailorkit.models.cnn", "ImageCNN"),
    "text_classifier": ("tailorkit.models.text_classifier", "TextClassifier"),
    "visit_gru": ("tailorkit.models.visit_gru", "VisitGRU"),
    "fusion": ("tailorkit.models.fusion", "FusionClassifier"),
}


def modality_class(family: str) -> type:
    """The class of a family from the fixed table (imported on first use)."""
    import importlib

    module, name = MODALITY_FAMILIES[family]
    return getattr(importlib.import_module(module), name)


def load_modality_model(path: str | Path) -> ModalityModel:
    """Load a saved text/image/visit/fusion model folder (JSON and safetensors only)."""
    path = Path(path)
    config = path / MODEL_FILE
    if not config.exists():
        raise RegistryError(f"{path} is not a saved tailorkit model (no {MODEL_FILE})")
    document = json.loads(config.read_text())
    if document.get("family") not in MODALITY_FAMILIES:
        raise RegistryError(f"{config}: unknown model family {document.get('family')!r}")
    return modality_class(document["family"])._from_document(document, path)
