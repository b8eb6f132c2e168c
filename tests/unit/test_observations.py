"""Observation on the serving path: which columns are stored (protected dropped, personal
hashed), how many requests and rows the sampler keeps."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tailorkit.serve.observations import (
    HASH_PREFIX,
    ObservationPolicy,
    Sampler,
    observation_rows,
    policy_for,
)

KEY = b"k" * 32


def test_protected_columns_are_never_kept_and_personal_ones_are_hashed():
    adapter = SimpleNamespace(
        input_columns=("income", "age", "email"),
        privacy={"protected": ["age"], "personal": ["email", "name"]},
    )
    policy = policy_for(adapter, registry=None)
    assert policy == ObservationPolicy(kept=("income",), hashed=("email", "name"), dropped=("age",))
    row = {"income": 10.0, "age": 41, "email": "a@b.c", "name": None, "extra": "x"}
    stored = policy.filtered(row, KEY)
    assert set(stored) == {"income", "email", "name"}
    assert stored["email"].startswith(HASH_PREFIX) and "a@b.c" not in stored["email"]
    assert stored["email"] == policy.filtered(row, KEY)["email"]  # stable: joinable
    assert stored["name"] is None


def test_a_model_without_rows_or_with_unknown_privacy_is_not_observed():
    assert policy_for(SimpleNamespace(input_columns=(), privacy={}), registry=None) is None
    unknown = SimpleNamespace(
        input_columns=("income",), privacy=None, version=SimpleNamespace(run_id=None)
    )
    assert policy_for(unknown, registry=None).kept == ("income",)  # no run: nothing declared


def test_observation_rows_leave_the_request_record_without_inputs():
    policy = ObservationPolicy(kept=("income",), hashed=(), dropped=("age",))
    record = {
        "request_id": "r1",
        "tenant_id": 1,
        "project": "p",
        "model_version": 2,
        "at": "now",
        "observed": (policy, [{"income": 1, "age": 30}, {"income": 2, "age": 50}]),
    }
    rows = observation_rows([record, {"request_id": "r2"}], KEY)
    assert "observed" not in record
    assert [json.loads(r["inputs_json"]) for r in rows] == [{"income": 1}, {"income": 2}]
    assert [r["row"] for r in rows] == [0, 1]


def test_the_hourly_cap_counts_rows_per_project():
    sampler = Sampler(1.0, {}, cap_per_hour=5)
    assert sampler.admit("a", 3) == 3
    assert sampler.admit("a", 3) == 2
    assert sampler.admit("a", 3) == 0
    assert sampler.admit("b", 3) == 3


@pytest.mark.parametrize("rate", [0.0, 0.3])
def test_the_rate_samples_requests_per_project(rate):
    sampler = Sampler(1.0, {"low": rate}, cap_per_hour=0)
    kept = sum(sampler.admit("low", 1) for _ in range(2000))
    assert abs(kept / 2000 - rate) < 0.05
    assert sampler.admit("other", 4) == 4
