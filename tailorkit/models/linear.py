"""Logistic-regression scorecard: L2 logistic regression, optional WoE binning, score points.

The classic credit scorecard (Siddiqi 2006, "Credit Risk Scorecards"; Thomas, Edelman &
Crook 2002, "Credit Scoring and Its Applications"): an L2-penalized logistic regression
(scikit-learn, lbfgs) whose inputs depend on ``binning``:

- ``none``: the preprocessor's linear matrix (standardized numeric columns with missing
  indicators, one-hot or cross-fitted target encoding for categoricals);
- ``woe``: the textbook scorecard, Weight of Evidence features only: each numeric column cut
  into up to ``max_bins`` training quantile bins (missing values get their own bin), each
  bin and each categorical level replaced by its smoothed WoE;
- ``hybrid``: the linear matrix plus the WoE of each numeric column's bins, so a
  non-monotone or threshold effect (e.g. months of payment delay) is captured without
  losing the linear trend. Measured with 5-fold CV: German credit AUC 0.790 (none 0.792,
  woe 0.779), Taiwan default 0.775 (none 0.723, woe 0.772).
- ``auto`` (default): ``none`` or ``hybrid``, whichever has the lower log loss in a seeded
  stratified 3-fold CV of the regression inside the training rows (never the rows being
  evaluated; the WoE columns are the cross-fitted ones): they pay off where effects are
  non-linear and overfit small, linear data.

WoE here is ``ln(share of bads / share of goods)`` in a bin (positive = riskier), shrunk
towards 0 for small bins, and cross-fitted over 5 folds on the training rows so a row's own
label never enters its feature.

Points use the standard scaling: ``factor = pdo / ln 2``, ``offset = base_score - factor *
ln(base_odds)``, ``points = offset - factor * logit(P(bad))``, so ``base_odds`` good:bad odds
score ``base_score`` and every ``pdo`` points double the odds. Reason codes are
coefficient x (value - training mean) summed per raw column: 0 is the average applicant.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from tailorkit.data.preprocess import TabularPreprocessor, check_columns
from tailorkit.errors import SpecError
from tailorkit.models.base import TabularModel, group_by_source

COEFFICIENTS_FILE = "coefficients.json"
WOE_SMOOTHING = 10.0
CROSS_FIT_FOLDS = 5
BINNING_MODES = ("auto", "none", "woe", "hybrid")
INNER_FOLDS = 3


class LogisticScorecard(TabularModel):
    """L2 logistic regression with score points and per-feature reason codes.

    ``C``: inverse L2 strength (on standardized columns). ``binning``: ``auto``, ``none``,
    ``woe`` or ``hybrid`` (see the module docstring; ``True``/``False`` mean ``woe``/``none``);
    ``binning_used_`` is the mode the fit used.
    ``random_state`` fixes the WoE cross-fitting folds.
    """

    family = "logistic"

    def __init__(
        self,
        *,
        C: float = 1.0,
        binning: str | bool = "auto",
        max_bins: int = 6,
        max_iter: int = 5000,
        base_score: float = 600.0,
        base_odds: float = 50.0,
        pdo: float = 20.0,
        random_state: int = 0,
    ):
        self.C = C
        self.binning = binning
        self.max_bins = max_bins
        self.max_iter = max_iter
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    @property
    def binning_mode(self) -> str:
        """The requested mode; ``True`` means ``woe``, ``False`` means ``none``."""
        mode = {True: "woe", False: "none"}.get(self.binning, self.binning)
        if mode not in BINNING_MODES:
            raise SpecError(f"logistic: binning must be one of {', '.join(BINNING_MODES)}")
        return mode

    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_unlabeled: pd.DataFrame | None) -> None:
        mode = self.binning_mode
        self.binning_used_ = "hybrid" if mode == "auto" else mode
        self.preprocessor_ = TabularPreprocessor(schema=self.schema_, scale=mode != "woe")
        self.preprocessor_.fit(X, y)
        self.woe_ = []
        if mode != "none":
            self.woe_ = fit_woe_tables(
                self.preprocessor_, X, y, self.max_bins, with_categorical=mode == "woe"
            )
        matrix, self.names_, self.sources_ = self._design(X, y)
        if mode == "auto" and self._linear_only_is_better(matrix, y, n_woe=len(self.woe_)):
            n_woe, self.woe_, self.binning_used_ = len(self.woe_), [], "none"
            matrix, self.names_, self.sources_ = (
                matrix[:, n_woe:],
                self.names_[n_woe:],
                self.sources_[n_woe:],
            )
        estimator = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(matrix, y)
        self.coef_ = estimator.coef_[0].astype(float)
        self.intercept_ = float(estimator.intercept_[0])
        self.feature_means_ = matrix.mean(axis=0)
        centered = (matrix - self.feature_means_) * self.coef_
        self.importances_ = np.abs(self._group(centered)).mean(axis=0)

    def _linear_only_is_better(self, matrix: np.ndarray, y: np.ndarray, n_woe: int) -> bool:
        """Inner stratified 3-fold CV on the training rows: does dropping the (cross-fitted)
        WoE columns give a lower mean log loss than keeping them?"""
        from sklearn.metrics import log_loss
        from sklearn.model_selection import StratifiedKFold

        if not n_woe or np.bincount(y, minlength=2).min() < INNER_FOLDS:
            return False
        splitter = StratifiedKFold(INNER_FOLDS, shuffle=True, random_state=self.random_state)
        losses = {"none": [], "hybrid": []}
        for train, valid in splitter.split(matrix, y):
            for mode, columns in (("none", slice(n_woe, None)), ("hybrid", slice(None))):
                estimator = LogisticRegression(C=self.C, max_iter=self.max_iter)
                estimator.fit(matrix[train][:, columns], y[train])
                score = estimator.predict_proba(matrix[valid][:, columns])[:, 1]
                losses[mode].append(log_loss(y[valid], score, labels=[0, 1]))
        return float(np.mean(losses["none"])) < float(np.mean(losses["hybrid"]))

    def _design(
        self, X: pd.DataFrame, y: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[str], list[str]]:
        """Model matrix (WoE columns, then the linear matrix unless ``woe``), names, sources."""
        prep = self.preprocessor_
        check_columns(X, prep.columns_)
        blocks = [self._woe_matrix(X, y)] if self.woe_ or self.binning_used_ == "woe" else []
        names = [f"{table['name']}__woe" for table in self.woe_]
        sources = [table["source"] for table in self.woe_]
        if self.binning_used_ != "woe":
            linear, linear_names, linear_sources = prep.to_matrix(X, y)
            blocks.append(linear)
            names += linear_names
            sources += linear_sources
        return np.hstack(blocks).astype(float), names, sources

    def _woe_matrix(self, X: pd.DataFrame, y: np.ndarray | None = None) -> np.ndarray:
        numeric, names = unscaled_numeric(self.preprocessor_, X)
        codes = self.preprocessor_.transform_categorical(X)
        if y is None:
            return woe_transform(self.woe_, numeric, names, codes)
        # cross-fitted: a training row's own label never enters its WoE
        folds = np.random.default_rng(self.random_state).integers(0, CROSS_FIT_FOLDS, len(y))
        matrix = np.zeros((len(y), len(self.woe_)))
        for fold in range(CROSS_FIT_FOLDS):
            inside, outside = folds != fold, folds == fold
            tables = refit_woe_values(self.woe_, numeric[inside], names, codes[inside], y[inside])
            matrix[outside] = woe_transform(tables, numeric[outside], names, codes[outside])
        return matrix

    # -------------------------------------------------------------- predict
    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        return self._design(X)[0]

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of the positive class (bad)."""
        return self._matrix(X) @ self.coef_ + self.intercept_

    def _predict_score(self, X: pd.DataFrame) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))

    def _contributions(self, X: pd.DataFrame) -> np.ndarray:
        return self._group((self._matrix(X) - self.feature_means_) * self.coef_)

    def _group(self, values: np.ndarray) -> np.ndarray:
        return group_by_source(values, self.sources_, self.preprocessor_.columns_)

    # ------------------------------------------------------------ scorecard
    @property
    def points_factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def points_offset(self) -> float:
        return self.base_score - self.points_factor * math.log(self.base_odds)

    def score_points(self, X: pd.DataFrame) -> np.ndarray:
        """Total score per row: higher is safer; ``pdo`` more points double the good:bad odds."""
        return self.points_offset - self.points_factor * self.decision_function(X)

    def scorecard_table(self) -> pd.DataFrame:
        """Points per feature and bin (or level, or unit); a row's score is the base plus its
        rows' points (times the value for ``per unit`` rows)."""
        base = self.points_offset - self.points_factor * self.intercept_
        rows = [{"feature": "(base points)", "bin": "", "points": base}]
        woe_names = {f"{table['name']}__woe": table for table in self.woe_}
        for name, source, coef in zip(self.names_, self.sources_, self.coef_, strict=True):
            if name in woe_names:
                table = woe_names[name]
                for label, woe in zip(table["labels"], table["woe"], strict=True):
                    points = -self.points_factor * coef * woe
                    rows.append({"feature": table["name"], "bin": label, "points": points})
            else:
                rows.append({"feature": source, **self._linear_row(name, source, coef)})
        table = pd.DataFrame(rows)
        table["points"] = table["points"].astype(float).round(4)
        return table

    def _linear_row(self, name: str, source: str, coef: float) -> dict[str, Any]:
        prep = self.preprocessor_
        if name in prep.stds_:  # standardized numeric: points per raw unit
            per_unit = -self.points_factor * coef / prep.stds_[name]
            return {"bin": f"per unit of {name} (0 at {prep.means_[name]:.4g})", "points": per_unit}
        if name.endswith("__target"):
            return {
                "bin": "per unit of the level's default rate",
                "points": -self.points_factor * coef,
            }
        if name.startswith(f"{source}="):
            return {"bin": name[len(source) + 1 :], "points": -self.points_factor * coef}
        return {"bin": name.replace(f"{source}__", ""), "points": -self.points_factor * coef}

    # ---------------------------------------------------------- persistence
    def _save_weights(self, path: Path) -> dict[str, Any]:
        weights = {
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
            "names": self.names_,
            "sources": self.sources_,
            "feature_means": self.feature_means_.tolist(),
            "woe": self.woe_,
            "binning_used": self.binning_used_,
        }
        (path / COEFFICIENTS_FILE).write_text(json.dumps(weights, indent=1))
        return {"weights_file": COEFFICIENTS_FILE}

    def _load_weights(self, path: Path, state: dict[str, Any]) -> None:
        weights = json.loads((path / state["weights_file"]).read_text())
        self.coef_ = np.array(weights["coef"], dtype=float)
        self.intercept_ = float(weights["intercept"])
        self.names_ = weights["names"]
        self.sources_ = weights["sources"]
        self.feature_means_ = np.array(weights["feature_means"], dtype=float)
        self.woe_ = weights["woe"]
        self.binning_used_ = weights["binning_used"]


