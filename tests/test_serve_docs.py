"""The service's API docs over a real HTTP server: /openapi.json declares the API-key security
scheme on every tenant route."""

from __future__ import annotations

import httpx
import pytest

from tailorkit.serve.app import ServiceSettings, create_app

from .serving_helpers import ThreadServer

SECURITY = [{"ApiKey": []}, {"Bearer": []}]
OPEN_PATHS = {"/healthz", "/readyz", "/metrics"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("docs") / ".tailorkit"
    with ThreadServer(create_app(ServiceSettings(workspace=workspace))) as running:
        yield running


def test_openapi_declares_the_api_key_on_every_tenant_route(server):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        document = http.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    api_key = schemes["ApiKey"]
    assert (api_key["type"], api_key["in"], api_key["name"]) == ("apiKey", "header", "X-API-Key")
    assert schemes["Bearer"]["type"] == "http" and schemes["Bearer"]["scheme"] == "bearer"
    operations = {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert {path for path, _method in operations} >= OPEN_PATHS | {
        "/v1/projects/{project}/predict",
        "/v1/feedback",
    }
    for (path, method), operation in operations.items():
        if path in OPEN_PATHS:
            assert "security" not in operation, (path, method)
        else:
            assert path.startswith("/v1/") and operation["security"] == SECURITY, (path, method)
            headers = {p["name"].lower() for p in operation.get("parameters", [])}
            assert not headers & {"x-api-key", "authorization"}  # a scheme, not a parameter


def test_the_declared_schemes_keep_the_services_own_401_lines(server):
    url = f"{server.url}/v1/projects/any/predict"
    body = {"rows": [{"x": 1}]}
    missing = "missing API key: send it in the X-API-Key header"
    cases = [
        ({}, missing),
        ({"X-API-Key": ""}, missing),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, missing),
        ({"Authorization": "Bearer"}, missing),
        ({"Authorization": "Bearer tk_0000_nope"}, "invalid API key"),
        ({"X-API-Key": "tk_0000_nope", "Authorization": "Basic x"}, "invalid API key"),
    ]
    for headers, message in cases:
        answer = httpx.post(url, json=body, headers=headers, timeout=30)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.json()["error"] == message, headers
        assert "www-authenticate" not in answer.headers
