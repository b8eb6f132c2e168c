"""Operations routes over a real HTTP server: who may read what.

``/healthz`` and the bare ``/readyz`` are public; readiness details and ``/metrics`` name every
tenant and project, so they need an operator key (``tailorkit operators create``, run here as
the real CLI) and refuse a tenant's. No answer names a folder of the host: the workspace holds
two models broken so that their load errors carry the artifact's absolute path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import EventStore
from tailorkit.solutions.credit_risk.predict import DECISION_FILE
from tests.conftest import tk
from tests.serving_helpers import (
    ThreadServer,
    applicants,
    eventually,
    fit_credit_model,
    register_folder,
)

PROJECTS = ("good-credit", "nodecision-credit", "nomodel-credit")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    """acme owns good-credit and nodecision-credit (registered without its decision file);
    globex owns nomodel-credit (registered without model.json)."""
    root = tmp_path_factory.mktemp("operators")
    folder = (root / ".tailorkit").resolve()
    model = fit_credit_model(root / "model")
    register_folder(folder, "good-credit", model, "champion")
    no_decision = root / "no-decision"
    shutil.copytree(model, no_decision)
    (no_decision / DECISION_FILE).unlink()
    register_folder(folder, "nodecision-credit", no_decision, "champion")
    registry = Registry(folder)
    registry.ensure_project("nomodel-credit", "credit_risk")
    no_model = root / "no-model"
    shutil.copytree(model, no_model)
    (no_model / "model.json").rename(no_model / "config.json")
    version = registry.register_model("nomodel-credit", no_model, family="lightgbm").version
    registry.set_alias("nomodel-credit", "champion", version)
    store = EventStore(registry)
    keys = {"acme": store.create_tenant("acme"), "globex": store.create_tenant("globex")}
    for project in PROJECTS[:2]:
        store.grant("acme", project)
    store.grant("globex", "nomodel-credit")
    return {"path": folder, "keys": keys}


@pytest.fixture(scope="module")
def operator_key(workspace) -> str:
    done = tk(workspace["path"].parent, "operators", "create", "prometheus")
    key = done.stdout.strip()
    assert key.startswith("tko_") and "created" in done.stderr, (done.stdout, done.stderr)
    return key


@pytest.fixture(scope="module")
def server(workspace):
    settings = ServiceSettings(workspace=workspace["path"], poll_interval=0, cache_seconds=0.1)
    app = create_app(settings)
    with ThreadServer(app) as running:
        eventually(lambda: app.state.service.started, timeout=120)  # start-up loading done
        yield running


def get(server, path: str, key: str | None = None, bearer: bool = False) -> httpx.Response:
    headers = {}
    if key is not None:
        headers = {"Authorization": f"Bearer {key}"} if bearer else {"X-API-Key": key}
    return httpx.get(f"{server.url}{path}", headers=headers, timeout=30)


def predict(server, project: str, key: str) -> httpx.Response:
    X, _ = applicants(20, seed=5)
    rows = json.loads(X.head(2).to_json(orient="records"))
    return httpx.post(
        f"{server.url}/v1/projects/{project}/predict",
        json={"rows": rows},
        headers={"X-API-Key": key},
        timeout=30,
    )


def test_readyz_without_an_operator_key_says_only_whether_it_is_ready(server, workspace):
    for key in (None, workspace["keys"]["acme"], workspace["keys"]["globex"], "tko_0_nope"):
        answer = get(server, "/readyz", key)
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["ready"] is False
        assert set(body) == {"ready", "request_id", "model_version"}, body
        assert not any(project in answer.text for project in PROJECTS), answer.text
        assert "acme" not in answer.text and "globex" not in answer.text
    assert get(server, "/healthz").json()["status"] == "ok"


def test_metrics_refuse_no_key_a_wrong_key_and_a_tenants_key(server, workspace):
    predict(server, "good-credit", workspace["keys"]["acme"])
    assert get(server, "/metrics").status_code == 401
    assert get(server, "/metrics", "tko_0123_nope").status_code == 401
    assert get(server, "/metrics", "not a key at all", bearer=True).status_code == 401
    for tenant in ("acme", "globex"):
        refused = get(server, "/metrics", workspace["keys"][tenant], bearer=True)
        assert refused.status_code == 403, refused.text
        assert "operator key" in refused.json()["error"]
        assert "good-credit" not in refused.text


def test_metrics_open_with_an_operator_key(server, workspace, operator_key):
    predict(server, "good-credit", workspace["keys"]["acme"])
    for bearer in (True, False):  # Prometheus sends Authorization: Bearer
        answer = get(server, "/metrics", operator_key, bearer=bearer)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        assert 'tenant="acme"' in answer.text and 'project="good-credit"' in answer.text
    assert 'tenant="prometheus"' not in get(server, "/metrics", operator_key).text


def test_an_operator_key_opens_readiness_details_and_no_tenant_route(server, operator_key):
    answer = get(server, "/readyz", operator_key, bearer=True)
    assert answer.status_code == 503
    details = answer.json()
    assert details["routes"] == {"good-credit@champion": 1}
    problems = "\n".join(details["problems"])
    assert "nodecision-credit:1" in problems and DECISION_FILE in problems, problems
    assert "nomodel-credit:1" in problems and "model.json" in problems, problems
    refused = predict(server, "good-credit", operator_key)
    assert refused.status_code == 401, refused.text
    assert get(server, "/v1/projects", operator_key).status_code == 401


def assert_names_no_folder(answer: httpx.Response, folder: Path) -> None:
    for form in {str(folder.parent), str(folder.absolute().parent)}:  # the workspace and above
        assert form not in answer.text, (answer.request.url, answer.text)


def test_a_broken_models_503_names_its_file_not_its_folder(server, workspace):
    keys = workspace["keys"]
    for project, key, named in [
        ("nodecision-credit", keys["acme"], DECISION_FILE),
        ("nomodel-credit", keys["globex"], "model.json"),
    ]:
        answer = predict(server, project, key)
        assert answer.status_code == 503, answer.text
        error = answer.json()["error"]
        assert f"{project}:1" in error and "failed to load" in error and named in error, error
        assert_names_no_folder(answer, workspace["path"])


def test_operator_answers_name_no_folder_of_the_host(server, workspace, operator_key):
    predict(server, "nodecision-credit", workspace["keys"]["acme"])  # a 503 in the metrics
    for path in ("/readyz", "/metrics"):
        answer = get(server, path, operator_key)
        assert answer.status_code in (200, 503) and "nodecision-credit" in answer.text
        assert_names_no_folder(answer, workspace["path"])


@pytest.mark.slow
def test_operator_keys_rotate_and_are_removed_from_the_cli(server, workspace):
    folder = workspace["path"].parent
    first = tk(folder, "operators", "create", "oncall").stdout.strip()
    assert get(server, "/metrics", first).status_code == 200
    second = tk(folder, "operators", "rotate-key", "oncall").stdout.strip()
    eventually(lambda: get(server, "/metrics", first).status_code == 401)
    assert get(server, "/metrics", second).status_code == 200
    listed = json.loads(tk(folder, "operators", "list", "--json").stdout)
    assert "oncall" in {row["name"] for row in listed}
    assert not any(second in json.dumps(row) for row in listed)  # key ids, never keys
    tk(folder, "operators", "remove", "oncall")
    eventually(lambda: get(server, "/metrics", second).status_code == 401)
    for name, fragment in [("a_b", "operator name 'a_b' is invalid"), ("oncall", None)]:
        done = tk(
            folder, "operators", "rotate-key" if fragment is None else "create", name, ok=False
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert (fragment or "no operator 'oncall'") in done.stderr, done.stderr
