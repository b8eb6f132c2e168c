"""The experiment report, end to end on SQLite: an experiment's exposures and feedback written
to the event store with known times, then `tailorkit experiments report` (HTML + JSON) and
`GET .../experiments/{id}/report`; the lift over time is checked against the simulated data as
it stood at each cut-off."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import httpx
import numpy as np
import pytest

from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.event_tables import ExperimentRow, FeedbackRow
from tailorkit.serve.events import Arm, EventStore
from tailorkit.serve.experiment_decisions import conclude
from tailorkit.serve.records import ExperimentPlan
from tests.conftest import tk
from tests.serving_helpers import ThreadServer, fit_credit_model

pytestmark = pytest.mark.slow
PROJECT = "acme-credit"
UNITS = 600
CONVERSION = {"champion": 0.25, "challenger": 0.55}
FEEDBACK_LAG = timedelta(seconds=2)  # each unit's outcome arrives this long after its exposure


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> dict:
    """A running experiment with a plan (conversion, 50 units per arm), an hour old: unit i was
    first seen 5 s after unit i-1 and its outcome received 2 s after that; one stored decision."""
    root = tmp_path_factory.mktemp("report")
    folder = root / ".tailorkit"
    registry = Registry(folder)
    registry.ensure_project(PROJECT, "credit_risk")
    model = fit_credit_model(root / "logistic", "logistic")
    for alias in ("champion", "challenger"):
        version = registry.register_model(PROJECT, model, family="logistic").version
        registry.set_alias(PROJECT, alias, version)
    store = EventStore(registry)
    keys = {name: store.create_tenant(name) for name in ("acme", "globex")}
    store.grant("acme", PROJECT)
    plan = ExperimentPlan("conversion", min_units=50)
    created = store.create_experiment(
        PROJECT, [Arm("champion", 0.5), Arm("challenger", 0.5)], plan=plan
    )
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    with store.write() as session:
        session.get(ExperimentRow, created.id).created_at = start
    running = store.running_experiments()[PROJECT]
    units = simulate(store, running, store.authenticate(keys["acme"]).id, start)
    conclude(store, running, actor="report-test")
    return {"root": root, "folder": folder, "store": store, "keys": keys, "id": created.id,
            "units": units}  # fmt: skip


def simulate(store: EventStore, experiment, tenant_id: int, start: datetime) -> list[dict]:
    """Write the exposures and outcomes; returns per unit its arm, times and outcome."""
    rng = np.random.default_rng(7)
    units, requests, feedback = [], [], []
    for i in range(UNITS):
        arm = experiment.assign(f"customer-{i}").alias
        seen = start + timedelta(seconds=5 * i)
        converted = float(rng.random() < CONVERSION[arm])
        units.append(
            {"arm": arm, "seen": seen, "received": seen + FEEDBACK_LAG, "value": converted}
        )
        request_id = uuid.uuid4().hex
        requests.append(
            {
                "request_id": request_id, "tenant_id": tenant_id, "project": PROJECT,
                "endpoint": "predict", "alias": arm, "model_version": 1,
                "experiment_id": experiment.id, "arm": arm,
                "unit_hash": store.unit_hash(f"customer-{i}"), "n_rows": 1,
                "outputs_json": "[]", "shadow_json": None, "latency_ms": 1.0, "at": seen,
            }
        )  # fmt: skip
        feedback.append(
            FeedbackRow(
                feedback_id=uuid.uuid4().hex, request_id=request_id, tenant_id=tenant_id,
                project=PROJECT, outcome="conversion", value=converted,
                received_at=seen + FEEDBACK_LAG,
            )
        )  # fmt: skip
    store.write_requests(requests)
    with store.write() as session:
        session.add_all(feedback)
    return units


def expected_at(units: list[dict], at: datetime) -> tuple[dict[str, int], float]:
    """Units per arm first seen by ``at``, and the challenger's relative lift in conversion
    counting only outcomes received by then (a unit whose outcome came later counts 0)."""
    seen = [u for u in units if u["seen"] <= at]
    counts = {arm: sum(u["arm"] == arm for u in seen) for arm in CONVERSION}
    rates = {
        arm: sum(u["value"] for u in seen if u["arm"] == arm and u["received"] <= at) / counts[arm]
        for arm in CONVERSION
    }
    return counts, rates["challenger"] / rates["champion"] - 1


class _Loads(HTMLParser):
    """Everything a page would fetch: script sources, linked files, image sources."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts, self.links, self.images = [], [], []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.scripts.append(found["src"])
        elif tag == "link":
            self.links.append(found.get("href"))
        elif tag == "img":
            self.images.append(found.get("src") or "")


