"""The model service over a real HTTP server: auth, tenants, bad input, A/B, shadow, feedback,
hot swap, readiness with a corrupt model, metrics."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import Arm, EventStore, Experiment
from tailorkit.solutions.credit_risk.predict import Scorer
from tests.serving_helpers import (
    FEATURES,
    ThreadServer,
    applicants,
    eventually,
    fit_credit_model,
    register_folder,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "lightgbm": fit_credit_model(root / "lightgbm", "lightgbm"),
        "logistic": fit_credit_model(root / "logistic", "logistic"),
        "ft_transformer": fit_credit_model(root / "ft", "ft_transformer"),
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, models) -> dict:
    """acme owns acme-credit (v1 champion: LightGBM, v2 challenger: logistic); globex owns
    globex-credit."""
    folder = tmp_path_factory.mktemp("service") / ".tailorkit"
    register_folder(folder, "acme-credit", models["lightgbm"], "champion")
    register_folder(folder, "acme-credit", models["logistic"], "challenger")
    register_folder(folder, "globex-credit", models["lightgbm"], "champion")
    store = EventStore(Registry(folder))
    keys = {"acme": store.create_tenant("acme"), "globex": store.create_tenant("globex")}
    store.grant("acme", "acme-credit")
    store.grant("globex", "globex-credit")
    operator = store.operators.create("ops")
    return {"path": folder, "keys": keys, "store": store, "operator": operator}


@pytest.fixture(scope="module")
def server(workspace):
    settings = ServiceSettings(
        workspace=workspace["path"],
        poll_interval=0.2,
        cache_seconds=0.1,
        max_rows=50,
        max_body_bytes=20_000,
    )
    with ThreadServer(create_app(settings)) as running:
        yield running


def client(server, workspace, tenant: str = "acme") -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"X-API-Key": workspace["keys"][tenant]}, timeout=30
    )


def rows(n: int = 3, seed: int = 5) -> list[dict]:
    X, _ = applicants(50, seed=seed)
    return json.loads(X.head(n).to_json(orient="records"))  # NaN -> null


def predict(http: httpx.Client, project: str = "acme-credit", **body) -> httpx.Response:
    body.setdefault("rows", rows())
    return http.post(f"/v1/projects/{project}/predict", json=body)


def assert_error(answer: httpx.Response, status: int, *fragments: str) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert len(body["request_id"]) == 32 and "model_version" in body
    for fragment in fragments:
        assert fragment in body["error"], body["error"]
    assert "Traceback" not in answer.text
    return body


# ----------------------------------------------------------------------------- scoring
def test_predict_matches_the_in_process_scorer(server, workspace):
    with client(server, workspace) as http:
        answer = predict(http, rows=rows(5))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["request_id"]) == 32 and answer.headers["x-request-id"] == body["request_id"]
    assert body["model_version"] == 1 and body["alias"] == "champion"
    version = Registry(workspace["path"]).resolve("acme-credit@champion")
    expected = Scorer.from_version(version).score(__import__("pandas").DataFrame(rows(5))[FEATURES])
    got = [p["probability"] for p in body["predictions"]]
    np.testing.assert_allclose(got, expected["probability"], atol=1e-6)
    assert [p["decision"] for p in body["predictions"]] == list(expected["decision"])
    assert all(1 <= len(p["reasons"]) <= 3 for p in body["predictions"])


@pytest.mark.parametrize("family", ["lightgbm", "ft_transformer"])
def test_the_numpy_fast_path_equals_the_pandas_path(models, tmp_path, family):
    from tailorkit.solutions.credit_risk.serving import ScoringAdapter

    register_folder(tmp_path / ".tailorkit", "fast", models[family], "champion")
    adapter = ScoringAdapter(Registry(tmp_path / ".tailorkit").resolve("fast@champion"), "x")
    assert adapter.fast is not None
    batch = rows(40, seed=3)
    batch[0]["housing"], batch[1]["income"], batch[2]["purpose"] = "castle", None, None
    for reasons in (0, 3):
        fast = adapter.predict_rows(batch, reasons)
        probabilities, reason_values = adapter._score_with_pandas(batch, reasons)
        np.testing.assert_allclose([f["probability"] for f in fast], probabilities, atol=1e-6)
        if reasons == 0 or family == "ft_transformer":  # FT-Transformers do not explain rows
            assert reason_values is None and not any("reasons" in f for f in fast)
            continue
        assert reason_values.shape == (len(batch), reasons)
        assert [f["reasons"] for f in fast] == [[r for r in v if r] for v in reason_values]
        assert any(f["reasons"] for f in fast)  # reason codes, not empty lists
    numbers = [{**row, "housing": 3} for row in batch[:2]]  # numbers in a categorical: pandas
    assert not adapter.fast.accepts(numbers) and len(adapter.predict_rows(numbers, 0)) == 2


def test_auth_is_required(server, workspace):
    for headers in ({}, {"X-API-Key": "tk_0000_nope"}, {"X-API-Key": "garbage"}):
        answer = httpx.post(
            f"{server.url}/v1/projects/acme-credit/predict", json={"rows": rows()}, headers=headers
        )
        assert_error(answer, 401, "API key")
    bearer = {"Authorization": f"Bearer {workspace['keys']['acme']}"}
    answer = httpx.post(
        f"{server.url}/v1/projects/acme-credit/predict", json={"rows": rows()}, headers=bearer
    )
    assert answer.status_code == 200


def test_a_tenant_sees_only_its_own_projects(server, workspace):
    with client(server, workspace, "globex") as globex, client(server, workspace) as acme:
        foreign = assert_error(predict(globex, "acme-credit"), 404, "no project 'acme-credit'")
        unknown = assert_error(predict(globex, "nobody"), 404, "no project 'nobody'")
        assert foreign["error"].replace("acme-credit", "X") == unknown["error"].replace(
            "nobody", "X"
        )
        assert [p["name"] for p in globex.get("/v1/projects").json()["projects"]] == [
            "globex-credit"
        ]
        assert_error(globex.get("/v1/projects/acme-credit"), 404)
        assert_error(globex.get("/v1/projects/acme-credit/experiments"), 404)
        assert_error(globex.get("/v1/projects/acme-credit/requests"), 404)
        request_id = predict(acme).json()["request_id"]
        assert_error(
            globex.post("/v1/feedback", json={"request_id": request_id, "outcome": "default"}),
            404,
        )
        assert predict(globex, "globex-credit").status_code == 200


# ----------------------------------------------------------------------------- bad input
def raw(http: httpx.Client, content: bytes, project: str = "acme-credit") -> httpx.Response:
    return http.post(
        f"/v1/projects/{project}/predict",
        content=content,
        headers={"content-type": "application/json"},
    )


def test_bad_requests_get_one_clear_line(server, workspace):
    row = rows(1)[0]
    with client(server, workspace) as http:
        assert_error(raw(http, b'{"rows": [{'), 400, "malformed JSON")
        assert_error(raw(http, b"[1, 2]"), 422, "body")
        assert_error(predict(http, rows="many"), 422, "body.rows")
        assert_error(http.post("/v1/projects/acme-credit/predict", json={}), 422, "body.rows")
        assert_error(predict(http, rows=[]), 422, "body.rows")
        assert_error(predict(http, surprise=1), 422, "body.surprise")
        assert_error(predict(http, rows=[{**row, "income": "abc"}]), 422, "rows[0].income")
        assert_error(predict(http, rows=[{**row, "income": [1]}]), 422, "rows[0].income")
        short = {k: v for k, v in row.items() if k != "loan_amount"}
        assert_error(predict(http, rows=[row, short]), 422, "rows[1]", "'loan_amount'")
        for token in (b"NaN", b"Infinity", b"-Infinity"):
            body = b'{"rows": [{"income": ' + token + b"}]}"
            assert_error(raw(http, body), 422, "rows[0].income", "NaN and infinity")
        assert_error(predict(http, rows=[row] * 51), 413, "51 rows", "limit is 50")
        assert_error(predict(http, rows=[{**row, "note": "x" * 25_000}]), 413, "exceeds the")

        def chunks():
            yield b'{"rows": ['
            for _ in range(200):
                yield json.dumps(row).encode() + b","
            yield json.dumps(row).encode() + b"]}"

        chunked = http.post(
            "/v1/projects/acme-credit/predict",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert_error(chunked, 413, "exceeds the limit")
        assert_error(predict(http, "nobody"), 404, "no project 'nobody'")
        assert_error(predict(http, alias="nightly"), 404, "no alias 'nightly'", "champion")
        assert_error(predict(http, reasons=-1), 422, "body.reasons")
        unknown = predict(http, rows=[{**row, "housing": "castle", "extra": 1}])
        assert unknown.status_code == 200
        assert "unknown category 'castle'" in unknown.json()["warnings"][0]
        nulls = predict(http, rows=[{c: None for c in FEATURES}])
        assert nulls.status_code == 200 and math.isfinite(
            nulls.json()["predictions"][0]["probability"]
        )
        assert_error(
            http.post("/v1/projects/acme-credit/recommend", json={"user": "u1"}),
            404,
            "credit_risk project, not a recommendation project",
        )
        assert_error(
            http.post("/v1/projects/acme-credit/monitor", json={"asset": 1, "readings": [{}]}),
            404,
            "not a maintenance",
        )
        assert_error(http.get("/v1/nothing"), 404)


def test_a_bad_request_does_not_fail_the_requests_batched_with_it(server, workspace):
    row = rows(1)[0]
    bad = {**row, "purpose": {"nested": 1}}
    results: dict[int, int] = {}

    def send(index: int) -> None:
        with client(server, workspace) as http:
            body = [bad] if index == 3 else [row]
            results[index] = predict(http, rows=body).status_code

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.pop(3) == 422 and set(results.values()) == {200}


# ----------------------------------------------------------------------------- feedback
def test_feedback_is_stored_and_linked_to_its_request(server, workspace):
    with client(server, workspace) as http:
        request_id = predict(http).json()["request_id"]
        answer = http.post(
            "/v1/feedback",
            json={"request_id": request_id, "outcome": "default", "value": 1, "row": 0},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["stored"] and answer.json()["model_version"] == 1
        assert_error(
            http.post("/v1/feedback", json={"request_id": "0" * 32, "outcome": "default"}), 404
        )
        assert_error(
            http.post("/v1/feedback", json={"request_id": request_id, "outcome": "Bad Outcome"}),
            422,
            "body.outcome",
        )
        events = http.get("/v1/projects/acme-credit/requests?limit=5").json()["requests"]
    assert request_id in [e["request_id"] for e in events]
    assert workspace["store"].count("feedback", request_id=request_id) == 1


def test_cheap_calls_leave_the_event_loop_only_under_load():
    """One cheap row is answered on the event loop while it is the only request in flight;
    with others in flight it goes to the scoring thread, so the loop keeps taking requests
    (they queue into the next batch)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from tailorkit.serve.batching import MicroBatcher
    from tailorkit.serve.scheduling import FairScheduler
    from tailorkit.solutions.serving import ServingAdapter as Adapter

    class Cheap(Adapter):
        def is_cheap(self, rows):
            return len(rows) == 1

        def answer_batch(self, items, reasons):
            return [{"thread": threading.current_thread().name} for _ in items]

    load = {"in_flight": 1}
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="score")
    batcher = MicroBatcher(
        Cheap(None, "test"), FairScheduler(executor), in_flight=lambda: load["in_flight"]
    )

    async def thread_of_one_call() -> str:
        return (await batcher.predict([{"x": 1}], 0))[0]["thread"]

    async def scenario():
        alone = await thread_of_one_call()
        load["in_flight"] = 8
        busy = await thread_of_one_call()
        batcher.close()
        return alone, busy

    alone, busy = asyncio.run(scenario())
    executor.shutdown()
    assert alone == threading.main_thread().name and busy.startswith("score")


