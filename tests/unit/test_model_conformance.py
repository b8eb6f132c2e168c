"""One conformance suite over every family of the model catalogue, as scikit-learn's
``check_estimator``: names, parameters, clone, fit, outputs, determinism, save/load without
pickle and clear errors on bad input; then what only one kind promises (reason codes,
scorecard points and unseen categories for tables; rules and compiled scoring for
recommenders). Tiny data and configurations: the whole file runs in well under a minute.

Each kind has one helper that builds its data, fits a model on it, reads its outputs and
feeds it a bad input; a family made by a command (``compressed``) is made by that command.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from tailorkit.compress.split import split_for_compression
from tailorkit.compress.variants import compress
from tailorkit.data.interactions import leave_one_out
from tailorkit.data.patients import PatientInputs, load_visit_sequences
from tailorkit.data.simulators.patients import simulate_patients, simulate_visits
from tailorkit.errors import DataError, SpecError
from tailorkit.models import FAMILIES, families, family_class, load_model, make_model
from tailorkit.models.recommender import TrainingSequences, Validation
from tailorkit.models.registry import parameter_names, sized_params

TINY_LIGHTGBM = {"n_estimators": 40, "early_stopping_rounds": 10, "n_threads": 1}
TINY_FT = {"d_token": 8, "n_blocks": 1, "max_epochs": 3, "pretrain_epochs": 2, "n_bags": 1,
           "n_threads": 1}  # fmt: skip
TINY_WINDOW = {
    "sensor_lightgbm": {"n_estimators": 30, "early_stopping_rounds": 10},
    "sensor_lstm": {"hidden": 8, "layers": 1, "max_epochs": 2, "pretrain_epochs": 1},
    "sensor_cnn": {"channels": 8, "layers": 2, "max_epochs": 2, "pretrain_epochs": 1},
    "sensor_transformer": {"d_model": 8, "n_heads": 2, "n_layers": 1, "dim_feedforward": 16,
                           "max_epochs": 2, "pretrain_epochs": 1},
}  # fmt: skip
TINY: dict[str, dict[str, Any]] = {
    "logistic": {},
    "lightgbm": TINY_LIGHTGBM,
    "random_forest": {"n_estimators": 30, "n_threads": 1},
    "ft_transformer": TINY_FT,
    "ensemble": {
        "members": [
            {"name": "scorecard", "family": "logistic", "params": {"binning": True}},
            {"name": "trees", "family": "lightgbm", "params": TINY_LIGHTGBM},
        ],
        "weights": {"scorecard": 0.4, "trees": 0.6},
    },
    "compressed": {"method": "onnx", "source": "ft_transformer", "n_threads": 1},
    "text_classifier": {"mode": "frozen", "max_length": 48, "n_threads": 1},
    "image_cnn": {"image_size": 24, "widths": [4, 8], "max_epochs": 2, "n_threads": 1},
    "visit_gru": {"hidden": 8, "max_epochs": 3, "n_threads": 1},
    "fusion": {"image_size": 24, "widths": [4, 8], "d_embed": 8, "hidden": 16, "max_epochs": 2,
               "text_max_length": 48, "n_threads": 1},
    **TINY_WINDOW,
    "sensor_ensemble": {"weights": [1.0, 3.0]},  # + fresh members, see tiny_params
    "popularity": {},
    "item_knn": {"neighbours": 20},
    "als": {"factors": 8, "max_epochs": 3},
    "sasrec": {"hidden": 16, "max_len": 20, "max_epochs": 2, "pretrain_epochs": 1,
               "batch_size": 32, "n_threads": 1, "n_seeds": 1},
}  # fmt: skip
ENSEMBLE_MEMBERS = ("sensor_lightgbm", "sensor_cnn")
PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".pth"}
PICKLE_PROTOCOLS = {b"\x80" + bytes([protocol]) for protocol in range(2, 6)}


def tiny_params(family: str) -> dict[str, Any]:
    """The family's tiny configuration (a window ensemble gets new, unfitted members)."""
    params = dict(TINY[family])
    if family == "sensor_ensemble":
        params["members"] = [make_model(f, random_state=0, **TINY[f]) for f in ENSEMBLE_MEMBERS]
    return params


