"""The service answers recommendation and maintenance projects through their adapters."""

from __future__ import annotations

import httpx
import pytest

from tailorkit.data.simulators.fleet import simulate_fleet
from tailorkit.pipeline import Project
from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import Arm, EventStore
from tailorkit.solutions.recommendation.solution import SOLUTION as recommendation
from tests.serving_helpers import ThreadServer, eventually

FLEET_MODEL = "models=[{name: lightgbm, family: lightgbm, params: {n_estimators: 60}}]"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("solutions")
    workspace = root / ".tailorkit"
    shop_spec, _ = recommendation.demo_project(root / "shop")
    Project.from_yaml(
        shop_spec, overrides=["models=[popularity, item_knn]", "evaluation.bootstrap=0"],
        workspace=workspace,
    ).run()  # fmt: skip
    readings = simulate_fleet(10, mean_life=60, random_state=4)
    readings.to_csv(root / "readings.csv", index=False)
    from tailorkit.solutions.maintenance.templates import init_template

    fleet_spec = root / "tailorkit.yaml"
    fleet_spec.write_text(
        init_template(
            "fleet",
            {"sensors": str(root / "readings.csv"), "asset_col": "asset_id", "time_col": "cycle"},
        )
    )
    fleet = Project.from_yaml(
        fleet_spec,
        overrides=[FLEET_MODEL, "tasks.window=8", "evaluation.cuts_per_asset=1"],
        workspace=workspace,
    ).run()
    store = EventStore(Registry(workspace))
    key = store.create_tenant("acme")
    for project in ("shop", fleet.model_ref.split(":")[0]):
        store.grant("acme", project)
    settings = ServiceSettings(workspace=workspace, poll_interval=0.2)
    with ThreadServer(create_app(settings)) as running:
        http = httpx.Client(base_url=running.url, headers={"X-API-Key": key}, timeout=60)
        yield {
            "http": http,
            "fleet": fleet.model_ref.split(":")[0],
            "readings": readings,
            "store": store,
        }


@pytest.mark.slow
def test_recommend_returns_top_k_with_versions_and_the_fallback_for_unknown_users(service):
    http = service["http"]
    answer = http.post("/v1/projects/shop/recommend", json={"user": 7, "k": 5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["request_id"]) == 32 and body["model_version"] == 1
    assert len(body["items"]) == 5 and body["k"] == 5  # the catalogue has more than 5
    assert body["source"] == "personalized" and body["note"] is None
    assert len({item["item_id"] for item in body["items"]}) == 5
    assert [item["rank"] for item in body["items"]] == list(range(1, len(body["items"]) + 1))
    unknown = http.post("/v1/projects/shop/recommend", json={"user": "nobody-xyz", "k": 3}).json()
    assert unknown["source"] == "popularity fallback" and "nobody-xyz" in unknown["note"]
    assert len(unknown["items"]) == 3
    wrong = http.post(f"/v1/projects/{service['fleet']}/recommend", json={"user": "u1"})
    assert wrong.status_code == 404 and "not a recommendation project" in wrong.json()["error"]


def test_concurrent_recommend_requests_are_batched_and_each_keeps_its_own_k(service):
    from concurrent.futures import ThreadPoolExecutor

    http = service["http"]
    alone = {
        user: http.post("/v1/projects/shop/recommend", json={"user": user, "k": k}).json()
        for user, k in ((3, 2), (4, 7), (5, 4))
    }
    with ThreadPoolExecutor(12) as pool:
        answers = list(
            pool.map(
                lambda n: (n, http.post("/v1/projects/shop/recommend", json=n).json()),
                [{"user": 3 + i % 3, "k": (2, 7, 4)[i % 3]} for i in range(48)],
            )
        )
    for request, body in answers:  # batched answers equal the ones given alone
        assert body["k"] == request["k"] and len(body["items"]) == request["k"]
        assert body["items"] == alone[request["user"]]["items"]


def test_monitor_streams_readings_into_a_rul_forecast(service):
    http, readings = service["http"], service["readings"]
    asset = readings["asset_id"].iloc[0]
    rows = readings[readings["asset_id"] == asset].drop(columns=["asset_id"])
    rows = rows.head(12).to_dict(orient="records")
    first = http.post(
        f"/v1/projects/{service['fleet']}/monitor", json={"asset": str(asset), "readings": rows[:6]}
    )
    assert first.status_code == 200, first.text
    second = http.post(
        f"/v1/projects/{service['fleet']}/rul", json={"asset": str(asset), "readings": rows[6:]}
    ).json()
    assert second["readings"] == 6 and second["time"] == rows[-1]["cycle"]
    assert second["rul_low"] <= second["rul"] <= second["rul_high"]
    assert 0.0 <= second["failure_probability"] <= 1.0
    stale = http.post(
        f"/v1/projects/{service['fleet']}/monitor", json={"asset": str(asset), "readings": rows[:1]}
    )
    assert stale.status_code == 422 and "Traceback" not in stale.text
    wrong = http.post("/v1/projects/shop/monitor", json={"asset": "a", "readings": rows[:1]})
    assert wrong.status_code == 404


@pytest.mark.slow
def test_a_shadow_recommender_is_logged_and_compared_by_ndcg_per_labelled_request(service):
    """The same version as live and shadow: each request's label is its top item (NDCG 1) or an
    item it did not show (NDCG 0), so both arms' NDCG is exactly the share of top-item labels."""
    http, store = service["http"], service["store"]
    champion = store.registry.resolve("shop@champion").version
    store.registry.set_alias("shop", "shadow", champion)
    arms = [Arm("champion", 1), Arm("shadow", 1)]
    experiment = store.create_experiment("shop", arms, mode="shadow", plan=None).id
    try:

        def routed() -> bool:  # a probe request logged under the experiment (with its shadow)
            http.post("/v1/projects/shop/recommend", json={"user": "probe", "k": 5})
            logged = http.get("/v1/projects/shop/requests?limit=5").json()["requests"]
            return any(r["experiment_id"] == experiment for r in logged)

        eventually(routed)
        top_labels = 0
        for user in range(40):
            body = http.post("/v1/projects/shop/recommend", json={"user": user, "k": 5}).json()
            shown = [item["item_id"] for item in body["items"]]
            label = shown[0] if user % 4 else "not-in-the-catalogue"
            top_labels += label == shown[0]
            feedback = {"request_id": body["request_id"], "outcome": "click", "label": label}
            assert http.post("/v1/feedback", json=feedback).status_code == 200
        path = f"/v1/projects/shop/experiments/{experiment}/analysis"
        result = eventually(  # once every request's shadow is logged
            lambda: (
                (r := http.get(path, params={"primary": "click", "min_units": 10}).json())
                and r["units"]["champion"] == 40
                and r
            )
        )
        ndcg, hits = result["metrics"]
        assert ndcg["name"] == "ndcg@5" and hits["name"] == "hit_rate@5"
        assert ndcg["arm_values"] == {"champion": top_labels / 40, "shadow": top_labels / 40}
        assert ndcg["diff"] == 0 and ndcg["method"] == "paired-sequential"
        assert result["decision"] == "continue" and "no difference" in result["reason"]
    finally:
        store.stop_experiment(experiment)