def test_responses_render_numpy_nan_dates_and_int_keys_as_json():
    """The orjson renderer writes what the stdlib encoder wrote, and null where JSON has no
    number (NaN/inf) instead of failing the request."""
    from datetime import datetime, timezone

    from tailorkit.serve.responses import dumps as _dumps

    value = {
        "p": np.float32(0.25),
        "n": np.int64(3),
        "rows": np.array([1.5, 2.0]),
        "missing": float("nan"),
        "at": datetime(2026, 1, 2, tzinfo=timezone.utc),
        "by_class": {0: 0.75, 1: 0.25},
        "other": Path("x"),
    }
    assert json.loads(_dumps(value)) == {
        "p": 0.25,
        "n": 3,
        "rows": [1.5, 2.0],
        "missing": None,
        "at": "2026-01-02T00:00:00+00:00",
        "by_class": {"0": 0.75, "1": 0.25},
        "other": "x",
    }


# ----------------------------------------------------------------------------- experiments
def test_assignment_is_stable_and_follows_the_weights():
    experiment = Experiment(
        7, "p", "e", "split", (Arm("champion", 0.9), Arm("challenger", 0.1)), "running", None, None
    )
    arms = [experiment.assign(f"customer-{i}").alias for i in range(20_000)]
    share = arms.count("challenger") / len(arms)
    assert abs(share - 0.10) < 0.01
    assert arms == [experiment.assign(f"customer-{i}").alias for i in range(20_000)]