def new_model(family: str, **changes):
    model = make_model(family, **{**tiny_params(family), **changes})
    if "random_state" in model.get_params() and "random_state" not in changes:
        model.set_params(random_state=0)
    return model


# ------------------------------------------------------------------------ the kinds' data
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


def patient_records(n: int = 120) -> tuple[PatientInputs, np.ndarray]:
    """Every modality for ``n`` simulated patients (table, notes, images, visits), labels."""
    frame, images = simulate_patients(n, random_state=4)
    visits, lengths, _ = load_visit_sequences(
        simulate_visits(frame),
        frame["patient_id"],
        patient_col="patient_id",
        time_col="visit_date",
        features=None,
        max_visits=6,
        source="visits",
    )
    inputs = PatientInputs(
        tabular=frame[["age", "sex", "systolic_bp", "cholesterol", "smoker"]],
        notes=frame["note"].tolist(),
        images=images,
        image_present=~frame["image_missing"].to_numpy(),
        visits=visits,
        visit_lengths=lengths,
    )
    return inputs, frame["disease"].to_numpy()


def sensor_windows(n: int = 400):
    """Windows (n, 12, 4) that wear out along the rows: capped RUL, failure labels, assets."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 12, 4)).astype(np.float32)
    health = np.linspace(1, 0, n) + rng.normal(0, 0.05, n)
    X[:, :, 0] += (1 - health)[:, None] * 3
    rul = np.clip(health * 100, 0, 80).astype(np.float32)
    failure = (rul <= 20).astype(np.float32)
    groups = np.arange(n) // 40
    return X, rul, failure, groups


def item_sequences(n_users: int = 90, n_items: int = 40):
    """Users who browse mostly one of five item clusters, split leave-one-out; item texts."""
    rng = np.random.default_rng(1)
    sequences = []
    for _ in range(n_users):
        cluster = rng.integers(0, 5) * 8
        length = int(rng.integers(4, 12))
        own = cluster + rng.integers(0, 8, length)
        sequences.append(np.where(rng.random(length) < 0.8, own, rng.integers(0, n_items, length)))
    split = leave_one_out(sequences, [np.arange(len(s), dtype=float) for s in sequences])
    vectors = rng.normal(size=(n_items, 12)).astype(np.float32)
    train = TrainingSequences(split.train, n_items, split.train_times, None, vectors)
    return train, Validation(split.valid.histories, split.valid.targets), split.test


# -------------------------------------------------------------------------------- kinds
class Tabular:
    """Raw DataFrame in, probability of the positive class out."""

    @functools.cached_property
    def data(self):
        return applicants()

    def fit(self, model):
        return model.fit(*self.data)

    def outputs(self, model) -> np.ndarray:
        return model.predict_proba(self.data[0])

    def check_outputs(self, model) -> None:
        X = self.data[0]
        proba = self.outputs(model)
        assert proba.shape == (len(X), 2) and np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert ((proba >= 0) & (proba <= 1)).all()
        assert set(np.unique(model.predict(X))) <= {0, 1}
        assert len(model.feature_importances_) == len(model.feature_names_in_)

    def check_bad_input(self, model) -> None:
        with pytest.raises(DataError, match="'income'"):
            model.predict_proba(self.data[0].drop(columns="income").head(5))


class Modality:
    """Notes, images, visit sequences or all of them in, one probability per class out."""

    @functools.cached_property
    def data(self):
        return patient_records()

    def view(self, model):
        inputs = self.data[0]
        return {"text": inputs.notes, "image": inputs.images}.get(model.modality, inputs)

    def fit(self, model):
        return model.fit(self.view(model), self.data[1])

    def outputs(self, model) -> np.ndarray:
        return model.predict_proba(self.view(model))

    def check_outputs(self, model) -> None:
        proba = self.outputs(model)
        assert proba.shape == (len(self.data[1]), len(model.classes_)) == (120, 2)
        assert np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
        assert set(model.predict(self.view(model))) <= set(model.classes_)

    def check_bad_input(self, model) -> None:
        message = rf"{model.family}: one label per row is needed \(119 given\)"
        with pytest.raises(DataError, match=message):
            clone(model).fit(self.view(model), self.data[1][:-1])


class Window:
    """Sensor windows (n, window, sensors) in, a remaining-life distribution out."""

    keys = ("rul", "rul_low", "rul_high", "failure_probability")

    @functools.cached_property
    def data(self):
        return sensor_windows()

    def fit(self, model):
        X, rul, failure, groups = self.data
        return model.fit(X, rul, failure=failure, groups=groups)

    def outputs(self, model) -> np.ndarray:
        X = self.data[0][:50]
        out = model.predict_distribution(X)
        anomaly = [model.anomaly_error(X)] if model.has_anomaly_head else []
        return np.column_stack([out[key] for key in self.keys] + anomaly)

    def check_outputs(self, model) -> None:
        out = model.predict_distribution(self.data[0][:50])
        assert set(out) == set(self.keys)
        assert all(v.shape == (50,) and np.isfinite(v).all() for v in out.values())
        assert (out["rul_low"] <= out["rul"] + 1e-9).all()
        assert (out["rul"] <= out["rul_high"] + 1e-9).all()
        assert ((out["failure_probability"] >= 0) & (out["failure_probability"] <= 1)).all()

    def check_bad_input(self, model) -> None:
        X = self.data[0][:5]
        with pytest.raises(DataError, match=r"\(n, window, sensors\), got shape \(5, 12\)"):
            model.predict_distribution(X[:, :, 0])
        with pytest.raises(DataError, match="trained on 4 sensors, got 3"):
            model.predict_distribution(X[:, :, :3])


class Recommendations:
    """Item histories in, a score for every catalogue item out."""

    @functools.cached_property
    def data(self):
        return item_sequences()

    @property
    def histories(self) -> list[np.ndarray]:
        return self.data[2].histories[:5] + [np.zeros(0, dtype=np.int64)]  # + an unknown user

    def fit(self, model):
        return model.fit(*self.data[:2])

    def outputs(self, model) -> np.ndarray:
        return model.score(self.histories)

    def check_outputs(self, model) -> None:
        n_items = self.data[0].n_items
        scores = self.outputs(model)
        assert scores.shape == (6, n_items) and np.isfinite(scores).all()
        blocked = np.zeros(n_items, dtype=bool)
        blocked[:3] = True
        items, values = model.recommend(self.histories, 5, blocked=blocked)
        assert items.shape == values.shape == (6, 5)
        for history, row in zip(self.histories, items, strict=True):
            assert not set(row) & set(history.tolist()) and not set(row) & {0, 1, 2}
        everything, _ = model.recommend(self.histories[:1], n_items + 10)
        eligible = n_items - len(set(self.histories[0].tolist()))
        assert (everything[0] >= 0).sum() == eligible  # k > catalogue: all eligible, then -1

    def check_bad_input(self, model) -> None:
        train = self.data[0]
        with pytest.raises(DataError, match="user 2: item code 40 is outside the catalogue of 40"):
            TrainingSequences([*train.sequences[:2], np.array([1, 40])], train.n_items)
        with pytest.raises(DataError, match=r"history 1: item code -1 .* \(codes 0 to 39\)"):
            model.score([np.array([1, 2]), np.array([-1])])


KINDS = {"tabular": Tabular(), "modality": Modality(), "window": Window(),
         "recommender": Recommendations()}  # fmt: skip


def kind_of(family: str):
    return KINDS[FAMILIES[family].kind]


def compressed_ft():
    """What ``tailorkit compress`` makes of a tiny FT-Transformer: its ONNX (fp32) variant."""
    X, y = KINDS["tabular"].data
    teacher = fit_new("ft_transformer")[0]
    data = split_for_compression(X, y, seed=0)
    variants = compress(teacher, data, source="ft_transformer", methods=("onnx",))
    return next(v.model for v in variants if v.name == "onnx")


MAKERS = {"compressed": compressed_ft}  # families made by a command, never by fit


def fit_new(family: str):
    """A new model of the family fitted on its kind's data, and what ``fit`` returned."""
    if family in MAKERS:
        model = MAKERS[family]()
        return model, model
    model = new_model(family)
    return model, kind_of(family).fit(model)


