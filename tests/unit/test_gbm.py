"""LightGBM's small-table bag: what it averages, how it is sized, saved and loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit, logit

from tailorkit.errors import SpecError
from tailorkit.models import load_model
from tailorkit.models.base import MODEL_FILE, SMALL_TABLE_ROWS
from tailorkit.models.gbm import LightGBMModel
from tests.unit.test_model_conformance import TINY_LIGHTGBM, applicants


@pytest.fixture(scope="module")
def data():
    return applicants(300, seed=4)


def test_a_bag_is_the_log_odds_average_of_fits_with_consecutive_seeds(data):
    X, y = data
    bag = LightGBMModel(**TINY_LIGHTGBM, n_bags=3, random_state=7).fit(X, y)
    assert len(bag.boosters_) == 3
    singles = [
        LightGBMModel(**TINY_LIGHTGBM, n_bags=1, refit=False, random_state=7 + k).fit(X, y)
        for k in range(3)
    ]
    single_logits = [logit(np.clip(m.predict_proba(X)[:, 1], 1e-12, 1 - 1e-12)) for m in singles]
    assert not np.allclose(single_logits[0], single_logits[1])  # own inner split and seed
    np.testing.assert_allclose(
        bag.predict_proba(X)[:, 1], expit(np.mean(single_logits, 0)), atol=1e-9
    )
    # reason codes: the members' TreeSHAP averaged, so they still add up to the bag's log-odds
    contributions = bag.explain(X).to_numpy().sum(axis=1)
    offset = logit(bag.predict_proba(X)[:, 1]) - contributions
    np.testing.assert_allclose(offset, offset[0], atol=1e-6)


def test_one_fit_is_refitted_on_all_rows_and_bag_members_are_not(data):
    X, y = data
    params = {**TINY_LIGHTGBM, "n_estimators": 400, "early_stopping_rounds": 20, "random_state": 2}
    stopped = LightGBMModel(**params, n_bags=1, refit=False).fit(X, y).n_rounds_[0]
    assert stopped < 400
    assert LightGBMModel(**params, n_bags=1).fit(X, y).n_rounds_ == [round(stopped / 0.85)]
    assert LightGBMModel(**params, n_bags=2).fit(X, y).n_rounds_[0] == stopped


def test_bag_size_is_settled_by_the_whole_data_set(data):
    assert LightGBMModel().sized_for(SMALL_TABLE_ROWS).n_bags == 5
    assert LightGBMModel().sized_for(SMALL_TABLE_ROWS + 1).n_bags == 1
    assert LightGBMModel(n_bags=2).sized_for(10).n_bags == 2  # an explicit choice stays
    X, y = data
    assert len(LightGBMModel(**TINY_LIGHTGBM).fit(X, y).boosters_) == 5  # unsettled: by the rows
    with pytest.raises(SpecError, match="lightgbm n_bags must be at least 1, not 0"):
        LightGBMModel(**TINY_LIGHTGBM, n_bags=0).fit(X, y)


def test_bag_saves_one_text_file_per_booster_and_old_single_artifacts_load(data, tmp_path):
    X, y = data
    bag = LightGBMModel(**TINY_LIGHTGBM, n_bags=3).fit(X, y)
    folder = bag.save(tmp_path / "bag")
    assert sorted(p.name for p in folder.glob("model*.txt")) == [
        "model.txt",
        "model_1.txt",
        "model_2.txt",
    ]
    np.testing.assert_array_equal(load_model(folder).predict_proba(X), bag.predict_proba(X))
    single = LightGBMModel(**TINY_LIGHTGBM, n_bags=1).fit(X, y)
    folder = single.save(tmp_path / "single")
    document = json.loads((folder / MODEL_FILE).read_text())
    state = document["state"]
    state["booster_file"] = state.pop("booster_files")[0]  # the layout before bags
    (folder / MODEL_FILE).write_text(json.dumps(document))
    np.testing.assert_array_equal(load_model(folder).predict_proba(X), single.predict_proba(X))