def test_ab_split_is_sticky_and_captured(server, workspace):
    store: EventStore = workspace["store"]
    experiment = store.create_experiment(
        "acme-credit", [Arm("champion", 0.5), Arm("challenger", 0.5)]
    )
    try:
        versions: dict[str, set[int]] = {}
        with client(server, workspace) as http:
            eventually(lambda: _routed_by(http, experiment.id))  # the service's cache
            for _repeat in range(2):
                for unit in range(30):
                    body = predict(http, unit_id=f"customer-{unit}", rows=rows(1)).json()
                    assert body["experiment"]["id"] == experiment.id
                    expected = experiment.assign(f"customer-{unit}").alias
                    assert body["alias"] == expected
                    versions.setdefault(f"customer-{unit}", set()).add(body["model_version"])
            assert all(len(v) == 1 for v in versions.values())
            assert {next(iter(v)) for v in versions.values()} == {1, 2}
            http.get("/v1/projects/acme-credit/requests?limit=1")  # flushes the request log
            summary = {
                e["id"]: e["arms_summary"]
                for e in http.get("/v1/projects/acme-credit/experiments").json()["experiments"]
            }[experiment.id]
        # the 30 customers twice each, and the one routed probe that saw the experiment start
        assert sum(arm["units"] for arm in summary.values()) == 30 + 1
        assert sum(arm["exposures"] for arm in summary.values()) == 60 + 1
    finally:
        store.stop_experiment(experiment.id)


