"""The one contract every model family keeps, and the tabular models' part of it.

Every family is a scikit-learn estimator: a keyword-only ``__init__`` that only stores its
arguments (so ``get_params`` / ``clone`` work), ``fit`` returning ``self``, fitted state
ending in ``_``. A saved model is a folder holding ``model.json`` (``family``, the init
``params`` and the kind's fitted metadata) plus the family's own weight files
(safetensors, LightGBM's text format, ONNX, JSON). Loading reads data only: the family name
picks a class from the catalogue (``models/registry.py``); no code runs from the artifact.

The kinds differ only in what they take and give: ``TabularModel`` (a raw DataFrame ->
probability of the positive class, here), ``ModalityModel`` (text, images, visits, fusion),
``WindowModel`` (sensor windows -> remaining life) and ``Recommender`` (histories ->
item scores).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from tailorkit.data.preprocess import TabularPreprocessor
from tailorkit.data.schema import infer_schema
from tailorkit.errors import DataError
from tailorkit.models.registry import MODEL_FILE

# Small tables, where one fit's score depends on which rows its inner split holds out to
# stop training: models that bag (FT-Transformer, LightGBM) average several fits up to here.
SMALL_TABLE_ROWS = 5000


class Model(BaseEstimator):
    """Root of every family: the artifact layout and the names the catalogue knows."""

    family: ClassVar[str] = ""
    kind: ClassVar[str] = ""  # tabular | modality | window | recommender

    def save(self, path: str | Path) -> Path:
        """Write ``model.json`` (family, params, the kind's metadata) and the weight files."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        document = {"family": self.family, "params": self._saved_params()}
        document.update(self._save_document(path))
        (path / MODEL_FILE).write_text(json.dumps(document, indent=1))
        return path

    @classmethod
    def from_document(cls, document: dict[str, Any], path: Path) -> Model:
        """A model from its ``model.json`` contents and folder (the catalogue calls this)."""
        model = cls(**document.get("params", {}))
        model._load_document(document, path)
        return model

    def _saved_params(self) -> dict[str, Any]:
        return self.get_params(deep=False)

    def _save_document(self, path: Path) -> dict[str, Any]:
        raise NotImplementedError

    def _load_document(self, document: dict[str, Any], path: Path) -> None:
        raise NotImplementedError


class TabularModel(ClassifierMixin, Model):
    """Binary classifier over a raw DataFrame.

    Subclasses implement ``_fit``, ``_predict_score`` (probability of the positive
    class), ``_save_weights`` / ``_load_weights``; optionally ``_contributions``.
    ``__init__`` only stores keyword arguments (so ``sklearn.clone`` works).
    """

    kind = "tabular"
    # Folds worth running in parallel processes (seconds per fold, not milliseconds).
    parallel_folds: ClassVar[bool] = False

    # ------------------------------------------------------------ contract
    def fit(
        self,
        X: pd.DataFrame,
        y: Any,
        *,
        schema: dict[str, str] | None = None,
        X_unlabeled: pd.DataFrame | None = None,
    ) -> TabularModel:
        """Fit preprocessing and model on ``X`` (raw columns) and binary ``y`` (0/1)."""
        y = _binary_target(y)
        self.schema_ = dict(schema or infer_schema(X))
        self.classes_ = np.array([0, 1])
        self._fit(X, y, X_unlabeled)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        score = np.clip(self._predict_score(X), 0.0, 1.0)
        return np.column_stack([1.0 - score, score])

    def predict(self, X: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] > threshold).astype(int)

    def explain(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-row contribution of each raw feature to the score (log-odds scale)."""
        return pd.DataFrame(self._contributions(X), columns=self.feature_names_in_, index=X.index)

    @property
    def feature_names_in_(self) -> list[str]:
        return self.preprocessor_.columns_

    def sized_for(self, n_rows: int) -> TabularModel:
        """Settle defaults that depend on the data size (``n_rows`` in the whole data set), so
        that cross-validation folds and the final refit fit the same configuration."""
        return self

    @property
    def importances_(self) -> np.ndarray:
        """Global importance per raw feature. A family may leave ``_pending_importances`` (a
        callable without arguments) in ``_fit`` instead of the values: they are computed on
        first use, which the models fitted for cross-validation folds never make."""
        pending = self.__dict__.pop("_pending_importances", None)
        if pending is not None:
            self.__dict__["_importances"] = np.asarray(pending(), dtype=float)
        if "_importances" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__} is not fitted: no importances_")
        return self.__dict__["_importances"]

    @importances_.setter
    def importances_(self, values: np.ndarray) -> None:
        self.__dict__.pop("_pending_importances", None)
        self.__dict__["_importances"] = np.asarray(values, dtype=float)

    @property
    def feature_importances_(self) -> pd.Series:
        """Mean absolute contribution per raw feature, on the rows seen in ``fit``."""
        return pd.Series(self.importances_, index=self.feature_names_in_)

    # ------------------------------------------------------ persistence
    def _save_document(self, path: Path) -> dict[str, Any]:
        return {
            "schema": self.schema_,
            "importances": [float(v) for v in self.importances_],
            "preprocessor": self.preprocessor_.to_dict(),
            "state": self._save_weights(path),
        }

    def _load_document(self, document: dict[str, Any], path: Path) -> None:
        self.schema_ = document["schema"]
        self.classes_ = np.array([0, 1])
        self.importances_ = np.array(document["importances"])
        self.preprocessor_ = TabularPreprocessor.from_dict(document["preprocessor"])
        self._load_weights(path, document["state"])

    # ------------------------------------------------ to be implemented
    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_unlabeled: pd.DataFrame | None) -> None:
        raise NotImplementedError

    def _predict_score(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _contributions(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError(f"{self.family} does not explain single rows")

    def _save_weights(self, path: Path) -> dict[str, Any]:
        raise NotImplementedError

    def _load_weights(self, path: Path, state: dict[str, Any]) -> None:
        raise NotImplementedError


def _binary_target(y: Any) -> np.ndarray:
    values = np.asarray(y)
    if values.ndim != 1:
        raise DataError("the target must be one column")
    if pd.isna(values).any():
        raise DataError("the target has empty values; drop those rows or fill them")
    unique = np.unique(values)
    if len(unique) != 2 or not set(unique.tolist()) <= {0, 1}:
        raise DataError(
            f"a binary target must hold exactly the values 0 and 1, found {unique[:10].tolist()}"
        )
    return values.astype(int)


def group_by_source(values: np.ndarray, sources: list[str], columns: list[str]) -> np.ndarray:
    """Sum per-encoded-column values (n × encoded) into per-raw-column values (n × raw)."""
    index = {c: i for i, c in enumerate(columns)}
    out = np.zeros((values.shape[0], len(columns)))
    for j, source in enumerate(sources):
        out[:, index[source]] += values[:, j]
    return out
