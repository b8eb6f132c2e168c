"""Alerts end to end against real local receivers: stored in the workspace database with the
cooldown, POSTed as JSON with retries and backoff, a receiver that is down or hangs ends as a
stored failed delivery without holding up the caller, and the service counts them on
/metrics while it keeps answering."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import threading
import time
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from typer.testing import CliRunner

from tailorkit.cli.main import app as cli_app
from tailorkit.loop.alerts import Alert
from tailorkit.registry import Registry
from tailorkit.registry.convert import now
from tailorkit.serve.alerting import AlertNotifier
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import EventStore
from tailorkit.spec import MonitoringSection
from tests.serving_helpers import ThreadServer, applicants, eventually, fit_credit_model, free_port

DRIFTING = {
    "project": "credit",
    "model_version": 1,
    "window": "24h",
    "rows": 800,
    "reference_rows": 5000,
    "features": [
        {
            "feature": "income",
            "psi": 0.4,
            "test": "ks",
            "statistic": 0.2,
            "p_value": 0.001,
            "drifted": True,
        }
    ],  # fmt: skip
    "dataset_drift": True,
    "prediction": {"psi": 0.05},
    "realised": {},
}
ONE_RULE = {**DRIFTING, "features": [{**DRIFTING["features"][0], "drifted": False}]}  # PSI only


def receiver(statuses=()):
    """A webhook that records every POST and answers ``statuses`` in turn, then 200."""
    app, got, answers = FastAPI(), [], iter(statuses)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"ok": True}

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        got.append({"body": await request.json(), "key": request.headers.get("idempotency-key")})
        return Response(status_code=next(answers, 200))

    return app, got


@pytest.fixture
def store(tmp_path):
    events = EventStore(Registry(tmp_path / "ws"))
    yield events
    events.close()


def rules(url, **extra):
    return MonitoringSection(webhook=url, webhook_timeout_s=2, **extra)


def status_of(store, alert_id, *wanted):
    stored = store.alerts.get(alert_id)
    return stored if stored.status in wanted else None


def test_an_alert_is_delivered_once_with_its_json_and_the_cooldown_holds_the_next(store):
    app, got = receiver()
    notifier = AlertNotifier(store.alerts, backoff_s=0.01)
    with ThreadServer(app) as hook:
        raised = notifier.raise_alerts(DRIFTING, rules(f"{hook.url}/hook"))
        assert {a.rule for a in raised} == {"feature_drift", "dataset_drift"}
        assert {a.status for a in raised} == {"pending"}
        done = [eventually(lambda a=a: status_of(store, a.id, "delivered")) for a in raised]
        assert [d.attempts for d in done] == [1, 1] and all(d.delivered_at for d in done)
        bodies = {entry["body"]["id"]: entry for entry in got}
        first = bodies[raised[0].id]
        assert first["body"] == json.loads(json.dumps(raised[0].payload()))
        assert first["body"]["details"]["features"][0]["feature"] == "income"
        assert first["key"] == f"alert-{raised[0].id}"
        assert notifier.raise_alerts(DRIFTING, rules(f"{hook.url}/hook")) == []  # cooldown
        time.sleep(0.2)
        assert len(got) == 2
    notifier.close()


def test_a_receiver_answering_500_twice_gets_the_alert_on_the_third_try(store):
    app, got = receiver([500, 503])
    notifier = AlertNotifier(store.alerts, backoff_s=0.01)
    with ThreadServer(app) as hook:
        (alert,) = notifier.raise_alerts(ONE_RULE, rules(f"{hook.url}/hook"))
        done = eventually(lambda: status_of(store, alert.id, "delivered"))
    assert done.attempts == 3 and done.last_error is None
    assert len(got) == 3 and len({entry["key"] for entry in got}) == 1  # one key: dedupable
    assert all(entry["body"] == got[0]["body"] for entry in got)
    notifier.close()


def test_a_refusing_receiver_is_not_retried(store):
    app, got = receiver([422])
    with ThreadServer(app) as hook:
        notifier = AlertNotifier(store.alerts, backoff_s=0.01)
        (alert,) = notifier.raise_alerts(ONE_RULE, rules(f"{hook.url}/hook"))
        failed = eventually(lambda: status_of(store, alert.id, "failed"))
    assert failed.attempts == 1 and "422" in failed.last_error
    notifier.close()


def test_a_webhook_that_is_down_ends_as_a_stored_failed_delivery_without_blocking(store):
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    notifier = AlertNotifier(store.alerts, backoff_s=0.05)
    started = time.perf_counter()
    raised = notifier.raise_alerts(DRIFTING, rules(down, webhook_retries=2))
    assert time.perf_counter() - started < 1.0  # stored and queued; the tries run elsewhere
    for alert in raised:
        failed = eventually(lambda a=alert: status_of(store, a.id, "failed"))
        assert failed.attempts == 3 and "could not reach the webhook" in failed.last_error
        assert "127.0.0.1" not in failed.last_error  # the URL may hold a token: never stored
    notifier.close()


def test_a_hanging_webhook_costs_each_try_its_timeout_and_no_more(store):
    with silent_socket() as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        notifier = AlertNotifier(store.alerts, backoff_s=0.05)
        hanging = MonitoringSection(webhook=url, webhook_timeout_s=0.3, webhook_retries=1)
        alert = store.alerts.record(_alert("feature_drift"), cooldown_s=0, deliver=True)
        started = time.perf_counter()
        delivery = notifier.deliver(alert, hanging)
        elapsed = time.perf_counter() - started
    assert delivery.status == "failed" and delivery.attempts == 2
    assert 0.6 <= elapsed < 0.6 + 0.05 + 1.0, elapsed  # two timeouts and one backoff
    stored = store.alerts.get(alert.id)
    assert stored.status == "failed" and stored.last_error.startswith("timed out after 0.3 s")


def _alert(rule, project="credit"):
    return Alert(project=project, rule=rule, severity="warning", message=f"{rule} fired")


def test_the_cooldown_is_per_rule_and_project(store):
    start = now()
    record = store.alerts.record
    assert record(_alert("feature_drift"), cooldown_s=6 * 3600, deliver=False, at=start)
    later = start + timedelta(hours=1)
    assert record(_alert("feature_drift"), cooldown_s=6 * 3600, deliver=False, at=later) is None
    assert record(_alert("metric_drop"), cooldown_s=6 * 3600, deliver=False, at=later)
    assert record(_alert("feature_drift", "fraud"), cooldown_s=6 * 3600, deliver=False, at=later)
    after = start + timedelta(hours=7)
    again = record(_alert("feature_drift"), cooldown_s=6 * 3600, deliver=False, at=after)
    assert again is not None and again.status == "stored"  # no webhook: stored only
    assert [a.rule for a in store.alerts.list("credit")] == [
        "feature_drift",
        "metric_drop",
        "feature_drift",
    ]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_processes_raising_one_alert_at_once_store_it_once(database, request, tmp_path):
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else None
    stores = [EventStore(Registry(tmp_path / "ws", url=url)) for _ in range(4)]
    project, start = f"credit-{tmp_path.name}", threading.Barrier(4)
    stored = []

    def raise_one(store):
        start.wait()
        alert = _alert("prediction_drift", project)
        stored.append(store.alerts.record(alert, cooldown_s=3600, deliver=False))

    threads = [threading.Thread(target=raise_one, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(alert is not None for alert in stored) == 1
    assert len(stores[0].alerts.list(project)) == 1
    for store in stores:
        store.close()


def test_tailorkit_alerts_lists_them_newest_first_with_their_delivery(store, tmp_path):
    failed = store.alerts.record(_alert("feature_drift"), cooldown_s=0, deliver=True)
    store.alerts.mark(failed.id, "failed", 4, "the webhook answered 503 Service Unavailable")
    store.alerts.record(_alert("metric_drop", "fraud"), cooldown_s=0, deliver=False)
    workspace = str(tmp_path / "ws")

    def cli(*args: str) -> str:
        done = CliRunner().invoke(cli_app, ["alerts", *args, "-w", workspace])
        assert done.exit_code == 0, done.output
        return done.output

    listed = json.loads(cli("--json"))
    assert [(a["project"], a["rule"], a["status"]) for a in listed] == [
        ("fraud", "metric_drop", "stored"),
        ("credit", "feature_drift", "failed"),
    ]
    assert listed[1]["attempts"] == 4 and "503" in listed[1]["last_error"]
    table = cli("credit")
    assert "feature_drift" in table and "failed" in table and "fraud" not in table
    assert "no alerts for retail" in cli("retail")


def test_a_workspace_of_an_older_tailorkit_gains_the_alert_table(tmp_path):
    EventStore(Registry(tmp_path / "ws")).close()
    with sqlite3.connect(tmp_path / "ws" / "tailorkit.db") as database:
        database.execute("DROP TABLE serve_alerts")
    store = EventStore(Registry(tmp_path / "ws"))
    assert store.alerts.record(_alert("dataset_drift"), cooldown_s=0, deliver=False)
    assert [a.rule for a in store.alerts.list()] == ["dataset_drift"]
    store.close()


def silent_socket() -> socket.socket:
    """A listening socket that accepts connections and never answers (a hanging webhook)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    return silent


