"""Monitoring through the real service on SQLite: observed inputs (filtered, expiring), drift
of a shifted window on the shifted feature only, none on an unshifted one, realised AUC from
feedback, the drift gauges, tenant isolation, an empty window and a bad one."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from tailorkit.models import load_model
from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import EventStore
from tailorkit.serve.observations import HASH_PREFIX
from tailorkit.solutions.credit_risk.predict import DECISION_FILE
from tailorkit.solutions.reference_sample import save_reference
from tests.serving_helpers import FEATURES, ThreadServer, applicants, eventually, fit_credit_model

pytestmark = pytest.mark.slow
PROJECTS = ("calm", "moved", "quiet", "private")
LIVE_ROWS = 1500


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """acme owns every project of PROJECTS (one model, its reference: 3,000 simulated
    applicants); ``private`` declares region protected and purpose personal; globex owns none."""
    base = tmp_path_factory.mktemp("monitoring")
    model = fit_credit_model(base / "model")
    reference, _ = applicants(3000, seed=11)
    scores = load_model(model).predict_proba(reference)[:, 1]
    save_reference(model, reference, load_model(model).schema_, scores)
    private = base / "private"
    shutil.copytree(model, private)
    decision = json.loads((private / DECISION_FILE).read_text())
    decision["privacy"] = {"protected": ["region"], "personal": ["purpose"]}
    (private / DECISION_FILE).write_text(json.dumps(decision))
    workspace = base / ".tailorkit"
    registry = Registry(workspace)
    store = EventStore(registry)
    keys = {name: store.create_tenant(name) for name in ("acme", "globex")}
    for project in PROJECTS:
        registry.ensure_project(project, "credit_risk")
        folder = private if project == "private" else model
        version = registry.register_model(project, folder, family="lightgbm").version
        registry.set_alias(project, "champion", version)
        store.grant("acme", project)
    settings = ServiceSettings(workspace=workspace, poll_interval=0.2, cache_seconds=0.1)
    with ThreadServer(create_app(settings)) as running:
        yield {"url": running.url, "keys": keys, "store": store, "ops": operator_key(store)}


def operator_key(store: EventStore) -> str:
    return store.operators.create("ops")


def client(service, tenant: str = "acme") -> httpx.Client:
    headers = {"X-API-Key": service["keys"][tenant]}
    return httpx.Client(base_url=service["url"], headers=headers, timeout=30)


def send(service, project: str, rows: list[dict]) -> list[str]:
    """Score ``rows`` in requests of 500; wait until every row is observed."""
    ids = []
    with client(service) as http:
        for start in range(0, len(rows), 500):
            answer = http.post(f"/v1/projects/{project}/predict", json={"rows": rows[start:][:500]})
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["request_id"])
    store = service["store"]
    eventually(lambda: store.count("observations", project=project) >= len(rows))
    return ids


def live_rows(seed: int, income_factor: float = 1.0) -> list[dict]:
    X, _ = applicants(LIVE_ROWS, seed=seed)
    X = X.assign(income=X["income"] * income_factor)
    return json.loads(X.to_json(orient="records"))


def monitoring(service, project: str, tenant: str = "acme", **query) -> httpx.Response:
    with client(service, tenant) as http:
        return http.get(f"/v1/projects/{project}/monitoring", params=query)


def test_a_shifted_feature_drifts_alone_and_an_unshifted_window_does_not(service):
    send(service, "calm", live_rows(seed=21))
    send(service, "moved", live_rows(seed=22, income_factor=1.8))
    calm = monitoring(service, "calm", window="24h").json()
    moved = monitoring(service, "moved", window="24h").json()
    assert calm["rows"] == moved["rows"] == LIVE_ROWS
    assert calm["reference_rows"] == 3000 and calm["model_version"] == 1
    assert {row["feature"] for row in calm["features"]} == set(FEATURES)
    assert [row["feature"] for row in calm["features"] if row["drifted"]] == []
    assert [row["feature"] for row in moved["features"] if row["drifted"]] == ["income"]
    income = next(row for row in moved["features"] if row["feature"] == "income")
    assert income["test"] == "wasserstein" and income["psi"] > 0.2
    assert not moved["dataset_drift"] and not calm["dataset_drift"]
    assert calm["prediction"]["rows"] == LIVE_ROWS and calm["prediction"]["psi"] < 0.1
    assert moved["prediction"]["psi"] > calm["prediction"]["psi"]
    assert all("unseen_share" in row for row in calm["features"] if row["type"] == "categorical")
    metrics = httpx.get(
        f"{service['url']}/metrics", headers={"Authorization": f"Bearer {service['ops']}"}
    ).text
    assert 'tailorkit_feature_drift{feature="income",project="moved"}' in metrics
    assert 'tailorkit_prediction_psi{project="moved"}' in metrics


def test_the_services_monitoring_loop_alerts_on_the_drifted_project_unasked(service, tmp_path):
    """After the shifted window above: a service that checks every 0.3 s stores a
    feature-drift alert naming income for ``moved``, none for ``calm``, without any GET."""
    workspace, store = Path(service["store"].registry.workspace), service["store"]
    settings = ServiceSettings(workspace=workspace, monitor_every_s=0.3, monitor_window="24h")
    with ThreadServer(create_app(settings)):
        eventually(lambda: store.alerts.list("moved"), timeout=60)
    (alert,) = [a for a in store.alerts.list("moved") if a.rule == "feature_drift"]
    assert "income" in alert.message and alert.status == "stored"  # no webhook in the spec
    assert [a.rule for a in store.alerts.list("calm")] == []


def test_feedback_labels_give_the_realised_auc_with_an_interval(service):
    rows = live_rows(seed=23)
    _, labels = applicants(LIVE_ROWS, seed=23)
    ids = send(service, "quiet", rows[:100])
    with client(service) as http:
        for row in range(60):
            body = {"request_id": ids[0], "outcome": "default", "value": int(labels[row])}
            answer = http.post("/v1/feedback", json={**body, "row": row})
            assert answer.status_code in (200, 201), answer.text
    realised = monitoring(service, "quiet", window="1h", outcome="default").json()["realised"]
    assert realised["labelled"] == 60 and realised["positives"] == int(labels[:60].sum())
    low, high = realised["auc_interval"]
    assert low <= realised["auc"] <= high and realised["auc"] > 0.5
    assert realised["log_loss_interval"][0] <= realised["log_loss"]
    none = monitoring(service, "quiet", window="1h", outcome="click").json()["realised"]
    assert none["labelled"] == 0 and none["reason"]


def test_observed_inputs_are_filtered_and_expire(service):
    row = {**live_rows(seed=24)[0], "application_id": "A-17", "email": "x@y.z"}
    [request_id] = send(service, "private", [row])
    store = service["store"]
    with store.read() as session:
        stored = session.execute(store_query(request_id)).scalar_one()
    inputs = json.loads(stored)
    assert "region" not in inputs and "application_id" not in inputs and "email" not in inputs
    assert inputs["purpose"].startswith(HASH_PREFIX) and row["purpose"] not in inputs["purpose"]
    assert inputs["income"] == row["income"]
    later = datetime.now(timezone.utc) + timedelta(days=1)
    dry = store.compact_requests(later, dry_run=True)
    assert dry.observations >= 1
    done = store.compact_requests(later)
    assert done.observations == dry.observations
    assert store.count("observations", project="private") == 0


def store_query(request_id: str):
    from sqlalchemy import select

    from tailorkit.serve.event_tables import ObservationRow

    return select(ObservationRow.inputs_json).where(ObservationRow.request_id == request_id)


def test_tenant_isolation_empty_and_bad_windows(service):
    assert monitoring(service, "calm", tenant="globex").status_code == 404
    assert monitoring(service, "nowhere").status_code == 404
    empty = monitoring(service, "calm", window="1m")
    assert empty.status_code == 200
    assert empty.json()["features"] == [] or empty.json()["rows"] > 0
    fresh = monitoring(service, "private", window="1m").json()
    assert fresh["features"] == [] and "no observed request rows" in fresh["reason"]
    assert fresh["prediction"]["psi"] is None and fresh["realised"]["labelled"] == 0
    for bad in ("24x", "0h", "h", "99999d"):
        answer = monitoring(service, "calm", window=bad)
        assert answer.status_code == 422, answer.text
        assert "query.window" in answer.json()["error"]


def test_the_reference_sample_is_bounded_and_skips_private_columns(tmp_path: Path):
    X, _ = applicants(6000, seed=3)
    path = save_reference(tmp_path, X, {}, None, excluded=["region", "purpose"])
    document = json.loads(path.read_text())
    assert document["rows"] == 5000 and document["total_rows"] == 6000
    assert set(document["columns"]) == set(FEATURES) - {"region", "purpose"}