@functools.cache
def first_fit(family: str):
    return fit_new(family)


def fitted(family: str):
    return first_fit(family)[0]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The folder each family's first fit was saved to (saved once)."""
    return functools.cache(lambda family: fitted(family).save(tmp_path_factory.mktemp(family)))


ALL = list(FAMILIES)
TABULAR = families("tabular")


# ------------------------------------------------------------------ every family's checks
def test_every_family_has_a_tiny_configuration():
    assert set(TINY) == set(FAMILIES)


@pytest.mark.parametrize("family", ALL)
def test_catalogue_name_and_kind_are_the_classes(family):
    cls = family_class(family)
    assert cls.family == family and cls.kind == FAMILIES[family].kind


@pytest.mark.parametrize("family", ALL)
def test_make_model_takes_parameters_and_names_the_closest_to_an_unknown_one(family):
    params = tiny_params(family)
    model = make_model(family, **params)
    assert type(model) is family_class(family)
    assert all(getattr(model, key) == value for key, value in params.items())
    assert model.get_params().get("time_limit") is None  # no wall-clock cap by default
    known = parameter_names(family)[0]
    with pytest.raises(SpecError, match=f"{family} has no parameter '{known}z'; did you mean "
                                        f"'{known}'"):  # fmt: skip
        make_model(family, **params, **{f"{known}z": 1})


