"""Property tests of the service's request bodies: any JSON-ish body is either a valid request
that can be stored, hashed and echoed, or a clean 422 naming the field (never another
exception); over a real HTTP server, never a 5xx."""

from __future__ import annotations

import json
import math
from datetime import timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.errors import validation_answer
from tailorkit.serve.events import Arm, EventStore
from tailorkit.serve.responses import dumps
from tailorkit.serve.routes.feedback import body_digest
from tailorkit.serve.schemas import (
    FeedbackRequest,
    MonitorRequest,
    PredictRequest,
    RecommendRequest,
)
from tests.property_strategies import (
    LONE_SURROGATE,
    bounded,
    floats,
    integers,
    json_values,
    scalars,
    short_texts,
    texts,
)
from tests.serving_helpers import ThreadServer, applicants, fit_credit_model, register_folder

PROJECT = "acme-credit"
REQUEST_ID = "0123456789abcdef0123456789abcdef"
FIRST_ROW = json.loads(applicants(5, seed=4)[0].head(1).to_json(orient="records"))[0]


def rows() -> st.SearchStrategy[list[dict[str, Any]]]:
    """Feature rows: a real applicant with some values replaced, or made-up columns."""
    changed = st.dictionaries(st.sampled_from(sorted(FIRST_ROW)), scalars(), max_size=3)
    real = changed.map(lambda change: {**FIRST_ROW, **change})
    made_up = st.dictionaries(texts(), scalars() | json_values(), max_size=3)
    return st.lists(real | made_up, max_size=3)


def observed_times() -> st.SearchStrategy[Any]:
    offsets = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
    zones = st.none() | offsets.map(timezone)
    return st.datetimes(timezones=zones).map(lambda t: t.isoformat()) | scalars()


UNIT = texts() | integers() | st.none()
FIELDS: dict[type[BaseModel], dict[str, st.SearchStrategy[Any]]] = {
    PredictRequest: {"rows": rows(), "alias": texts(), "unit_id": UNIT, "reasons": integers()},
    RecommendRequest: {
        "user": UNIT,
        "k": integers(),
        "alias": texts(),
        "unit_id": UNIT,
        "context": st.dictionaries(texts(), scalars(), max_size=3),
    },
    MonitorRequest: {"asset": UNIT, "readings": rows(), "alias": texts(), "unit_id": UNIT},
    FeedbackRequest: {
        "request_id": st.just(REQUEST_ID) | st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
        "outcome": st.sampled_from(["label", "default", "click"]) | texts(),
        "value": floats() | integers() | st.none(),
        "label": scalars(),
        "row": integers() | st.none(),
        "observed_at": observed_times(),
    },
}


