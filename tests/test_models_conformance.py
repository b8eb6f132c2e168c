"""One conformance suite run over every registered model family (tiny configurations)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from tailorkit.errors import DataError
from tailorkit.models import FAMILIES, families, family_class, load_model, make_model
from tailorkit.models.base import TabularModel
from tailorkit.models.registry import INTERNAL_FAMILIES

MODEL_FAMILIES = tuple(
    f for f in families("tabular") if f not in INTERNAL_FAMILIES or f == "ensemble"
)

TINY_LIGHTGBM = {"n_estimators": 40, "early_stopping_rounds": 10, "n_threads": 1}
TINY_PARAMS: dict[str, dict] = {
    "logistic": {},
    "lightgbm": TINY_LIGHTGBM,
    "random_forest": {"n_estimators": 30, "n_threads": 1},
    "ft_transformer": {
        "d_token": 8,
        "n_blocks": 1,
        "max_epochs": 3,
        "pretrain_epochs": 2,
        "n_threads": 1,
    },
    "ensemble": {
        "members": [
            {"name": "scorecard", "family": "logistic", "params": {"binning": True}},
            {"name": "trees", "family": "lightgbm", "params": TINY_LIGHTGBM},
        ],
        "weights": {"scorecard": 0.4, "trees": 0.6},
    },
}
ADDITIVE_FAMILIES = (
    "logistic",
    "lightgbm",
    "random_forest",
)  # explain() rows sum to logit(p) - constant
PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".pth"}


def applicants(n: int = 160, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Small credit-like table: numeric with gaps, categoricals, a boolean; risk from several."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.5, n)
    income[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": income,
            "purpose": rng.choice(["car", "house", "education", "other"], n),
            "housing": rng.choice(["own", "rent", None], n, p=[0.5, 0.4, 0.1]),
            "has_phone": rng.random(n) < 0.6,
        }
    )
    logit = (
        -0.04 * (frame["age"] - 45)
        - 0.8 * (np.log(frame["income"].fillna(22000)) - 10)
        + 0.9 * (frame["purpose"] == "education")
        - 0.5 * frame["has_phone"]
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, y


def new_model(family: str, **changes) -> TabularModel:
    params = {**TINY_PARAMS[family], **changes}
    model = make_model(family, **params)
    if "random_state" in model.get_params() and "random_state" not in changes:
        model.set_params(random_state=0)
    return model


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return applicants()


def fit_checked(family: str, X: pd.DataFrame, y: np.ndarray) -> TabularModel:
    model = new_model(family)
    assert model.fit(X, y) is model, "fit must return self"
    return model


@pytest.fixture(scope="module")
def fitted(data) -> dict[str, TabularModel]:
    X, y = data
    return {family: fit_checked(family, X, y) for family in MODEL_FAMILIES}


def test_every_family_has_a_tiny_configuration():
    assert set(TINY_PARAMS) == set(MODEL_FAMILIES)


def test_catalogue_names_are_the_classes_family_names():
    for name, entry in FAMILIES.items():
        cls = family_class(name)
        assert cls.family == name and cls.kind == entry.kind


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_fit_predict_shapes(family, data, fitted):
    X, _ = data
    model = fitted[family]
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert set(np.unique(model.predict(X))) <= {0, 1}
    assert len(model.feature_importances_) == len(model.feature_names_in_)


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_clone_is_unfitted_with_equal_params(family, fitted):
    model = fitted[family]
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "schema_")


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_same_random_state_same_probabilities(family, data, fitted):
    X, y = data
    again = new_model(family).fit(X, y)
    np.testing.assert_allclose(again.predict_proba(X), fitted[family].predict_proba(X), atol=1e-9)


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_save_load_predicts_the_same_without_pickle(family, data, fitted, tmp_path: Path):
    X, _ = data
    model = fitted[family]
    folder = model.save(tmp_path / family)
    loaded = load_model(folder)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-6)
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for file in files:
        assert file.suffix not in PICKLE_SUFFIXES, file
        assert not file.read_bytes()[:1] == b"\x80", f"{file} looks like a pickle"


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_unseen_categories_and_missing_values_at_predict(family, data, fitted):
    X, _ = data
    odd = X.head(6).copy()
    odd["purpose"] = ["boat", None, "car", "", "spaceship", "house"]
    odd["housing"] = None
    odd.loc[odd.index[:3], "age"] = np.nan
    odd["income"] = np.nan
    proba = fitted[family].predict_proba(odd)
    assert proba.shape == (6, 2)
    assert np.isfinite(proba).all()
    two = X.loc[[X.index[0]] * 2].assign(purpose=["boat", "spaceship"])  # both unseen
    assert np.ptp(fitted[family].predict_proba(two)[:, 1]) == 0


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_missing_column_is_named(family, data, fitted):
    X, _ = data
    with pytest.raises(DataError, match="'income'"):
        fitted[family].predict_proba(X.drop(columns="income").head(5))


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_text_in_numeric_column_names_column_and_row(family, data, fitted):
    X, _ = data
    bad = X.head(5).copy()
    bad["age"] = bad["age"].astype(object)
    bad.loc[3, "age"] = "forty"
    with pytest.raises(DataError, match=r"'age'.*row 4.*'forty'"):
        fitted[family].predict_proba(bad)


@pytest.mark.parametrize("family", MODEL_FAMILIES)
def test_explain_shape_and_additivity(family, data, fitted):
    X, _ = data
    model = fitted[family]
    rows = X.head(20)
    if family == "ft_transformer":  # attention is no per-row attribution: it says so
        with pytest.raises(NotImplementedError):
            model.explain(rows)
        return
    contributions = model.explain(rows)
    assert contributions.shape == (len(rows), len(model.feature_names_in_))
    assert list(contributions.columns) == model.feature_names_in_
    assert np.isfinite(contributions.to_numpy()).all()
    if family in ADDITIVE_FAMILIES:
        p = model.predict_proba(rows)[:, 1]
        gap = np.log(p / (1 - p)) - contributions.sum(axis=1).to_numpy()
        np.testing.assert_allclose(gap, gap[0], atol=1e-5)
    if family == "ensemble":  # the members' contributions, weighted
        members = model.models_
        expected = 0.4 * members["scorecard"].explain(rows) + 0.6 * members["trees"].explain(rows)
        np.testing.assert_allclose(contributions.to_numpy(), expected.to_numpy(), atol=1e-9)


@pytest.mark.parametrize("binning", ["none", "woe", "hybrid"])
def test_scorecard_points_follow_the_standard_scaling(binning, data):
    X, y = data
    model = new_model("logistic", binning=binning, base_score=600, base_odds=50, pdo=20).fit(X, y)
    p = model.predict_proba(X)[:, 1]
    factor = 20 / np.log(2)
    expected = 600 - factor * np.log(50) - factor * np.log(p / (1 - p))
    np.testing.assert_allclose(model.score_points(X), expected, rtol=1e-9)
    table = model.scorecard_table()
    assert list(table.columns) == ["feature", "bin", "points"]
    assert table["feature"].iloc[0] == "(base points)"
    assert set(model.feature_names_in_) <= set(table["feature"])
    assert np.isfinite(table["points"]).all()
    if binning == "woe":  # training rows with an empty income get their own bin
        assert "missing" in set(table.loc[table["feature"] == "income", "bin"])


def test_auto_binning_keeps_woe_for_a_threshold_effect_and_drops_it_for_noise(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 6)), columns=[f"x{i}" for i in range(6)])
    risky = np.abs(X["x0"]) > 1.2  # non-monotone: both tails are risky
    y = (rng.random(400) < np.where(risky, 0.85, 0.1)).astype(int)
    threshold = make_model("logistic").fit(X, y)
    assert threshold.binning_used_ == "hybrid" and threshold.woe_
    saved = load_model(threshold.save(tmp_path / "model"))
    assert saved.binning_used_ == "hybrid"
    np.testing.assert_allclose(saved.predict_proba(X), threshold.predict_proba(X))

    rng = np.random.default_rng(1)  # 200 rows, a linear signal, 28 columns of noise
    X = pd.DataFrame(rng.normal(size=(200, 30)), columns=[f"x{i}" for i in range(30)])
    y = (rng.random(200) < 1 / (1 + np.exp(-2 * X["x0"] - 2 * X["x1"]))).astype(int)
    linear = make_model("logistic").fit(X, y)
    assert linear.binning_used_ == "none" and linear.woe_ == []
    assert not any(name.endswith("__woe") for name in linear.names_)