def test_the_service_counts_alerts_on_metrics_and_serves_while_the_webhook_hangs(tmp_path):
    workspace, silent = tmp_path / "ws", silent_socket()
    registry = Registry(workspace)
    registry.ensure_project("credit", "credit_risk")
    hook = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
    spec = {"monitoring": {"webhook": hook, "min_rows": 10, "webhook_retries": 1,
                           "webhook_timeout_s": 1.5}}  # fmt: skip
    run = registry.start_run("credit", spec)
    model = fit_credit_model(tmp_path / "model")
    version = registry.register_model("credit", model, family="lightgbm", run_id=run).version
    registry.set_alias("credit", "champion", version)
    events = EventStore(registry)
    key, operator = events.create_tenant("acme"), events.operators.create("prometheus")
    events.grant("acme", "credit")
    events.close()
    app = create_app(ServiceSettings(workspace=workspace, decide_every_s=0, request_log_days=0))
    service = app.state.service
    X, _ = applicants(20)
    body = {"rows": json.loads(X.head(5).to_json(orient="records"))}
    with ThreadServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:

        def predict() -> httpx.Response:
            return http.post("/v1/projects/credit/predict", json=body, headers={"X-API-Key": key})

        assert predict().status_code == 200  # warm
        raised = asyncio.run(service.raise_alerts({**DRIFTING, "model_version": version}))
        assert {a.rule for a in raised} == {"feature_drift", "dataset_drift"}  # the run's rules
        answers = [predict() for _ in range(5)]  # while both deliveries hang (>= 3 s each)
        assert [a.status_code for a in answers] == [200] * 5
        assert {service.store.alerts.get(a.id).status for a in raised} == {"pending"}
        for alert in raised:
            eventually(lambda a=alert: service.store.alerts.get(a.id).status == "failed", 30)
        metrics = http.get("/metrics", headers={"X-API-Key": operator}).text
    silent.close()
    assert 'tailorkit_alerts_total{project="credit",rule="feature_drift"} 1.0' in metrics
    assert 'tailorkit_alert_delivery_failures_total{project="credit"} 2.0' in metrics
    registry.close()
