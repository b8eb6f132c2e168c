"""LightGBM gradient-boosted trees (Ke et al. 2017, "LightGBM: A Highly Efficient Gradient
Boosting Decision Tree") with conservative defaults meant to hold across unseen datasets.

Inputs: the preprocessor's unscaled numeric block (median-imputed, with missing indicators)
plus categorical codes as LightGBM categorical features (missing or unseen -> NaN). The number
of trees is chosen by early stopping on an inner stratified split of the training rows
(``validation_fraction``); with ``refit=True`` the model is then retrained on all rows with
that count scaled by ``1 / (1 - validation_fraction)``. Reason codes are TreeSHAP values
(Lundberg et al. 2020) from ``pred_contrib``, summed per raw column, bias dropped.
The artifact is LightGBM's own text format (``model.txt``); nothing is pickled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from tailorkit.data.preprocess import TabularPreprocessor, _source_of
from tailorkit.models.base import TabularModel, group_by_source

BOOSTER_FILE = "model.txt"
IMPORTANCE_ROWS = 5000
# Below this many cells, OpenMP synchronisation costs more than it saves (and on a busy
# machine it costs a lot more: 20x slower measured on 600 rows), so auto uses one thread.
SINGLE_THREAD_CELLS = 1_000_000


class LightGBMModel(TabularModel):
    """Binary LightGBM classifier with early stopping and a refit on all training rows.

    ``num_threads=None`` uses one thread for small tables and every available core above
    ``SINGLE_THREAD_CELLS`` cells. Feature importances are mean |TreeSHAP| over up to
    ``IMPORTANCE_ROWS`` training rows (a seeded sample when there are more).
    """

    family = "lightgbm"

    def __init__(
        self,
        *,
        learning_rate: float = 0.03,
        n_estimators: int = 2000,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        feature_fraction: float = 0.8,
        bagging_fraction: float = 0.8,
        lambda_l2: float = 1.0,
        cat_smooth: float = 10.0,
        min_data_per_group: int = 50,
        validation_fraction: float = 0.15,
        early_stopping_rounds: int = 100,
        refit: bool = True,
        num_threads: int | None = None,
        random_state: int = 0,
    ):
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.lambda_l2 = lambda_l2
        self.cat_smooth = cat_smooth
        self.min_data_per_group = min_data_per_group
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.refit = refit
        self.num_threads = num_threads
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_unlabeled: pd.DataFrame | None) -> None:
        matrix = self._prepare(X, y)
        self.best_iteration_ = self._early_stopped_rounds(matrix, y)
        rounds = self.best_iteration_
        if self.refit and self.validation_fraction > 0:
            rounds = max(1, round(self.best_iteration_ / (1.0 - self.validation_fraction)))
        if self.refit or self.best_iteration_ == self.n_estimators:
            self.booster_ = lgb.train(self._params(), self._dataset(matrix, y), rounds)
        self.n_rounds_ = self.booster_.best_iteration or self.booster_.current_iteration()
        sample = np.random.default_rng(self.random_state).permutation(len(y))[:IMPORTANCE_ROWS]
        self._importances, self._importance_rows = None, matrix[np.sort(sample)]

    @property
    def importances_(self) -> np.ndarray:
        """Mean |TreeSHAP| over the kept training sample, computed on first use: most of the
        TreeSHAP cost of a fit, which cross-validation folds never ask for."""
        if self._importances is None:
            contributions = self._contributions_of(self._importance_rows)
            self._importances, self._importance_rows = np.abs(contributions).mean(axis=0), None
        return self._importances

    @importances_.setter
    def importances_(self, values: np.ndarray) -> None:
        self._importances, self._importance_rows = np.asarray(values, dtype=float), None

    def _prepare(self, X: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        """Fit the preprocessor; the training matrix, thread count and encoded names."""
        self.preprocessor_ = TabularPreprocessor(schema=self.schema_, scale=False).fit(X, y)
        matrix = self._matrix(X)
        self.threads_ = self._thread_count(matrix.size)
        self.feature_names_ = self._encoded_names()
        return matrix

    def _thread_count(self, cells: int) -> int:
        if self.num_threads is not None:
            return self.num_threads
        if cells < SINGLE_THREAD_CELLS:
            return 1
        if hasattr(os, "sched_getaffinity"):
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1

    def _early_stopped_rounds(self, matrix: np.ndarray, y: np.ndarray) -> int:
        """Best number of trees on an inner stratified validation split (keeps that booster)."""
        n_valid = round(len(y) * self.validation_fraction)
        if n_valid < 2 or np.bincount(y).min() < 2:
            return self.n_estimators
        inner, valid = train_test_split(
            np.arange(len(y)),
            test_size=self.validation_fraction,
            stratify=y,
            random_state=self.random_state,
        )
        self.booster_ = lgb.train(
            self._params(),
            self._dataset(matrix[inner], y[inner]),
            self.n_estimators,
            valid_sets=[self._dataset(matrix[valid], y[valid])],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        return max(1, self.booster_.best_iteration or self.n_estimators)

    def _params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1 if self.bagging_fraction < 1 else 0,
            "lambda_l2": self.lambda_l2,
            "cat_smooth": self.cat_smooth,
            "cat_l2": 10.0,
            "min_data_per_group": self.min_data_per_group,
            "max_cat_to_onehot": 4,
            "metric": "binary_logloss",
            "seed": self.random_state,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": self.threads_,
            "verbose": -1,
        }

    def _dataset(self, matrix: np.ndarray, y: np.ndarray) -> lgb.Dataset:
        n_numeric = matrix.shape[1] - len(self.preprocessor_.categorical_columns_)
        return lgb.Dataset(
            matrix,
            label=y,
            feature_name=[f"f{i}" for i in range(matrix.shape[1])],
            categorical_feature=list(range(n_numeric, matrix.shape[1])),
            free_raw_data=True,
        )

    # -------------------------------------------------------------- predict
    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """Numeric block, then categorical codes with 0 (missing or unseen) as NaN."""
        numeric, codes = self.preprocessor_.transform(X)
        categorical = np.where(codes > 0, codes, np.nan)
        return np.hstack([numeric.astype(float), categorical.astype(float)])

    def _encoded_names(self) -> list[str]:
        prep = self.preprocessor_
        missing = [f"{c}__missing" for c in prep.missing_indicators_]
        return prep.numeric_names_ + missing + list(prep.categorical_columns_)

    def _predict_score(self, X: pd.DataFrame) -> np.ndarray:
        matrix = self._matrix(X)
        return self.booster_.predict(matrix, num_threads=self._thread_count(matrix.size))

    def _contributions(self, X: pd.DataFrame) -> np.ndarray:
        return self._contributions_of(self._matrix(X))

    def _contributions_of(self, matrix: np.ndarray) -> np.ndarray:
        threads = self._thread_count(matrix.size)
        shap = self.booster_.predict(matrix, pred_contrib=True, num_threads=threads)
        shap = shap[:, :-1]  # the last column is the bias (expected value)
        columns = self.preprocessor_.columns_
        sources = [_source_of(name, columns) for name in self.feature_names_]
        return group_by_source(shap, sources, columns)

    # ---------------------------------------------------------- persistence
    def _save_weights(self, path: Path) -> dict[str, Any]:
        self.booster_.save_model(str(path / BOOSTER_FILE))
        return {
            "booster_file": BOOSTER_FILE,
            "feature_names": self.feature_names_,
            "best_iteration": self.best_iteration_,
            "n_rounds": self.n_rounds_,
        }

    def _load_weights(self, path: Path, state: dict[str, Any]) -> None:
        self.booster_ = lgb.Booster(model_file=str(path / state["booster_file"]))
        self.feature_names_ = state["feature_names"]
        self.best_iteration_ = state["best_iteration"]
        self.n_rounds_ = state["n_rounds"]
