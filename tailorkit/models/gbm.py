"""LightGBM gradient-boosted trees (Ke et al. 2017, "LightGBM: A Highly Efficient Gradient
Boosting Decision Tree") with conservative defaults meant to hold across unseen datasets.

Inputs: the preprocessor's unscaled numeric block (median-imputed, with missing indicators)
plus categorical codes as LightGBM categorical features (missing or unseen -> NaN). The number
of trees is chosen by early stopping on an inner stratified split of the training rows
(``validation_fraction``); with ``refit`` the model is then retrained on all rows with that
count scaled by ``1 / (1 - validation_fraction)``. On small tables (auto ``n_bags``: 5 up to
``SMALL_TABLE_ROWS`` rows, else 1) several early-stopped fits, each with its own inner split
and seed, are averaged on the log-odds scale instead: there the held-out rows that pick the
tree count are few, and which ones they are moves the score. Bag members are not refitted
(auto ``refit``): together they have seen every row, and refitting doubled the training
time for no gain on the inner protocol. Reason codes are TreeSHAP values
(Lundberg et al. 2020) from ``pred_contrib``, averaged over the bag, summed per raw column,
bias dropped. The artifact is LightGBM's own text format (``model.txt``, then
``model_1.txt`` ... for a bag); nothing is pickled.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.model_selection import train_test_split

from tailorkit.data.preprocess import TabularPreprocessor, _source_of
from tailorkit.errors import SpecError
from tailorkit.models.base import SMALL_TABLE_ROWS, TabularModel, group_by_source

BOOSTER_FILE = "model.txt"
SMALL_TABLE_BAGS = 5
IMPORTANCE_ROWS = 5000
# Below this many cells, OpenMP synchronisation costs more than it saves (and on a busy
# machine it costs a lot more: 20x slower measured on 600 rows), so auto uses one thread.
SINGLE_THREAD_CELLS = 1_000_000


class LightGBMModel(TabularModel):
    """Binary LightGBM classifier with early stopping and a refit on all training rows.

    ``n_threads=None`` uses one thread for small tables and every available core above
    ``SINGLE_THREAD_CELLS`` cells. Feature importances are mean |TreeSHAP| over up to
    ``IMPORTANCE_ROWS`` training rows (a seeded sample when there are more). ``n_bags=None``
    bags 5 fits on tables up to ``SMALL_TABLE_ROWS`` rows and fits one above.
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
        refit: bool | None = None,
        n_bags: int | None = None,
        n_threads: int | None = None,
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
        self.n_bags = n_bags
        self.n_threads = n_threads
        self.random_state = random_state

    def sized_for(self, n_rows: int) -> LightGBMModel:
        """Bagged or not by the whole data set's size (a fold alone may fall below the line)."""
        if self.n_bags is None:
            self.n_bags = SMALL_TABLE_BAGS if n_rows <= SMALL_TABLE_ROWS else 1
        return self

    # ------------------------------------------------------------------ fit
    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_unlabeled: pd.DataFrame | None) -> None:
        matrix = self._prepare(X, y)
        if self.n_bags is not None and self.n_bags < 1:
            raise SpecError(f"lightgbm n_bags must be at least 1, not {self.n_bags}")
        n_bags = self.n_bags or (SMALL_TABLE_BAGS if len(y) <= SMALL_TABLE_ROWS else 1)
        refit = n_bags == 1 if self.refit is None else self.refit
        self.boosters_ = [
            self._fit_member(matrix, y, self.random_state + k, refit) for k in range(n_bags)
        ]
        sample = np.random.default_rng(self.random_state).permutation(len(y))[:IMPORTANCE_ROWS]
        self._pending_importances = partial(self._mean_abs_contributions, matrix[np.sort(sample)])

    def _mean_abs_contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Mean |TreeSHAP| per raw column: most of the TreeSHAP cost of a fit, paid only when
        the importances are asked for (cross-validation folds never do)."""
        return np.abs(self._contributions_of(matrix)).mean(axis=0)

    def _prepare(self, X: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        """Fit the preprocessor; the training matrix, thread count and encoded names."""
        self.preprocessor_ = TabularPreprocessor(schema=self.schema_, scale=False).fit(X, y)
        matrix = self._matrix(X)
        self.threads_ = self._thread_count(matrix.size)
        self.feature_names_ = self._encoded_names()
        return matrix

    def _thread_count(self, cells: int) -> int:
        if self.n_threads is not None:
            return self.n_threads
        if cells < SINGLE_THREAD_CELLS:
            return 1
        if hasattr(os, "sched_getaffinity"):
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1

    def _fit_member(self, matrix: np.ndarray, y: np.ndarray, seed: int, refit: bool) -> lgb.Booster:
        """Trees counted by early stopping on an inner split drawn with ``seed``, then (with
        ``refit``) grown again on all rows, that count scaled to the larger set."""
        n_valid = round(len(y) * self.validation_fraction)
        if n_valid < 2 or np.bincount(y).min() < 2:
            return lgb.train(self._params(seed), self._dataset(matrix, y), self.n_estimators)
        inner, valid = train_test_split(
            np.arange(len(y)), test_size=self.validation_fraction, stratify=y, random_state=seed
        )
        booster = lgb.train(
            self._params(seed),
            self._dataset(matrix[inner], y[inner]),
            self.n_estimators,
            valid_sets=[self._dataset(matrix[valid], y[valid])],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        if not refit:
            return booster
        best = max(1, booster.best_iteration or self.n_estimators)
        rounds = max(1, round(best / (1.0 - self.validation_fraction)))
        return lgb.train(self._params(seed), self._dataset(matrix, y), rounds)

    @property
    def n_rounds_(self) -> list[int]:
        """Trees used by each booster of the bag."""
        return [b.best_iteration or b.current_iteration() for b in self.boosters_]

    def _params(self, seed: int | None = None) -> dict[str, Any]:
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
            "seed": self.random_state if seed is None else seed,
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
        return self._scores_of(self._matrix(X))

    def _scores_of(self, matrix: np.ndarray) -> np.ndarray:
        """Probability of the positive class: one booster's, or the sigmoid of the bag's mean
        log-odds."""
        threads = self._thread_count(matrix.size)
        if len(self.boosters_) == 1:
            return self.boosters_[0].predict(matrix, num_threads=threads)
        raw = [b.predict(matrix, raw_score=True, num_threads=threads) for b in self.boosters_]
        return expit(np.mean(raw, axis=0))

    def _contributions(self, X: pd.DataFrame) -> np.ndarray:
        return self._contributions_of(self._matrix(X))

    def _contributions_of(self, matrix: np.ndarray) -> np.ndarray:
        threads = self._thread_count(matrix.size)
        shap = np.mean(
            [b.predict(matrix, pred_contrib=True, num_threads=threads) for b in self.boosters_],
            axis=0,
        )[:, :-1]  # the last column is the bias (expected value)
        columns = self.preprocessor_.columns_
        sources = [_source_of(name, columns) for name in self.feature_names_]
        return group_by_source(shap, sources, columns)

    # ---------------------------------------------------------- persistence
    def _save_weights(self, path: Path) -> dict[str, Any]:
        files = [_booster_file(k) for k in range(len(self.boosters_))]
        for booster, name in zip(self.boosters_, files, strict=True):
            booster.save_model(str(path / name))
        return {"booster_files": files, "feature_names": self.feature_names_}

    def _load_weights(self, path: Path, state: dict[str, Any]) -> None:
        files = state.get("booster_files") or [state["booster_file"]]  # one-booster artifacts
        self.boosters_ = [lgb.Booster(model_file=str(path / name)) for name in files]
        self.feature_names_ = state["feature_names"]


def _booster_file(k: int) -> str:
    return BOOSTER_FILE if k == 0 else BOOSTER_FILE.replace(".txt", f"_{k}.txt")