def assert_self_contained(html: str) -> None:
    loads = _Loads()
    loads.feed(html)
    assert not loads.scripts and not loads.links
    assert loads.images and all(s.startswith("data:image/png;base64,") for s in loads.images)
    assert "http://" not in html and "https://" not in html


def pct(value: float) -> str:
    return f"{value:+.2%}"


def test_the_report_shows_the_decision_and_the_lift_over_time_with_its_sequence(
    experiment, tmp_path
):
    target = tmp_path / "out" / "exp.html"
    done = tk(
        experiment["root"],
        *("experiments", "report", str(experiment["id"]), "--out", str(target)),
        *("--workspace", str(experiment["folder"])),
    )
    assert "decision: ship" in done.stdout and str(target) in done.stdout
    html = target.read_text()
    document = json.loads(target.with_suffix(".json").read_text())
    assert_self_contained(html)

    analysis = document["analysis"]
    assert analysis["decision"] == "ship" and analysis["srm_p_value"] > 0.001
    assert '<span class="decision">ship</span>' in html and analysis["reason"] in html
    assert sum(analysis["units"].values()) == UNITS
    metric = next(m for m in analysis["metrics"] if m["role"] == "primary")
    assert pct(metric["lift"]) in html and f"<td>{metric['p_value']:.3g}</td>" in html
    assert document["experiment"]["plan"]["min_units"] == 50
    assert "conversion:higher" in html and ">50<" in html  # the plan in the header

    points = document["timeline"]["points"]
    assert document["timeline"]["metric"] == "conversion" and len(points) >= 15
    assert [p["units"] for p in points] == sorted(p["units"] for p in points)
    estimated = [p for p in points if p["lift"] is not None]
    assert len(estimated) >= 15
    for point in estimated:
        assert point["ci_low"] <= point["lift"] <= point["ci_high"], point
        assert point["fixed_ci_low"] <= point["lift"] <= point["fixed_ci_high"], point
        fixed = point["fixed_ci_high"] - point["fixed_ci_low"]
        assert fixed < point["ci_high"] - point["ci_low"], point  # peeking-safe costs width
        interval = f"[{pct(point['ci_low'])}, {pct(point['ci_high'])}]"
        assert pct(point["lift"]) in html and interval in html
        counts, lift = expected_at(experiment["units"], datetime.fromisoformat(point["at"]))
        assert point["units_per_arm"] == counts
        assert point["lift"] == pytest.approx(lift, rel=1e-9, abs=1e-12)
    assert points[-1]["lift"] == pytest.approx(metric["lift"])  # the last look is today's
    assert points[0]["decision"] != "ship"  # too few units at the first look

    (stored,) = document["decisions"]
    assert (stored["decision"], stored["actor"]) == ("ship", "report-test")
    assert "Stored decisions (1)" in html and "report-test" in html


def test_bad_input_is_a_clear_error_without_a_traceback(experiment, tmp_path):
    options = ["--workspace", str(experiment["folder"])]
    unknown = tk(experiment["root"], "experiments", "report", "987654", *options, ok=False)
    assert unknown.returncode != 0 and "no experiment 987654" in unknown.stderr + unknown.stdout
    named = tmp_path / "report.txt"
    wrong = tk(
        experiment["root"],
        *("experiments", "report", str(experiment["id"]), "--out", str(named), *options),
        ok=False,
    )
    assert wrong.returncode != 0 and ".html" in wrong.stderr + wrong.stdout
    for done in (unknown, wrong):
        assert "Traceback" not in done.stderr + done.stdout
    assert not named.exists() and not named.with_suffix(".json").exists()


def test_the_report_over_http_is_tenant_scoped(experiment):
    settings = ServiceSettings(workspace=experiment["folder"], decide_every_s=0)
    path = f"/v1/projects/{PROJECT}/experiments/{experiment['id']}/report"
    with ThreadServer(create_app(settings)) as server:

        def get(tenant: str, url: str = path, **params) -> httpx.Response:
            headers = {"X-API-Key": experiment["keys"][tenant]}
            return httpx.get(server.url + url, headers=headers, params=params, timeout=60)

        page = get("acme", points=5)
        hidden = get("globex")
        unknown = get("acme", f"/v1/projects/{PROJECT}/experiments/987654/report")
        sideways = get("acme", primary="conversion:sideways")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert_self_contained(page.text)
    assert '<span class="decision">ship</span>' in page.text and "Lift of conversion" in page.text
    assert page.headers["x-request-id"]
    assert hidden.status_code == 404 and PROJECT in hidden.json()["error"]
    assert unknown.status_code == 404 and "987654" in unknown.json()["error"]
    assert sideways.status_code == 422 and "query.primary" in sideways.json()["error"]
