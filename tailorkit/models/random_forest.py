"""Random forest (Breiman 2001, "Random Forests") grown by LightGBM's ``rf`` boosting mode.

Each tree is fitted to a random 63.2% of the rows (the share of distinct rows a bootstrap
sample holds) and each split looks at a random ``sqrt(p)`` of the ``p`` features, as in
Breiman's defaults; trees are grown deep (many leaves, tiny leaves) and averaged. There is
no learning rate and no early stopping: more trees only lower the variance; the trees are
left unregularized (no L2 on leaves or on categorical splits), as a forest's are. The
inputs, reason codes (TreeSHAP) and the artifact (LightGBM's text format) are those of
:class:`tailorkit.models.gbm.LightGBMModel`. Global importances are each raw column's share
of the total split gain: TreeSHAP over hundreds of deep trees costs about 10 ms a row, too
much to run over the training rows at every fit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.data.preprocess import _source_of
from tailorkit.models.base import group_by_source
from tailorkit.models.gbm import LightGBMModel


class RandomForestModel(LightGBMModel):
    """Binary random-forest classifier; ``max_features=None`` means ``sqrt(p)`` per split."""

    family = "random_forest"

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        num_leaves: int = 4096,
        min_child_samples: int = 2,
        sample_fraction: float = 0.632,
        max_features: int | None = None,
        cat_smooth: float = 1.0,
        min_data_per_group: int = 1,
        n_threads: int | None = None,
        random_state: int = 0,
    ):
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.sample_fraction = sample_fraction
        self.max_features = max_features
        self.cat_smooth = cat_smooth
        self.min_data_per_group = min_data_per_group
        self.n_threads = n_threads
        self.random_state = random_state

    def sized_for(self, n_rows: int) -> RandomForestModel:
        """Nothing depends on the data size: a forest does not bag (LightGBM's ``n_bags``)."""
        return self

    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_unlabeled: pd.DataFrame | None) -> None:
        import lightgbm as lgb

        matrix = self._prepare(X, y)
        self.n_features_ = matrix.shape[1]
        booster = lgb.train(self._params(), self._dataset(matrix, y), self.n_estimators)
        self.boosters_ = [booster]
        gain = booster.feature_importance(importance_type="gain")
        columns = self.preprocessor_.columns_
        sources = [_source_of(name, columns) for name in self.feature_names_]
        total = group_by_source(gain[None, :], sources, columns)[0]
        self.importances_ = total / max(total.sum(), 1e-12)

    def _contributions_of(self, matrix: np.ndarray) -> np.ndarray:
        """TreeSHAP on the log-odds scale: LightGBM sums the trees' raw scores where the
        forest's prediction averages them, so the sums are divided by the tree count."""
        return super()._contributions_of(matrix) / self.boosters_[0].num_trees()

    def _params(self, seed: int | None = None) -> dict[str, Any]:
        per_split = self.max_features or max(1, round(math.sqrt(self.n_features_)))
        return {
            "objective": "binary",
            "boosting": "rf",
            "num_leaves": self.num_leaves,
            "max_depth": -1,
            "min_child_samples": self.min_child_samples,
            "min_sum_hessian_in_leaf": 0.0,
            "bagging_fraction": self.sample_fraction,
            "bagging_freq": 1,
            "feature_fraction_bynode": min(1.0, per_split / self.n_features_),
            "lambda_l2": 0.0,
            "cat_smooth": self.cat_smooth,
            "cat_l2": 0.0,
            "min_data_per_group": self.min_data_per_group,
            "max_cat_to_onehot": 4,
            "seed": self.random_state if seed is None else seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": self.threads_,
            "verbose": -1,
        }
