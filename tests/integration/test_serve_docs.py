"""The service's API docs over a real HTTP server: /docs and /redoc load every asset from the
service itself (no CDN, so they work without internet), and /openapi.json declares the API-key
security scheme on every tenant route and on the operator routes (optional on /readyz)."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest

from tailorkit.serve.app import ServiceSettings, create_app
from tests.serving_helpers import ThreadServer

SECURITY = [{"ApiKey": []}, {"Bearer": []}]
OPEN_PATHS = {"/healthz"}
OPERATOR_PATHS = {"/metrics": SECURITY, "/readyz": [*SECURITY, {}]}  # {}: or no key


class _Assets(HTMLParser):
    """The URLs a page loads: script sources and linked stylesheets or icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(found["src"])
        elif tag == "link" and found.get("href"):
            self.urls.append(found["href"])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("docs") / ".tailorkit"
    with ThreadServer(create_app(ServiceSettings(workspace=workspace))) as running:
        yield running


@pytest.mark.parametrize(
    "page, expected",
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
def test_docs_pages_load_every_asset_from_the_service(server, page, expected):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        answer = http.get(page)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
        html = answer.text
        assert "http://" not in html and "https://" not in html, html  # no CDN, no web fonts
        parser = _Assets()
        parser.feed(html)
        assert {url.rsplit("/", 1)[-1] for url in parser.urls} == expected
        for url in parser.urls:
            assert url.startswith("/") and not url.startswith("//"), url  # this server
            asset = http.get(url)
            assert asset.status_code == 200, (url, asset.text[:200])
            assert len(asset.content) > 1000, url
            if url.endswith(".js"):
                assert "javascript" in asset.headers["content-type"]
            elif url.endswith(".css"):
                assert asset.headers["content-type"].startswith("text/css")
        assert http.get("/openapi.json").json()["openapi"].startswith("3.")
        assert http.get("/docs/oauth2-redirect").status_code == 200
        missing = http.get("/docs/static/nothing.js")
        assert missing.status_code == 404 and "error" in missing.json()


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
    assert {path for path, _method in operations} >= OPEN_PATHS | set(OPERATOR_PATHS) | {
        "/v1/projects/{project}/predict",
        "/v1/feedback",
    }
    for (path, method), operation in operations.items():
        if path in OPEN_PATHS:
            assert "security" not in operation, (path, method)
        elif path in OPERATOR_PATHS:
            assert operation["security"] == OPERATOR_PATHS[path], (path, operation)
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
