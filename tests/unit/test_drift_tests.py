"""Drift statistics: the test each column gets (Evidently's choice), each value against scipy,
and shifted versus unshifted generated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from tailorkit.data.drift import window_drift
from tailorkit.evaluate.drift_tests import (
    choose_test,
    dataset_drift,
    level_test,
    numeric_test,
    population_stability_index,
    seen_only,
)

RNG = np.random.default_rng(7)


@pytest.mark.parametrize(
    ("numeric", "rows", "distinct", "expected"),
    [
        (True, 1000, 50, "ks"),
        (True, 1001, 50, "wasserstein"),
        (True, 500, 5, "chisquare"),
        (True, 500, 2, "z"),
        (False, 1000, 4, "chisquare"),
        (False, 1000, 2, "z"),
        (False, 1001, 4, "jensenshannon"),
        (True, 5000, 3, "jensenshannon"),
    ],
)
def test_the_test_is_chosen_by_type_size_and_distinct_values(numeric, rows, distinct, expected):
    assert choose_test(numeric, rows, distinct) == expected


def test_ks_matches_scipy():
    reference, current = RNG.normal(0, 1, 800), RNG.normal(0.3, 1, 300)
    found = numeric_test(reference, current)
    expected = stats.ks_2samp(reference, current)
    assert found.test == "ks"
    assert found.statistic == pytest.approx(expected.statistic)
    assert found.p_value == pytest.approx(expected.pvalue)
    assert found.drifted is bool(expected.pvalue < 0.05)


def test_wasserstein_is_normalised_by_the_reference_std():
    reference, current = RNG.normal(10, 2, 3000), RNG.normal(10.5, 2, 500)
    found = numeric_test(reference, current)
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert found.test == "wasserstein"
    assert found.statistic == pytest.approx(expected)
    assert found.p_value is None
    assert found.drifted is bool(expected >= 0.1)


def test_chi_square_matches_scipy():
    reference = RNG.choice(["a", "b", "c"], 600, p=[0.5, 0.3, 0.2])
    current = RNG.choice(["a", "b", "c"], 200, p=[0.3, 0.3, 0.4])
    found = level_test(reference, current)
    ref_counts = np.array([(reference == level).sum() for level in "abc"], dtype=float)
    cur_counts = np.array([(current == level).sum() for level in "abc"], dtype=float)
    expected = stats.chisquare(cur_counts, ref_counts / ref_counts.sum() * cur_counts.sum())
    assert found.test == "chisquare"
    assert found.statistic == pytest.approx(expected.statistic)
    assert found.p_value == pytest.approx(expected.pvalue)
    assert found.drifted


def test_binary_z_test_matches_the_chi_square_of_the_two_by_two_table():
    reference = RNG.choice(["yes", "no"], 700, p=[0.4, 0.6])
    current = RNG.choice(["yes", "no"], 300, p=[0.5, 0.5])
    found = level_test(reference, current)
    table = [
        [(reference == "no").sum(), (reference == "yes").sum()],
        [(current == "no").sum(), (current == "yes").sum()],
    ]
    chi2, p_value, _dof, _expected = stats.chi2_contingency(table, correction=False)
    assert found.test == "z"
    assert found.statistic**2 == pytest.approx(chi2)
    assert found.p_value == pytest.approx(p_value)


def test_jensen_shannon_matches_scipy_with_floored_shares():
    reference = RNG.choice(["a", "b", "c"], 2000, p=[0.6, 0.4, 0.0])
    reference[:5] = "c"
    current = RNG.choice(["a", "b"], 400, p=[0.3, 0.7])
    found = level_test(reference, current)
    ref_share = np.array([(reference == level).mean() for level in "abc"])
    cur_share = np.array([(current == level).mean() for level in "abc"])
    expected = distance.jensenshannon(ref_share, np.where(cur_share == 0, 1e-4, cur_share))
    assert found.test == "jensenshannon"
    assert found.statistic == pytest.approx(expected)
    assert found.drifted


def test_unseen_levels_are_set_apart():
    seen, share = seen_only(np.array(["a", "b"]), np.array(["a", "z", "b", "y"]))
    assert seen.tolist() == ["a", "b"]
    assert share == pytest.approx(0.5)


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift():
    same = np.array([0.2, 0.3, 0.5])
    assert population_stability_index(same, same) == pytest.approx(0.0)
    small = population_stability_index(same, np.array([0.25, 0.3, 0.45]))
    large = population_stability_index(same, np.array([0.6, 0.3, 0.1]))
    assert 0 < small < large


def test_dataset_drift_needs_half_of_the_features():
    assert dataset_drift([True, False])
    assert not dataset_drift([True, False, False])
    assert not dataset_drift([])


@pytest.mark.parametrize("reference_rows", [600, 4000])
def test_generated_shift_is_found_and_no_shift_is_not(reference_rows):
    rng = np.random.default_rng(reference_rows)
    reference = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, reference_rows),
            "region": rng.choice(["n", "s", "e", "w"], reference_rows, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )
    unshifted = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, 500),
            "region": rng.choice(["n", "s", "e", "w"], 500, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )
    shifted = unshifted.assign(income=unshifted["income"] * 1.6)
    types = {"income": "numeric", "region": "categorical"}
    calm = [window_drift(reference[c], unshifted[c], types[c]) for c in types]
    moved = [window_drift(reference[c], shifted[c], types[c]) for c in types]
    assert [row["drifted"] for row in calm] == [False, False]
    assert [row["drifted"] for row in moved] == [True, False]
    assert moved[0]["psi"] > 0.2 > calm[0]["psi"]
    assert calm[1]["unseen_share"] == 0.0


def test_a_window_of_only_new_levels_drifts_with_their_share():
    reference = pd.Series(["a", "b"] * 50, name="channel")
    current = pd.Series(["kiosk"] * 10, name="channel")
    found = window_drift(reference, current, "categorical")
    assert found["drifted"] and found["test"] is None
    assert found["unseen_share"] == 1.0
    assert window_drift(reference, pd.Series([None] * 3, name="channel"), "categorical") is None