def test_shadow_mode_scores_the_challenger_without_returning_it(server, workspace):
    store: EventStore = workspace["store"]
    experiment = store.create_experiment(
        "acme-credit", [Arm("champion", 1), Arm("challenger", 1)], mode="shadow"
    )
    try:
        with client(server, workspace) as http:
            eventually(lambda: _routed_by(http, experiment.id))
            body = predict(http, unit_id="customer-1", rows=rows(2)).json()
            assert body["model_version"] == 1 and body["alias"] == "champion"
            assert body["experiment"]["mode"] == "shadow"

            def logged_row():
                http.get("/v1/projects/acme-credit/requests?limit=1")  # flushes the log
                return _request_row(workspace["path"], body["request_id"])

            logged = eventually(logged_row, timeout=10)
        shadow = json.loads(logged["shadow_json"])
        assert shadow["alias"] == "challenger" and shadow["model_version"] == 2
        assert len(shadow["predictions"]) == 2
        assert shadow["predictions"][0]["probability"] != body["predictions"][0]["probability"]
    finally:
        store.stop_experiment(experiment.id)


def _routed_by(http, experiment_id: int) -> bool:
    """True once the service routes the project's requests through this experiment."""
    body = predict(http, unit_id="probe", rows=rows(1)).json()
    return (body.get("experiment") or {}).get("id") == experiment_id


def _request_row(workspace: Path, request_id: str) -> dict | None:
    import sqlite3

    with sqlite3.connect(workspace / "tailorkit.db") as connection:
        connection.row_factory = sqlite3.Row
        row = connection.execute(
            "SELECT * FROM serve_requests WHERE request_id = ?", (request_id,)
        ).fetchone()
    return dict(row) if row else None