@pytest.mark.parametrize("family", ALL)
def test_clone_has_equal_params_and_no_fitted_state(family):
    model = fitted(family)
    copy = clone(model)
    assert type(copy) is type(model) and copy.get_params() == model.get_params()
    assert [name for name in vars(model) if name.endswith("_")], "fit sets no attribute_"
    assert not [name for name in vars(copy) if name.endswith("_")]


@pytest.mark.parametrize("family", ALL)
def test_fit_returns_self_and_outputs_have_the_kinds_shape(family):
    model, returned = first_fit(family)
    assert returned is model, "fit must return self"
    if family in MAKERS:  # made by a command: fit says so
        with pytest.raises(SpecError, match="tailorkit compress"):
            kind_of(family).fit(new_model(family))
    kind_of(family).check_outputs(model)


@pytest.mark.parametrize("family", ALL)
def test_same_random_state_gives_the_same_outputs(family):
    kind = kind_of(family)
    again, returned = fit_new(family)
    assert returned is again
    np.testing.assert_allclose(kind.outputs(again), kind.outputs(fitted(family)), rtol=0, atol=1e-6)


@pytest.mark.parametrize("family", ALL)
def test_save_load_gives_the_same_class_params_and_outputs(family, saved):
    model, kind = fitted(family), kind_of(family)
    loaded = load_model(saved(family))
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_allclose(kind.outputs(loaded), kind.outputs(model), rtol=1e-5, atol=1e-5)


def pickles_in(folder: Path) -> list[str]:
    """Every file under ``folder`` that is or holds a pickle, judged by suffix and content."""
    found = []
    for file in (p for p in folder.rglob("*") if p.is_file()):
        with file.open("rb") as stream:
            head = stream.read(4)
        if file.suffix.lower() in PICKLE_SUFFIXES or head[:2] in PICKLE_PROTOCOLS:
            found.append(str(file))
        elif head == b"PK\x03\x04":
            with zipfile.ZipFile(file) as archive:  # torch.save's format: a zip with data.pkl
                found += [f"{file}:{n}" for n in archive.namelist() if n.endswith(".pkl")]
    return found


def test_the_pickle_scan_finds_pickles_by_content(tmp_path: Path):
    import pickle

    import torch

    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "weights.bin").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    torch.save({"w": torch.zeros(2)}, tmp_path / "deep" / "er" / "state.safetensors")
    (tmp_path / "fine.json").write_text("{}")
    found = pickles_in(tmp_path)
    assert len(found) == 2 and any(f.endswith("data.pkl") for f in found)


