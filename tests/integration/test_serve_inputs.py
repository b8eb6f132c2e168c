"""Inputs that pass JSON parsing but cannot be stored, hashed or scored, over a real HTTP
server: integers beyond float range, lone UTF-16 surrogates, feedback rows beyond 64 bits and
dates outside UTC's years; and values of another JSON type than the field documents (which
were coerced: ``"reasons": false`` answered with 0 reasons, Schemathesis found it). Each is a
422 naming the field, never a 500."""

from __future__ import annotations

import json

import httpx
import pytest

from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import Arm, EventStore
from tests.serving_helpers import ThreadServer, applicants, fit_credit_model, register_folder

LONE_SURROGATE = "\ud800"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """acme-credit with a running 50/50 experiment (so unit ids are hashed into arms)."""
    root = tmp_path_factory.mktemp("inputs")
    model = fit_credit_model(root / "lightgbm", "lightgbm")
    workspace = root / ".tailorkit"
    register_folder(workspace, "acme-credit", model, "champion")
    register_folder(workspace, "acme-credit", model, "challenger")
    store = EventStore(Registry(workspace))
    key = store.create_tenant("acme")
    store.grant("acme", "acme-credit")
    store.create_experiment("acme-credit", [Arm("champion", 0.5), Arm("challenger", 0.5)])
    with ThreadServer(create_app(ServiceSettings(workspace=workspace))) as running:
        with httpx.Client(base_url=running.url, headers={"X-API-Key": key}, timeout=30) as http:
            yield http


def a_row() -> dict:
    X, _ = applicants(5, seed=4)
    return json.loads(X.head(1).to_json(orient="records"))[0]


def post(http: httpx.Client, path: str, body: dict) -> httpx.Response:
    """``body`` as JSON text; ``json.dumps`` writes a lone surrogate as its ``\\ud800`` escape,
    which JSON allows and Python's parser reads back as the lone surrogate."""
    content = json.dumps(body)
    return http.post(path, content=content, headers={"Content-Type": "application/json"})


def assert_422(answer: httpx.Response, *fragments: str) -> None:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert len(body["request_id"]) == 32 and "Traceback" not in answer.text
    for fragment in fragments:
        assert fragment in body["error"], body["error"]


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"rows.income": 10**400}, ("body.rows[0].income", "401-digit integer")),
        ({"rows.housing": -(10**400)}, ("body.rows[0].housing", "beyond the range")),
        ({"rows.housing": LONE_SURROGATE}, ("body.rows[0].housing", "lone UTF-16 surrogate")),
        ({"rows.application_id": "a" + LONE_SURROGATE}, ("body.rows[0].application_id",)),
        ({"unit_id": LONE_SURROGATE}, ("body.unit_id", "lone UTF-16 surrogate")),
        ({"unit_id": 2**64}, ("body.unit_id", "less than or equal to 9223372036854775807")),
        ({"alias": LONE_SURROGATE}, ("body.alias", "lone UTF-16 surrogate")),
        ({"reasons": False}, ("body.reasons", "valid integer")),
        ({"reasons": "3"}, ("body.reasons", "valid integer")),
        ({"reasons": 3.0}, ("body.reasons", "valid integer")),
        ({"unit_id": 7.0}, ("body.unit_id",)),
    ],
    ids=lambda value: str(value)[:24],
)
def test_predict_refuses_values_it_cannot_score_or_store(service, change, fragments):
    body: dict = {"rows": [a_row()]}
    for field, value in change.items():
        if field.startswith("rows."):
            body["rows"][0][field.removeprefix("rows.")] = value
        else:
            body[field] = value
    assert_422(post(service, "/v1/projects/acme-credit/predict", body), *fragments)


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"label": LONE_SURROGATE}, ("body.label", "lone UTF-16 surrogate")),
        ({"row": 2**63}, ("body.row", "less than or equal to 9223372036854775807")),
        ({"value": 10**400}, ("body.value", "401-digit integer")),
        ({"observed_at": "0001-01-01T00:00:00+01:00"}, ("body.observed_at", "years 1 to 9999")),
        ({"observed_at": 1_700_000_000}, ("body.observed_at", "ISO 8601 date-time string")),
        ({"value": True}, ("body.value", "valid number")),
        ({"value": "1.5"}, ("body.value", "valid number")),
        ({"row": False}, ("body.row", "valid integer")),
        ({"row": "3"}, ("body.row", "valid integer")),
    ],
    ids=lambda value: str(value)[:24],
)
def test_feedback_refuses_values_it_cannot_store(service, change, fragments):
    answered = post(service, "/v1/projects/acme-credit/predict", {"rows": [a_row()]})
    assert answered.status_code == 200, answered.text
    body = {"request_id": answered.json()["request_id"], "outcome": "label", **change}
    assert_422(post(service, "/v1/feedback", body), *fragments)


def test_the_largest_accepted_values_are_stored(service):
    """The bounds are the storage's, not tighter: a 2**63 - 1 row and a 300-digit number."""
    row = {**a_row(), "income": 10**300, "housing": "caf\u00e9"}
    answered = post(service, "/v1/projects/acme-credit/predict", {"rows": [row], "unit_id": -1})
    assert answered.status_code == 200, answered.text
    body = {"request_id": answered.json()["request_id"], "outcome": "label", "row": 2**63 - 1}
    assert post(service, "/v1/feedback", body).status_code == 200