# ------------------------------------------------------------ WoE binning
def fit_woe_tables(
    prep: TabularPreprocessor,
    X: pd.DataFrame,
    y: np.ndarray,
    max_bins: int,
    *,
    with_categorical: bool,
) -> list[dict[str, Any]]:
    """One table per WoE feature: bin edges (numeric) or level codes, labels and WoE values."""
    numeric, names = unscaled_numeric(prep, X)
    codes = prep.transform_categorical(X)
    tables = []
    for name in prep.numeric_names_:
        values = numeric[:, names.index(name)].astype(float)
        missing = _missing_rows(numeric, names, name)
        edges = _quantile_edges(values[~missing], max_bins)
        labels = _interval_labels(edges)
        if missing.any():
            labels.append("missing")
        source = name if name in prep.columns_ else name.rsplit("__", 1)[0]
        tables.append({"name": name, "source": source, "edges": edges, "labels": labels})
    for j, column in enumerate(prep.categorical_columns_ if with_categorical else []):
        labels = ["missing or unseen", *prep.levels_[column]]
        tables.append({"name": column, "source": column, "index": j, "labels": labels})
    return refit_woe_values(tables, numeric, names, codes, y)


def unscaled_numeric(prep: TabularPreprocessor, X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The imputed numeric block in original units (bins read like the raw data)."""
    numeric, names = prep.transform_numeric(X)
    numeric = numeric.astype(float)
    if prep.scale:
        for j, name in enumerate(prep.numeric_names_):
            numeric[:, j] = numeric[:, j] * prep.stds_[name] + prep.means_[name]
    return numeric, names


def refit_woe_values(
    tables: list[dict[str, Any]],
    numeric: np.ndarray,
    names: list[str],
    codes: np.ndarray,
    y: np.ndarray,
) -> list[dict[str, Any]]:
    """Copies of ``tables`` with WoE values computed from these rows and labels."""
    prior = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    refitted = []
    for table in tables:
        bins = _bin_index(table, numeric, names, codes)
        counts = np.bincount(bins, minlength=len(table["labels"])).astype(float)
        bads = np.bincount(bins, weights=y, minlength=len(table["labels"]))
        rate = (bads + WOE_SMOOTHING * prior) / (counts + WOE_SMOOTHING)
        woe = _logit(rate) - _logit(prior)
        refitted.append({**table, "woe": [float(v) for v in woe]})
    return refitted


def woe_transform(
    tables: list[dict[str, Any]], numeric: np.ndarray, names: list[str], codes: np.ndarray
) -> np.ndarray:
    """The WoE matrix: one column per table."""
    columns = [np.asarray(t["woe"])[_bin_index(t, numeric, names, codes)] for t in tables]
    return np.column_stack(columns) if columns else np.zeros((len(numeric), 0))


def _bin_index(
    table: dict[str, Any], numeric: np.ndarray, names: list[str], codes: np.ndarray
) -> np.ndarray:
    if "index" in table:
        return codes[:, table["index"]].astype(int)
    values = numeric[:, names.index(table["name"])].astype(float)
    bins = np.searchsorted(np.asarray(table["edges"], dtype=float), values, side="left")
    if table["labels"][-1] == "missing":
        bins[_missing_rows(numeric, names, table["name"])] = len(table["labels"]) - 1
    return bins


def _missing_rows(numeric: np.ndarray, names: list[str], name: str) -> np.ndarray:
    indicator = f"{name}__missing"
    if indicator not in names:
        return np.zeros(len(numeric), dtype=bool)
    return numeric[:, names.index(indicator)] > 0.5


def _quantile_edges(values: np.ndarray, max_bins: int) -> list[float]:
    """Upper edges of up to ``max_bins`` quantile bins (the last bin is open above)."""
    if len(values) == 0:
        return []
    distinct = np.unique(values)
    if len(distinct) <= max_bins:
        return [float(v) for v in distinct[:-1]]
    quantiles = np.quantile(values, np.linspace(0, 1, max_bins + 1)[1:-1], method="lower")
    return [float(v) for v in np.unique(quantiles) if v < distinct[-1]]


def _interval_labels(edges: list[float]) -> list[str]:
    bounds = [-math.inf, *edges, math.inf]
    return [f"({low:.6g}, {high:.6g}]" for low, high in zip(bounds[:-1], bounds[1:], strict=True)][
        :-1
    ] + [f"({bounds[-2]:.6g}, inf)"]


def _logit(p: np.ndarray | float) -> np.ndarray | float:
    return np.log(p) - np.log1p(-p)