@pytest.mark.parametrize("family", ALL)
def test_saved_folder_holds_no_pickle(family, saved):
    folder = saved(family)
    assert (folder / "model.json").is_file()
    assert pickles_in(folder) == []


@pytest.mark.parametrize("family", ALL)
def test_bad_input_is_a_clear_data_error(family):
    kind_of(family).check_bad_input(fitted(family))


# ------------------------------------------------------------------------- tabular only
@pytest.mark.parametrize("family", TABULAR)
def test_size_dependent_defaults_settle_to_params_the_family_takes(family):
    """What a run does before its folds (``sized_params``), for every tabular family."""
    params = sized_params(family, tiny_params(family), n_rows=160)
    assert make_model(family, **params).get_params() == params


@pytest.mark.parametrize("family", TABULAR)
def test_unseen_categories_and_missing_values_at_predict(family):
    X, _ = KINDS["tabular"].data
    odd = X.head(6).copy()
    odd["purpose"] = ["boat", None, "car", "", "spaceship", "house"]
    odd["housing"] = None
    odd.loc[odd.index[:3], "age"] = np.nan
    odd["income"] = np.nan
    proba = fitted(family).predict_proba(odd)
    assert proba.shape == (6, 2)
    assert np.isfinite(proba).all()
    two = X.loc[[X.index[0]] * 2].assign(purpose=["boat", "spaceship"])  # both unseen
    assert np.ptp(fitted(family).predict_proba(two)[:, 1]) == 0


@pytest.mark.parametrize("family", TABULAR)
def test_text_in_numeric_column_names_column_and_row(family):
    bad = KINDS["tabular"].data[0].head(5).copy()
    bad["age"] = bad["age"].astype(object)
    bad.loc[3, "age"] = "forty"
    with pytest.raises(DataError, match=r"'age'.*row 4.*'forty'"):
        fitted(family).predict_proba(bad)


ADDITIVE = ("logistic", "lightgbm", "random_forest")  # explain() rows sum to logit(p) - const
UNEXPLAINED = ("ft_transformer", "compressed")  # attention is no per-row attribution


@pytest.mark.parametrize("family", TABULAR)
def test_explain_shape_and_additivity(family):
    model = fitted(family)
    rows = KINDS["tabular"].data[0].head(20)
    if family in UNEXPLAINED:  # it says so
        with pytest.raises(NotImplementedError):
            model.explain(rows)
        return
    contributions = model.explain(rows)
    assert contributions.shape == (len(rows), len(model.feature_names_in_))
    assert list(contributions.columns) == model.feature_names_in_
    assert np.isfinite(contributions.to_numpy()).all()
    if family in ADDITIVE:
        p = model.predict_proba(rows)[:, 1]
        gap = np.log(p / (1 - p)) - contributions.sum(axis=1).to_numpy()
        np.testing.assert_allclose(gap, gap[0], atol=1e-5)
    if family == "ensemble":  # the members' contributions, weighted
        members = model.models_
        expected = 0.4 * members["scorecard"].explain(rows) + 0.6 * members["trees"].explain(rows)
        np.testing.assert_allclose(contributions.to_numpy(), expected.to_numpy(), atol=1e-9)


@pytest.mark.parametrize("binning", ["none", "woe", "hybrid"])
def test_scorecard_points_follow_the_standard_scaling(binning):
    X, y = KINDS["tabular"].data
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


# --------------------------------------------------------------------- recommenders only
@pytest.mark.parametrize("family", families("recommender"))
def test_compiled_recommender_scores_and_ranks_as_saved(family, saved):
    """``compile`` is the service's path (SASRec: one onnxruntime call)."""
    kind, model = KINDS["recommender"], fitted(family)
    loaded = load_model(saved(family))
    assert loaded.compile() is loaded
    np.testing.assert_allclose(kind.outputs(loaded), kind.outputs(model), rtol=1e-4, atol=1e-5)
    _, compiled = loaded.recommend(kind.histories, 5)
    _, values = model.recommend(kind.histories, 5)
    np.testing.assert_allclose(compiled, values, rtol=1e-4, atol=1e-5)
