"""From spec + table to features and a binary target, with clear errors for bad targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tailorkit import load_spec
from tailorkit.data.dataset import load_training_data
from tailorkit.errors import DataError, SpecError
from tests.conftest import write_spec


def load(folder, frame: pd.DataFrame, **changes):
    frame.to_csv(folder / "applications.csv", index=False)
    spec, _ = load_spec(write_spec(folder, **changes))
    return load_training_data(spec, folder)


def small_frame(n=60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "application_id": np.arange(n),
            "income": rng.normal(size=n),
            "sex": rng.choice(["f", "m"], size=n),
            "default": rng.integers(0, 2, size=n),
        }
    )


def test_missing_target_column_names_it_and_the_file(tmp_path):
    with pytest.raises(DataError, match=r"applications.csv.*target column 'default' not found"):
        load(tmp_path, small_frame().drop(columns=["default"]))


def test_one_class_target(tmp_path):
    frame = small_frame().assign(default=0)
    with pytest.raises(DataError, match="only one value"):
        load(tmp_path, frame)


def test_more_than_two_classes(tmp_path):
    frame = small_frame().assign(default=np.arange(60) % 3)
    with pytest.raises(DataError, match="3 distinct values"):
        load(tmp_path, frame)


def test_text_labels_need_or_find_the_positive_label(tmp_path):
    frame = small_frame().assign(default=np.where(np.arange(60) % 3 == 0, "bad", "good"))
    data = load(tmp_path, frame)
    assert data.positive_label == "bad" and data.y.sum() == 20
    ambiguous = small_frame().assign(default=np.where(np.arange(60) % 3 == 0, "A", "B"))
    with pytest.raises(SpecError, match="positive_label"):
        load(tmp_path, ambiguous)
    assert load(tmp_path, ambiguous, positive_label="A").y.sum() == 20
    with pytest.raises(SpecError, match="'positive_label'.*not a value"):
        load(tmp_path, ambiguous, positive_label="C")


def test_unusable_columns_are_set_aside_and_reported(tmp_path):
    frame = small_frame().assign(empty=np.nan, constant="x")
    data = load(tmp_path, frame)
    assert list(data.X.columns) == ["income"]
    assert {"application_id", "sex", "empty", "constant"} <= set(data.dropped)
    assert any("empty in every row" in w for w in data.warnings)
    assert list(data.protected.columns) == ["sex"]


def test_rows_without_label_become_unlabeled_rows(tmp_path):
    frame = small_frame().astype({"default": float})
    frame.loc[:9, "default"] = np.nan
    data = load(tmp_path, frame)
    assert len(data.y) == 50 and len(data.X_unlabeled) == 10
    assert any("no 'default' value" in w for w in data.warnings)


def test_protected_column_not_in_file(tmp_path):
    with pytest.raises(SpecError, match=r"features.protected.*'race'"):
        load(tmp_path, small_frame(), features={"protected": ["race"]})
