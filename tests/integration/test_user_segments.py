"""Users without history: segment popularity from the users table, chosen on validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tailorkit.data.interactions import EvalCases
from tailorkit.data.user_segments import (
    MIN_USERS,
    fit_segments,
    rank_as_new_users,
    read_user_attributes,
)
from tailorkit.errors import DataError
from tests.conftest import tk

N_ITEMS = 40


def regional_shop(n_users: int = 200, seed: int = 0):
    """North buys from items 0-19, south from 20-39 (each side's first items most often);
    five northern users signed up but bought nothing yet."""
    rng = np.random.default_rng(seed)
    regions = np.where(np.arange(n_users) % 2 == 0, "north", "south")
    taste = 1.0 / np.arange(1, 21) ** 1.2
    events = []
    for user, region in enumerate(regions):
        offset = 0 if region == "north" else 20
        bought = rng.choice(20, size=6, replace=False, p=taste / taste.sum()) + offset
        events += [
            (f"u{user}", f"i{item}", 1_700_000_000 + 60 * t) for t, item in enumerate(bought)
        ]
    users = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in range(n_users)] + [f"new{u}" for u in range(5)],
            "region": list(regions) + ["north"] * 5,
            "plan": ["basic"] * (n_users + 5),  # one value: not a segment
            "email": [f"{u}@x.org" for u in range(n_users + 5)],  # unique: not a segment
        }
    )
    return pd.DataFrame(events, columns=["user_id", "item_id", "timestamp"]), users


def test_attributes_pick_categorical_columns_and_report_bad_input():
    _, users = regional_shop()
    values, warnings = read_user_attributes(users, "users.csv", "user_id", None)
    assert list(values.columns) == ["region"] and warnings == []
    assert values.loc["new3", "region"] == "north"
    with pytest.raises(DataError, match=r"users.csv: user id column 'customer' not found"):
        read_user_attributes(users, "users.csv", "customer", None)
    with pytest.raises(DataError, match=r"users.csv: column 'country' \(data.user_segments\)"):
        read_user_attributes(users, "users.csv", "user_id", ["country"])
    twice = pd.concat([users, users.iloc[[3]]], ignore_index=True)
    values, warnings = read_user_attributes(twice, "users.csv", "user_id", ["region"])
    assert len(values) == len(users) and "1 repeated user ids (first at row 207)" in warnings[0]


def test_segment_popularity_ranks_new_users_better_where_segments_differ():
    _, users = regional_shop()
    attributes, _ = read_user_attributes(users, "users.csv", "user_id", None)
    user_ids = np.array([f"u{u}" for u in range(200)], dtype=object)
    rng = np.random.default_rng(1)
    sequences = [rng.choice(20, 5, replace=False) + (0 if u % 2 == 0 else 20) for u in range(200)]
    segments = fit_segments(attributes, user_ids, sequences, N_ITEMS)
    assert segments.keys == ["region=north", "region=south"]
    assert set(segments.values) == {f"new{u}" for u in range(5)}  # only users without history
    north = segments.scores(["north"])
    assert north[:20].sum() > 0 and north[20:].sum() == 0
    assert segments.scores([""]) is None and segments.scores(["west"]) is None
    few = fit_segments(attributes.iloc[: MIN_USERS - 1], user_ids, sequences, N_ITEMS)
    assert few.keys == []  # too few users to trust a segment

    cases = EvalCases(
        np.arange(200), [s[:4] for s in sequences], np.array([s[4] for s in sequences])
    )
    everyone = np.bincount(np.concatenate(sequences), minlength=N_ITEMS) / 200
    overall, by_segment = rank_as_new_users(
        segments, attributes, user_ids, cases, everyone, True, chunk=64
    )
    assert len(overall) == len(by_segment) == 200
    assert (by_segment <= overall).all() and by_segment.mean() < overall.mean()


def serve_new_users(workspace: Path, project: str) -> None:
    """The service places a new user by the request's context."""
    import httpx

    from tailorkit.registry import Registry
    from tailorkit.serve.app import ServiceSettings, create_app
    from tailorkit.serve.events import EventStore
    from tests.serving_helpers import ThreadServer

    store = EventStore(Registry(workspace))
    key = store.create_tenant("acme")
    store.grant("acme", project)
    with ThreadServer(create_app(ServiceSettings(workspace=workspace))) as running:
        http = httpx.Client(base_url=running.url, headers={"X-API-Key": key}, timeout=60)
        url = f"/v1/projects/{project}/recommend"
        south = http.post(url, json={"user": "z9", "k": 3, "context": {"region": "south"}})
        assert south.status_code == 200, south.text
        body = south.json()
        assert body["source"] == "segment popularity fallback" and "region=south" in body["note"]
        assert all(int(item["item_id"][1:]) >= 20 for item in body["items"])
        # attributes a version does not segment by are named, not fatal (retraining may drop
        # segments; clients keep working)
        odd = http.post(url, json={"user": "z9", "context": {"planet": "mars", "region": "x"}})
        assert odd.status_code == 200 and odd.json()["source"] == "popularity fallback"
        assert "ignored attributes planet (user segments: region)" in odd.json()["note"]


@pytest.mark.slow
def test_new_users_get_their_segments_items_when_validation_says_so(tmp_path):
    events, users = regional_shop()
    events.to_csv(tmp_path / "events.csv", index=False)
    users.to_csv(tmp_path / "users.csv", index=False)
    tk(tmp_path, "init", "recommendation", "--interactions", "events.csv", "--users", "users.csv")
    spec = yaml.safe_load((tmp_path / "tailorkit.yaml").read_text())
    spec["models"] = ["popularity"]  # the trivial baseline itself: promoted only on purpose
    spec["promotion"] = {"beat_baseline": False}
    spec["evaluation"]["bootstrap"] = 0
    (tmp_path / "tailorkit.yaml").write_text(yaml.safe_dump(spec))
    summary = json.loads(tk(tmp_path, "run", "--json", "-q").stdout)
    report = json.loads(Path(summary["report_json"]).read_text())
    new_users = report["new_users"]
    assert new_users["columns"] == ["region"] and new_users["kept"]
    plain, segment = new_users["rows"]
    assert segment["valid_ndcg@10"] > plain["valid_ndcg@10"]
    assert "Users without history" in Path(summary["report"]).read_text()

    model = summary["model"]
    shown = tk(tmp_path, "recommend", "--model", model, "--user", "new2", "-k", "5", "--json")
    result = json.loads(shown.stdout)["results"][0]
    assert result["source"] == "segment popularity fallback"
    assert "region=north" in result["note"]
    assert all(int(row["item_id"][1:]) < 20 for row in result["items"])  # north's items
    stranger = tk(tmp_path, "recommend", "--model", model, "--user", "nobody", "--json")
    assert json.loads(stranger.stdout)["results"][0]["source"] == "popularity fallback"

    # a batch file's segment columns place sign-ups the users table does not know yet
    pd.DataFrame(
        {"user_id": ["u0", "fresh", "new1"], "region": ["south", "south", ""], "x": [1, 2, 3]}
    ).to_csv(tmp_path / "who.csv", index=False)
    tk(tmp_path, "recommend", "--model", model, "--users", "who.csv", "-k", "4", "-o", "r.csv")
    recs = pd.read_csv(tmp_path / "r.csv")
    source = recs.groupby("user_id")["source"].first()
    assert source["u0"] == "personalized"  # a user with history keeps the model's answer
    assert source["fresh"] == source["new1"] == "segment popularity fallback"
    region = recs.assign(south=recs["item_id"].str[1:].astype(int) >= 20).groupby("user_id")
    assert region["south"].all()["fresh"] and not region["south"].any()["new1"]
    serve_new_users(tmp_path / ".tailorkit", model.split(":")[0])

    spec["data"]["user_segments"] = ["country"]
    (tmp_path / "tailorkit.yaml").write_text(yaml.safe_dump(spec))
    bad = tk(tmp_path, "run", ok=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "users.csv: column 'country' (data.user_segments) not found" in bad.stderr
