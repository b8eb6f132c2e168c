"""Feedback with an ``Idempotency-Key``: a retry answers the first event and stores nothing
new, a reused key with another body is a 409, a bad key a 422; simultaneous retries store one
event (the unique index decides), on SQLite and PostgreSQL; an older workspace gains the
columns."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Column, MetaData, Table, create_engine, inspect

from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.event_tables import FeedbackRow, ServeBase, ServedRequestRow
from tailorkit.serve.events import EventStore
from tests.fault_helpers import PROJECT, make_workspace
from tests.serving_helpers import ThreadServer, applicants, fit_credit_model

NEW_FEEDBACK_COLUMNS = {"idempotency_key", "body_digest"}
NEW_REQUEST_COLUMNS = {"status", "protected_json"}  # the arm guardrails' failures and groups


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return fit_credit_model(tmp_path_factory.mktemp("model"), "logistic")


def served(workspace: Path, key: str, url: str | None = None):
    settings = ServiceSettings(workspace=workspace, db_url=url, poll_interval=0)
    server = ThreadServer(create_app(settings))
    return server, lambda: httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=30)


def predicted_request(http: httpx.Client) -> str:
    rows = json.loads(applicants(5)[0].head(1).to_json(orient="records"))
    answer = http.post(f"/v1/projects/{PROJECT}/predict", json={"rows": rows})
    assert answer.status_code == 200, answer.text
    return answer.json()["request_id"]


def post(http: httpx.Client, body: dict, key: str | bytes | None) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return http.post("/v1/feedback", json=body, headers=headers)


def check_retries_store_one_event(http: httpx.Client, store: EventStore) -> None:
    request_id = predicted_request(http)
    body = {"request_id": request_id, "outcome": "default", "value": 1}
    first = post(http, body, "retry-1")
    assert first.status_code == 200, first.text
    # the same body, other key order and 1.0 for 1: the same canonical body
    again = post(http, {"value": 1.0, "outcome": "default", "request_id": request_id}, "retry-1")
    assert again.status_code == 200, again.text
    assert again.json()["feedback_id"] == first.json()["feedback_id"]
    assert {k: v for k, v in again.json().items() if k != "request_id"} == {
        k: v for k, v in first.json().items() if k != "request_id"
    }
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert store.count("feedback", request_id=request_id) == 1

    other = post(http, {**body, "value": 0}, "retry-1")
    assert other.status_code == 409, other.text
    assert "Idempotency-Key" in other.json()["error"]
    assert store.count("feedback", request_id=request_id) == 1

    results: list[httpx.Response] = []
    barrier = threading.Barrier(8)

    def retry() -> None:
        barrier.wait()
        results.append(post(http, {**body, "outcome": "purchase"}, "together"))

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200] * 8, [r.text for r in results]
    assert len({r.json()["feedback_id"] for r in results}) == 1
    assert store.count("feedback", request_id=request_id, outcome="purchase") == 1

    for _ in range(2):  # without a key every POST is a new event, as before
        assert post(http, {**body, "outcome": "click"}, None).status_code == 200
    assert store.count("feedback", request_id=request_id, outcome="click") == 2


def test_retried_feedback_is_stored_once(tmp_path, model):
    workspace = tmp_path / ".tailorkit"
    _, key = make_workspace(workspace, model, family="logistic")
    server, client = served(workspace, key)
    store = EventStore(Registry(workspace))
    with server, client() as http:
        check_retries_store_one_event(http, store)


def test_a_bad_idempotency_key_is_a_422_naming_the_header(tmp_path, model):
    workspace = tmp_path / ".tailorkit"
    _, key = make_workspace(workspace, model, family="logistic")
    server, client = served(workspace, key)
    with server, client() as http:
        body = {"request_id": predicted_request(http), "outcome": "default"}
        for bad in ("k" * 201, "", "clé".encode()):
            answer = post(http, body, bad)
            assert answer.status_code == 422, answer.text
            assert "Idempotency-Key" in answer.json()["error"]
            assert "Traceback" not in answer.text
        assert post(http, body, "k" * 200).status_code == 200
    assert EventStore(Registry(workspace)).count("feedback") == 1


def test_retried_feedback_is_stored_once_on_postgresql(postgres_url, tmp_path, model):
    url = postgres_url.replace("/tailorkit?", "/concurrency?")
    workspace = tmp_path / ".tailorkit"
    _, key = make_workspace(workspace, model, url, family="logistic")
    server, client = served(workspace, key, url)
    store = EventStore(Registry(workspace, url=url))
    with server, client() as http:
        check_retries_store_one_event(http, store)


def create_old_schema(url: str) -> None:
    """The service tables as tailorkit 0.x made them: no idempotency columns, no request
    status or protected attributes, and no index on any of them but the unique ones."""
    old = MetaData()
    for table in ServeBase.metadata.sorted_tables:
        columns = [
            Column(c.name, c.type, primary_key=c.primary_key, unique=c.unique)
            for c in table.columns
            if not (table.name == FeedbackRow.__tablename__ and c.name in NEW_FEEDBACK_COLUMNS)
            and not (table.name == ServedRequestRow.__tablename__ and c.name in NEW_REQUEST_COLUMNS)
        ]
        Table(table.name, old, *columns)
    engine = create_engine(url)
    old.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            old.tables[FeedbackRow.__tablename__].insert(),
            {
                "feedback_id": "f" * 32,
                "request_id": "r" * 32,
                "tenant_id": 1,
                "project": PROJECT,
                "outcome": "default",
                "received_at": datetime.now(timezone.utc),
            },
        )
    engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_an_old_workspace_gains_the_new_columns(database, request, tmp_path):
    workspace = tmp_path / ".tailorkit"
    if database == "sqlite":
        registry = Registry(workspace)
    else:
        url = request.getfixturevalue("postgres_url").replace("/tailorkit?", "/registry?")
        registry = Registry(workspace, url=url)
    create_old_schema(registry.url)
    store = EventStore(registry)
    EventStore(registry).close()  # a second start finds nothing to add
    inspector = inspect(store._database.engine)
    columns = {c["name"] for c in inspector.get_columns(FeedbackRow.__tablename__)}
    assert NEW_FEEDBACK_COLUMNS <= columns
    request_columns = {c["name"] for c in inspector.get_columns(ServedRequestRow.__tablename__)}
    assert NEW_REQUEST_COLUMNS <= request_columns
    indexes = {i["name"]: i for i in inspector.get_indexes(FeedbackRow.__tablename__)}
    assert indexes["ix_serve_feedback_idempotency"]["unique"]
    request_indexes = {i["name"] for i in inspector.get_indexes(ServedRequestRow.__tablename__)}
    assert "ix_serve_requests_at" in request_indexes
    assert store.count("feedback", feedback_id="f" * 32) == 1  # the old row survived
    record = {
        "request_id": "r" * 32,
        "tenant_id": 1,
        "project": PROJECT,
        "outcome": "click",
        "idempotency_key": "k1",
        "body_digest": "d" * 64,
    }
    first = store.add_feedback({**record, "feedback_id": "a" * 32})
    again = store.add_feedback({**record, "feedback_id": "b" * 32})
    assert (first.replayed, again.replayed) == (False, True)
    assert again.feedback_id == "a" * 32
    assert store.count("feedback") == 2
    store.close()