def bodies(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    """Bodies near ``model``'s shape (each field plausible or anything, some unknown keys),
    and any JSON value at all."""
    optional = {name: strategy | json_values() for name, strategy in FIELDS[model].items()}
    near = st.tuples(
        st.fixed_dictionaries({}, optional=optional),
        st.dictionaries(texts(), json_values(), max_size=1),
    ).map(lambda parts: {**parts[1], **parts[0]})
    return near | json_values()


def model_and_body() -> st.SearchStrategy[tuple[type[BaseModel], Any]]:
    """(model, body) for every request model (one_of: a flatmap rebuilds the strategies)."""
    return st.one_of([st.tuples(st.just(model), bodies(model)) for model in FIELDS])


def check_usable(request: BaseModel) -> None:
    """What the service does with an accepted body: hash ids, store and echo values."""
    dumps(request.model_dump(mode="json"))  # the request log and any echo (orjson: UTF-8)
    for value in (getattr(request, "unit_id", None), getattr(request, "user", None)):
        str(value).encode("utf-8")  # unit ids are hashed as UTF-8
    for row in getattr(request, "rows", None) or getattr(request, "readings", None) or []:
        for column, value in row.items():
            column.encode("utf-8")
            if isinstance(value, int | float) and not isinstance(value, bool):
                assert math.isfinite(float(value)), (column, value)
    if isinstance(request, FeedbackRequest):
        body_digest(request)
        if request.observed_at is not None and request.observed_at.tzinfo is not None:
            request.observed_at.astimezone(timezone.utc)


@bounded(300)
@given(model_and_body())
@example((PredictRequest, {"rows": [{LONE_SURROGATE: 1.0}]}))
@example((PredictRequest, {"rows": [{"income": 1}], LONE_SURROGATE: 1}))
@example((PredictRequest, {"rows": [{"income": 10**400}], "unit_id": 2**63}))
@example((FeedbackRequest, {"request_id": REQUEST_ID, "outcome": "label", "row": 2**63}))
def test_a_body_is_a_usable_request_or_a_422_naming_the_field(case):
    model, body = case
    try:
        request = model.model_validate(body)
    except ValidationError as error:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        status, message = validation_answer(errors)
        assert status == 422 or (status == 400 and not isinstance(body, dict)), message
        assert message.startswith("body") and ": " in message and len(message) < 1000, message
        dumps({"error": message})  # the answer itself can be sent
        return
    check_usable(request)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """acme-credit with a 50/50 experiment, one answered request, over real HTTP."""
    root = tmp_path_factory.mktemp("properties")
    model = fit_credit_model(root / "lightgbm", "lightgbm")
    workspace = root / ".tailorkit"
    register_folder(workspace, PROJECT, model, "champion")
    register_folder(workspace, PROJECT, model, "challenger")
    store = EventStore(Registry(workspace))
    key = store.create_tenant("acme")
    store.grant("acme", PROJECT)
    experiment = store.create_experiment(PROJECT, [Arm("champion", 0.5), Arm("challenger", 0.5)])
    with ThreadServer(create_app(ServiceSettings(workspace=workspace))) as running:
        with httpx.Client(base_url=running.url, headers={"X-API-Key": key}, timeout=30) as http:
            answered = http.post(f"/v1/projects/{PROJECT}/predict", json={"rows": [FIRST_ROW]})
            assert answered.status_code == 200, answered.text
            yield http, answered.json()["request_id"], experiment.id


ROUTES = {
    PredictRequest: f"/v1/projects/{PROJECT}/predict",
    RecommendRequest: f"/v1/projects/{PROJECT}/recommend",
    MonitorRequest: f"/v1/projects/{PROJECT}/monitor",
    FeedbackRequest: "/v1/feedback",
}


def assert_clean(answer: httpx.Response, *allowed: int) -> None:
    """An answer the service meant: an allowed status, JSON, an error line if not a 200."""
    assert answer.status_code in allowed, answer.text[:500]
    body = answer.json()
    assert len(body["request_id"]) == 32
    if answer.status_code != 200:
        assert body["error"] and "Traceback" not in answer.text, body


@bounded(120)
@given(model_and_body())
@example((PredictRequest, {"rows": [{"income": 1.0, LONE_SURROGATE: "x"}]}))
@example((FeedbackRequest, {"request_id": REQUEST_ID, "outcome": "label", LONE_SURROGATE: 1}))
def test_the_service_answers_any_body_without_a_server_error(service, case):
    http, request_id, _experiment = service
    model, body = case
    if model is FeedbackRequest and isinstance(body, dict) and "request_id" in body:
        body["request_id"] = request_id if body["request_id"] == REQUEST_ID else body["request_id"]
    content = json.dumps(body)  # NaN, Infinity, huge integers and \ud800 escapes as Python writes
    answer = http.post(ROUTES[model], content=content, headers={"Content-Type": "application/json"})
    assert_clean(answer, 200, 400, 404, 413, 422)


@bounded(40)
@given(
    st.sampled_from(list(ROUTES.values())),
    st.binary(max_size=64) | st.sampled_from(["[" * 100_000, '{"rows": ' + "[" * 5000]),
)
@example(f"/v1/projects/{PROJECT}/predict", b'{"rows": [{"income": 1' + b"0" * 5000 + b"}]}")
def test_raw_bytes_are_a_400_or_a_422(service, route, content):
    http, _request_id, _experiment = service
    answer = http.post(route, content=content, headers={"Content-Type": "application/json"})
    assert_clean(answer, 400, 422)


@bounded(60)
@given(
    st.dictionaries(
        st.sampled_from(["primary", "guardrail", "method", "min_units", "min_duration"]),
        short_texts() | integers().map(str) | floats().map(str),
        max_size=4,
    )
)
def test_experiment_analysis_answers_any_query_without_a_server_error(service, query):
    http, _request_id, experiment_id = service
    path = f"/v1/projects/{PROJECT}/experiments/{experiment_id}/analysis"
    params = {name: value.encode("utf-8", "surrogatepass") for name, value in query.items()}
    assert_clean(http.get(path, params=params), 200, 400, 404, 422)
