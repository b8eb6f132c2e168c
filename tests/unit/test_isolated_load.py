"""A model that crashes its loader natively (LightGBM aborts on a truncated file) is found in
a child process; the caller survives, and a passed trial is remembered per artifact SHA."""

from __future__ import annotations

import pytest

from tailorkit.models import make_model
from tailorkit.models.isolated import ArtifactCrash, TrialLoader, model_folders
from tests.serving_helpers import applicants


@pytest.fixture(scope="module")
def booster_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gbm") / "model"
    X, y = applicants(200)
    make_model("lightgbm", n_estimators=10, random_state=1).fit(X, y).save(folder)
    return folder


def test_a_truncated_booster_crashes_only_the_child(booster_folder, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(booster_folder, broken)
    booster = max(broken.glob("*.txt"), key=lambda p: p.stat().st_size)
    booster.write_bytes(booster.read_bytes()[: booster.stat().st_size // 2])
    trials = TrialLoader(tmp_path / "trials")
    with pytest.raises(ArtifactCrash, match="killed it with SIGABRT") as raised:
        trials.check(broken, "b" * 64, "credit:2")
    assert "credit:2" in str(raised.value) and str(broken) not in str(raised.value)
    with pytest.raises(ArtifactCrash):  # the failure is remembered, not re-tried
        trials.check(broken, "b" * 64, "credit:2")
    assert not (tmp_path / "trials" / f"{'b' * 64}.json").exists()


def test_a_passed_trial_is_remembered_across_restarts(booster_folder, tmp_path):
    import shutil

    good = tmp_path / "good"
    shutil.copytree(booster_folder, good)
    TrialLoader(tmp_path / "trials").check(good, "a" * 64, "credit:1")
    assert (tmp_path / "trials" / f"{'a' * 64}.json").is_file()
    shutil.rmtree(good)  # a new process with the same cache needs no child (nor the files)
    TrialLoader(tmp_path / "trials").check(good, "a" * 64, "credit:1")


def test_model_folders_are_the_outermost_saved_models(tmp_path):
    for folder in ("rul", "rul/member", "anomaly"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "model.json").write_text("{}")
    assert model_folders(tmp_path) == [tmp_path / "anomaly", tmp_path / "rul"]
