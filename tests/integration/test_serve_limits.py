"""Per-tenant rate limits over a real HTTP server: 429 with Retry-After and a JSON error
naming the limit, for that tenant only; a large request is answered whole through slices,
and checked off the event loop with the same 422."""

from __future__ import annotations

import json

import httpx
import pytest

from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import EventStore
from tailorkit.solutions.credit_risk.serving import ScoringAdapter
from tests.serving_helpers import ThreadServer, applicants, fit_credit_model, register_folder


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    model = fit_credit_model(root / "lightgbm", "lightgbm")
    workspace = root / ".tailorkit"
    register_folder(workspace, "acme-credit", model, "champion")
    tenants = ("acme", "globex", "initech")
    for name in tenants:
        register_folder(workspace, f"{name}-credit", model, "champion")
    store = EventStore(Registry(workspace))
    keys = {name: store.create_tenant(name) for name in tenants}
    for name in tenants:
        store.grant(name, f"{name}-credit")
    # 0.2 requests per second with bursts of 3: the 4th quick request is over the rate.
    settings = ServiceSettings(
        workspace=workspace, tenant_rate=0.2, tenant_burst=3, max_batch_rows=16
    )
    with ThreadServer(create_app(settings)) as running:
        yield running.url, keys, workspace


def test_a_tenant_over_its_rate_gets_429_with_retry_after_naming_the_limit(service):
    url, keys, workspace = service
    X, _ = applicants(300, seed=2)
    many = json.loads(X.to_json(orient="records"))
    with httpx.Client(base_url=url, headers={"X-API-Key": keys["acme"]}, timeout=60) as http:
        first = http.post("/v1/projects/acme-credit/predict", json={"rows": many, "reasons": 5})
        assert first.status_code == 200, first.text  # 300 rows in slices of at most 16
        adapter = ScoringAdapter(Registry(workspace).resolve("acme-credit@champion"), "x")
        assert first.json()["predictions"] == adapter.predict_rows(many, 5)  # in order
        assert http.get("/v1/projects").status_code == 200
        assert http.get("/v1/projects/acme-credit").status_code == 200
        refused = http.get("/v1/projects")
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    body = refused.json()
    assert body["limit"] == "tenant_rate" and body["retry_after_s"] >= 1
    assert "tenant 'acme'" in body["error"] and "--tenant-rate" in body["error"]
    assert len(body["request_id"]) == 32 and "Traceback" not in refused.text
    with httpx.Client(base_url=url, headers={"X-API-Key": keys["globex"]}, timeout=60) as http:
        assert http.get("/v1/projects").status_code == 200  # another tenant is not limited


def test_a_bad_row_in_a_large_request_is_a_422_naming_it(service):
    """More rows than are checked on the event loop: checked in the tenant's scoring turn,
    with the same answer."""
    url, keys, _workspace = service
    X, _ = applicants(150, seed=3)
    many = json.loads(X.to_json(orient="records"))
    many[120]["income"] = "lots"
    with httpx.Client(base_url=url, headers={"X-API-Key": keys["initech"]}, timeout=60) as http:
        answer = http.post("/v1/projects/initech-credit/predict", json={"rows": many})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"].startswith("rows[120].income: must be a number")
