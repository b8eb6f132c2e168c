"""An unexpected exception in a route, over a real HTTP server: a JSON 500 with the request
id, the keep-alive connection stays open for the next request, and the 500 is counted in
``tailorkit_errors_total`` and written once to the access log."""

from __future__ import annotations

import http.client
import json
import logging

import httpx
import pytest
from fastapi import Request

from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.dependencies import CallerDep
from tailorkit.serve.events import EventStore
from tests.serving_helpers import ThreadServer, fit_credit_model, register_folder


class Broken(RuntimeError):
    """The unexpected failure of the test-only route."""


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors")
    workspace = root / ".tailorkit"
    register_folder(workspace, "acme-credit", fit_credit_model(root / "m"), "champion")
    store = EventStore(Registry(workspace))
    key = store.create_tenant("acme")
    store.grant("acme", "acme-credit")
    operator = store.operators.create("ops")
    app = create_app(ServiceSettings(workspace=workspace))

    async def broken(request: Request, caller: CallerDep) -> None:
        """A test-only route whose code fails after authenticating the caller."""
        request.state.labels["endpoint"] = "broken"
        raise Broken("the route's own bug")

    app.add_api_route("/v1/broken", broken, methods=["GET"])
    with ThreadServer(app) as running:
        yield running.port, key, operator


def test_an_unexpected_error_is_a_json_500_that_keeps_the_connection(service, caplog):
    port, key, operator = service
    caplog.set_level(logging.INFO, logger="tailorkit.serve.access")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/v1/broken", headers={"X-API-Key": key})
        failed = connection.getresponse()
        text = failed.read().decode()
        socket_before = connection.sock
        assert failed.status == 500, text
        body = json.loads(text)
        assert body["error"] == "internal error (Broken); see the log"
        assert len(body["request_id"]) == 32
        assert failed.getheader("x-request-id") == body["request_id"]
        assert "Traceback" not in text and failed.getheader("connection") != "close"
        # the same keep-alive connection answers the next request
        connection.request("GET", "/metrics", headers={"X-API-Key": operator})
        metrics = connection.getresponse()
        assert connection.sock is socket_before and socket_before is not None
        assert metrics.status == 200
        exposition = metrics.read().decode()
    finally:
        connection.close()
    counted = [
        line
        for line in exposition.splitlines()
        if line.startswith("tailorkit_errors_total{")
        and 'endpoint="broken"' in line
        and 'status="500"' in line
    ]
    assert len(counted) == 1 and counted[0].endswith(" 1.0"), exposition
    access = [r.getMessage() for r in caplog.records if r.name == "tailorkit.serve.access"]
    logged = [line for line in access if f"request_id={body['request_id']}" in line]
    assert len(logged) == 1 and "status=500" in logged[0] and "tenant=acme" in logged[0]
    tracebacks = [r for r in caplog.records if r.name == "tailorkit.serve" and r.exc_info]
    assert any(body["request_id"] in r.getMessage() for r in tracebacks)  # the log has it


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/projects/acme-credit/predict", "POST"),
        ("DELETE", "/v1/feedback", "POST"),
        ("POST", "/healthz", "GET"),
        ("PUT", "/metrics", "GET"),
    ],
)
def test_a_wrong_method_is_a_json_405_with_allow(service, method, path, allowed):
    port, key, _operator = service
    answer = httpx.request(
        method, f"http://127.0.0.1:{port}{path}", headers={"X-API-Key": key}, timeout=30
    )
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == allowed
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["error"] == "Method Not Allowed"
    assert body["request_id"] == answer.headers["x-request-id"] and len(body["request_id"]) == 32
