"""Metrics beyond one outcome, through the real service: ctr@k and hit_rate@k from recommend
answers and click feedback, and CUPED from the units' own requests before the experiment."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
import pytest

from tailorkit.pipeline import Project
from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import Arm, EventStore
from tailorkit.solutions.recommendation.solution import SOLUTION as recommendation
from tests.serving_helpers import (
    ThreadServer,
    applicants,
    fit_credit_model,
    register_folder,
)

pytestmark = pytest.mark.slow
CLICKED_RANKS = {"champion": (3, 8), "challenger": (2,)}  # the ranks a unit may click


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """``shop`` (a recommender) and ``acme-credit`` with champion and challenger aliases."""
    root = tmp_path_factory.mktemp("metrics")
    workspace = root / ".tailorkit"
    spec, _ = recommendation.demo_project(root / "shop")
    Project.from_yaml(
        spec, overrides=["models=[popularity]", "evaluation.bootstrap=0"], workspace=workspace
    ).run()
    registry = Registry(workspace)
    for alias in ("champion", "challenger"):  # popularity is the floor: no alias of its own
        registry.set_alias("shop", alias, 1)
    model = fit_credit_model(root / "lightgbm")
    for alias in ("champion", "challenger"):
        register_folder(workspace, "acme-credit", model, alias)
    store = EventStore(registry)
    key = store.create_tenant("acme")
    for project in ("shop", "acme-credit"):
        store.grant("acme", project)
    settings = ServiceSettings(workspace=workspace, poll_interval=0.2, cache_seconds=0.1)
    with ThreadServer(create_app(settings)) as running:
        client = httpx.Client(base_url=running.url, headers={"X-API-Key": key}, timeout=30)
        yield {"http": client, "store": store}


def start(service, project: str) -> int:
    """A 50/50 experiment on ``project``, once the service routes by it (its cache: 0.1 s)."""
    experiment = service["store"].create_experiment(
        project, [Arm("champion", 0.5), Arm("challenger", 0.5)]
    )
    time.sleep(0.5)
    return experiment.id


def row() -> list[dict]:
    X, _ = applicants(5, seed=3)
    return json.loads(X.head(1).to_json(orient="records"))


def analysis(service, project: str, experiment: int, **params) -> dict:
    service["http"].get(f"/v1/projects/{project}/requests?limit=1")  # flushes the request log
    url = f"/v1/projects/{project}/experiments/{experiment}/analysis"
    answer = service["http"].get(url, params={"method": "fixed", "min_units": 50, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_ctr_and_hit_rate_at_k_count_clicks_within_the_top_k(service):
    client, rng = service["http"], np.random.default_rng(1)
    experiment = start(service, "shop")
    expected = {arm: {"hits5": 0, "hits10": 0, "answers": 0} for arm in CLICKED_RANKS}
    for unit in range(240):
        answer = client.post(
            "/v1/projects/shop/recommend", json={"user": unit % 40, "k": 10, "unit_id": f"u{unit}"}
        ).json()
        arm, items = answer["alias"], [i["item_id"] for i in answer["items"]]
        expected[arm]["answers"] += 1
        if rng.random() < 0.5:
            rank = rng.choice(CLICKED_RANKS[arm])
            clicked = items[rank - 1]
            expected[arm]["hits5"] += rank <= 5
            expected[arm]["hits10"] += 1
            sent = {"request_id": answer["request_id"], "outcome": "click", "label": clicked}
            assert client.post("/v1/feedback", json=sent).status_code == 200
        never_shown = {"request_id": answer["request_id"], "outcome": "click", "label": "zzz"}
        assert client.post("/v1/feedback", json=never_shown).status_code == 200
    result = analysis(
        service, "shop", experiment, primary="ctr@5", guardrail=["hit_rate@10:higher"]
    )
    ctr, hit, *automatic = result["metrics"]  # then the automatic guardrails (error rate)
    assert [m["name"] for m in automatic] == ["error_rate"]
    for arm, counts in expected.items():
        assert ctr["arm_values"][arm] == pytest.approx(counts["hits5"] / (5 * counts["answers"]))
        assert hit["arm_values"][arm] == pytest.approx(counts["hits10"] / counts["answers"])
    assert ctr["arm_values"]["challenger"] > 1.5 * ctr["arm_values"]["champion"]
    assert result["decision"] == "ship", result["reason"]
    assert hit["role"] == "guardrail" and hit["ci_low"] < 0 < hit["ci_high"]
    service["store"].stop_experiment(experiment)


def test_cuped_reads_each_units_outcome_before_the_experiment(service):
    client, rng = service["http"], np.random.default_rng(2)
    propensity = {f"c{u}": rng.uniform(0, 1) for u in range(300)}
    for unit, p in propensity.items():  # before any experiment: the pre-period
        answer = client.post(
            "/v1/projects/acme-credit/predict", json={"rows": row(), "unit_id": unit}
        ).json()
        sent = {"request_id": answer["request_id"], "outcome": "spend", "value": 100 * p}
        assert client.post("/v1/feedback", json=sent).status_code == 200
    client.get("/v1/projects/acme-credit/requests?limit=1")
    experiment = start(service, "acme-credit")
    for unit, p in propensity.items():
        answer = client.post(
            "/v1/projects/acme-credit/predict", json={"rows": row(), "unit_id": unit}
        ).json()
        value = 100 * p + rng.normal(5 if answer["alias"] == "challenger" else 0, 5)
        sent = {"request_id": answer["request_id"], "outcome": "spend", "value": value}
        assert client.post("/v1/feedback", json=sent).status_code == 200
    metric, *_automatic = analysis(service, "acme-credit", experiment, primary="spend")["metrics"]
    assert metric["method"] == "fixed+cuped"
    assert metric["cuped"]["covariate_units"] == 300
    assert metric["cuped"]["variance_reduction"] > 0.8
    assert metric["cuped"]["theta"] == pytest.approx(1.0, abs=0.1)
    assert metric["diff_ci_low"] > 0  # 5 more per unit: found with 150 units per arm
    service["store"].stop_experiment(experiment)