# ----------------------------------------------------------------------------- operations
def test_alias_move_swaps_the_model_without_failed_requests(server, workspace):
    registry = Registry(workspace["path"])
    statuses: list[int] = []
    versions: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        with client(server, workspace) as http:
            while not stop.is_set():
                answer = predict(http, rows=rows(1))
                statuses.append(answer.status_code)
                versions.append(answer.json().get("model_version"))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        eventually(lambda: len(versions) >= 10)  # requests flow on version 1
        registry.set_alias("acme-credit", "champion", 2, reason="test swap")
        eventually(lambda: versions and versions[-1] == 2)
        swapped = len(versions)
        eventually(lambda: len(versions) >= swapped + 10)  # and go on flowing on version 2
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        registry.set_alias("acme-credit", "champion", 1, reason="restore")
    assert set(statuses) == {200}
    assert versions[0] == 1 and versions[-1] == 2
    first_new = versions.index(2)
    assert 1 not in versions[first_new + 6 :]  # only in-flight requests may still finish on v1


def test_health_readiness_metrics_and_docs(server, workspace):
    with client(server, workspace) as http:
        predict(http)
        assert http.get("/healthz").json()["status"] == "ok"
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"]
        operator = {"X-API-Key": workspace["operator"]}  # replaces the client's tenant key
        assert http.get("/metrics").status_code == 403  # a tenant's key
        metrics = http.get("/metrics", headers=operator).text
        assert "tailorkit_requests_total{" in metrics
        assert 'tenant="acme"' in metrics and 'project="acme-credit"' in metrics
        assert (
            'model_version="1"' in metrics and "tailorkit_request_latency_seconds_bucket" in metrics
        )
        assert "tailorkit_errors_total{" in metrics
        assert http.get("/docs").status_code == 200
        paths = http.get("/openapi.json").json()["paths"]
        assert {"/v1/projects/{project}/predict", "/v1/feedback", "/readyz"} <= set(paths)


def test_a_corrupt_model_leaves_the_service_up_but_not_ready(tmp_path, models, caplog):
    import shutil

    folder = tmp_path / ".tailorkit"
    register_folder(folder, "good-credit", models["lightgbm"], "champion")
    broken = tmp_path / "broken"
    shutil.copytree(models["lightgbm"], broken)
    booster = next(p for p in broken.iterdir() if p.suffix == ".txt")
    booster.write_text("this is not a LightGBM model\n")
    register_folder(folder, "broken-credit", broken, "champion")
    gone = tmp_path / "gone"
    shutil.copytree(models["lightgbm"], gone)
    (gone / "note.txt").write_text("distinct content, distinct artifact")
    register_folder(folder, "missing-credit", gone, "champion")
    registry = Registry(folder)
    (registry.resolve("missing-credit@champion").path / "model.json").unlink()
    store = EventStore(registry)
    key = store.create_tenant("acme")
    operator = {"X-API-Key": store.operators.create("ops")}
    for project in ("good-credit", "broken-credit", "missing-credit"):
        store.grant("acme", project)
    settings = ServiceSettings(workspace=folder, poll_interval=0)
    with ThreadServer(create_app(settings)) as running:
        http = httpx.Client(base_url=running.url, headers={"X-API-Key": key}, timeout=30)

        def settled():
            answer = http.get("/readyz", headers=operator)
            return answer if "loading models" not in answer.json()["problems"] else None

        ready = eventually(settled, timeout=30)
        assert ready.status_code == 503 and not ready.json()["ready"]
        problems = " ".join(ready.json()["problems"])
        assert "broken-credit:1" in problems and "missing-credit:1" in problems
        assert http.get("/healthz").status_code == 200
        assert_error(predict(http, "broken-credit"), 503, "failed to load")
        assert_error(predict(http, "missing-credit"), 503, "failed to load", "model.json")
        assert predict(http, "good-credit").status_code == 200
    assert any("broken-credit:1" in r.getMessage() for r in caplog.records)
