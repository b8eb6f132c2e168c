"""Experiments that decide, end to end: units routed by the real service, outcomes posted as
feedback, then the analysis over HTTP and from the CLI, on SQLite and on PostgreSQL; a
challenger failing on its own arm halted by the automatic error-rate guardrail."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import select

from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.event_tables import ServedRequestRow
from tailorkit.serve.events import Arm, EventStore
from tailorkit.serve.experiment_decisions import decisions
from tailorkit.serve.records import ExperimentPlan
from tailorkit.solutions.credit_risk.predict import DECISION_FILE
from tests.artifact_faults import distinct_copy, flip_bit, weights_file
from tests.conftest import tk
from tests.serving_helpers import ThreadServer, applicants, eventually, fit_credit_model

pytestmark = pytest.mark.slow
CONVERSION = {"champion": 0.25, "challenger": 0.55}  # each arm's chance that a unit converts


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A credit model whose spec declared ``sex`` protected (not one of its inputs)."""
    folder = fit_credit_model(tmp_path_factory.mktemp("model") / "lightgbm", "lightgbm")
    decision = json.loads((folder / DECISION_FILE).read_text())
    privacy = {"protected": ["sex"], "personal": []}
    (folder / DECISION_FILE).write_text(json.dumps({**decision, "privacy": privacy}))
    return folder


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request, tmp_path_factory, model):
    """acme-credit (champion and challenger aliases) owned by acme; globex owns nothing here."""
    db_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    folder = tmp_path_factory.mktemp(request.param) / ".tailorkit"
    registry = Registry(folder, url=db_url)
    registry.ensure_project("acme-credit", "credit_risk")
    for alias in ("champion", "challenger"):
        version = registry.register_model("acme-credit", model, family="lightgbm").version
        registry.set_alias("acme-credit", alias, version)
    store = EventStore(registry)
    keys = {name: store.create_tenant(name) for name in ("acme", "globex")}
    operator = store.operators.create("ops")
    store.grant("acme", "acme-credit")
    settings = ServiceSettings(
        workspace=folder, db_url=db_url, poll_interval=0.2, cache_seconds=0.1, decide_every_s=0.5
    )
    with ThreadServer(create_app(settings)) as running:
        yield {
            "url": running.url,
            "store": store,
            "keys": keys,
            "folder": folder,
            "db": db_url,
            "operator": operator,
        }


def http(service, tenant: str = "acme") -> httpx.Client:
    key = service["keys"][tenant]
    return httpx.Client(base_url=service["url"], headers={"X-API-Key": key}, timeout=30)


def one_row() -> list[dict]:
    X, _ = applicants(5, seed=3)
    return json.loads(X.head(1).to_json(orient="records"))


def run_experiment(service, units: int, plan: ExperimentPlan | None = None, rates=None) -> int:
    """An A/B experiment where ``units`` customers each get a decision and report whether they
    converted (the challenger's units convert more often) and, with ``rates``, each outcome
    named there at its rate per arm; returns its id."""
    experiment = service["store"].create_experiment(
        "acme-credit", [Arm("champion", 0.5), Arm("challenger", 0.5)], plan=plan
    )
    rates = {"conversion": CONVERSION, **(rates or {})}
    rng = np.random.default_rng(0)
    row = one_row()
    with http(service) as client:
        probe = {"rows": row, "unit_id": "probe"}
        eventually(
            lambda: (
                client.post("/v1/projects/acme-credit/predict", json=probe).json().get("experiment")
            )
        )
        for unit in range(units):
            answer = client.post(
                "/v1/projects/acme-credit/predict", json={"rows": row, "unit_id": f"c-{unit}"}
            ).json()
            for outcome, rate in rates.items():
                happened = float(rng.random() < rate[answer["alias"]])
                feedback = {"request_id": answer["request_id"], "outcome": outcome}
                stored = client.post("/v1/feedback", json={**feedback, "value": happened})
                assert stored.status_code == 200, stored.text
        client.get("/v1/projects/acme-credit/requests?limit=1")  # flushes the request log
    return experiment.id


def analysis(client: httpx.Client, experiment: int, **params) -> httpx.Response:
    return client.get(f"/v1/projects/acme-credit/experiments/{experiment}/analysis", params=params)


def test_a_better_challenger_ships_over_http_and_from_the_cli(service):
    experiment = run_experiment(service, units=400)
    try:
        with http(service) as client:
            answer = analysis(client, experiment, primary="conversion", min_units=50)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["decision"] == "ship", result["reason"]
        assert sum(result["units"].values()) == 400 + 1  # and the probe that saw it start
        assert result["srm_p_value"] > 0.001
        metric, *automatic = result["metrics"]  # the primary, then the automatic guardrails
        assert [(m["name"], m["role"]) for m in automatic] == [("error_rate", "guardrail")]
        assert automatic[0]["arm_values"] == {"champion": 0.0, "challenger": 0.0}
        assert any("latency_p99_ms" in w for w in result["warnings"])  # under 500 requests
        assert any("carried 'sex'" in w for w in result["warnings"])  # not in these rows
        assert set(metric) >= {"name", "arm_values", "lift", "ci_low", "ci_high", "p_value"}
        assert metric["method"] == "sequential" and 0 < metric["ci_low"] < metric["lift"]
        assert 0 < metric["diff_ci_low"] < metric["diff"]
        champion, challenger = metric["arm_values"]["champion"], metric["arm_values"]["challenger"]
        assert champion < 0.4 < challenger

        options = ["--db-url", service["db"]] if service["db"] else []
        done = tk(
            service["folder"].parent,
            *("experiments", "analyze", str(experiment), "--primary", "conversion"),
            *("--min-units", "50", "--json", "--workspace", str(service["folder"]), *options),
        )
        from_cli = json.loads(done.stdout)
        assert from_cli["decision"] == "ship"
        assert from_cli["metrics"][0]["lift"] == pytest.approx(metric["lift"])
        assert from_cli["units"] == result["units"]

        with http(service) as client:  # not enough units yet for the default minimum
            waiting = analysis(client, experiment, primary="conversion").json()
            fixed = analysis(client, experiment, primary="conversion", method="fixed").json()
        assert waiting["decision"] == "continue" and "1000 needed" in waiting["reason"]
        fixed_width = fixed["metrics"][0]["ci_high"] - fixed["metrics"][0]["ci_low"]
        assert fixed_width < metric["ci_high"] - metric["ci_low"]  # peeking costs width
    finally:
        service["store"].stop_experiment(experiment)


def test_an_experiment_without_exposures_is_invalid_and_never_a_500(service):
    experiment = service["store"].create_experiment(
        "acme-credit", [Arm("champion", 0.5), Arm("challenger", 0.5)]
    )
    try:
        with http(service) as client:
            result = analysis(client, experiment.id, primary="conversion").json()
        assert result["decision"] == "invalid" and "units" in result["reason"]
        assert result["srm_p_value"] is None
    finally:
        service["store"].stop_experiment(experiment.id)


def test_another_tenants_experiment_and_bad_queries(service):
    experiment = service["store"].create_experiment(
        "acme-credit", [Arm("champion", 1), Arm("challenger", 1)], mode="shadow"
    )
    try:
        with http(service, "globex") as client:
            hidden = analysis(client, experiment.id, primary="conversion")
        assert hidden.status_code == 404 and "acme-credit" in hidden.json()["error"]
        with http(service) as client:
            unknown = analysis(client, 987654, primary="conversion")
            sideways = analysis(client, experiment.id, primary="conversion:sideways")
            missing = analysis(client, experiment.id)
            empty = analysis(client, experiment.id, primary="")  # was a 500 (IndexError)
            shadow = analysis(client, experiment.id, primary="conversion")
            guarded = analysis(client, experiment.id, primary="conversion", guardrail="complaint")
        assert unknown.status_code == 404 and "987654" in unknown.json()["error"]
        assert sideways.status_code == 422 and "query.primary" in sideways.json()["error"]
        assert missing.status_code == 422 and "primary" in missing.json()["error"]
        assert shadow.status_code == 200 and shadow.json()["mode"] == "shadow"  # no labels yet
        assert shadow.json()["decision"] == "invalid" and shadow.json()["srm_p_value"] is None
        assert guarded.status_code == 422 and "shadow" in guarded.json()["error"]
        assert empty.status_code == 422, empty.text
        assert "query.primary ''" in empty.json()["error"], empty.text
    finally:
        service["store"].stop_experiment(experiment.id)

    done = tk(
        service["folder"].parent,
        *("experiments", "analyze", "987654", "--primary", "conversion"),
        *("--workspace", str(service["folder"])),
        *(["--db-url", service["db"]] if service["db"] else []),
        ok=False,
    )
    assert done.returncode != 0 and "no experiment 987654" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def status_of(service, experiment: int) -> str:
    return next(e.status for e in service["store"].experiments() if e.id == experiment)


def test_auto_promote_moves_the_champion_with_an_audit_record_and_ends_the_experiment(service):
    registry: Registry = service["store"].registry
    challenger = registry.resolve("acme-credit@challenger").version
    plan = ExperimentPlan("conversion", min_units=50, auto_promote=True)
    experiment = run_experiment(service, units=300, plan=plan)
    try:
        eventually(lambda: status_of(service, experiment) == "shipped", timeout=60)
        assert registry.resolve("acme-credit@champion").version == challenger
        (move,) = [
            e for e in registry.audit_log("acme-credit")
            if e["alias"] == "champion" and e["reason"].startswith(f"experiment {experiment}:")
        ]  # fmt: skip
        assert "lift +" in move["reason"] and "[+" in move["reason"], move
        assert move["actor"] == "serve"
        stored = decisions(service["store"], experiment)
        assert stored[-1]["decision"] == "ship" and stored[-1]["action"] == "promoted"
        kinds = [d["decision"] for d in stored]  # the loop stores changes, not every look
        assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False)), kinds
        assert stored[-1]["analysis"]["metrics"][0]["name"] == "conversion"
        with http(service) as client:  # the swapped champion answers every unit, no experiment
            answer = eventually(
                lambda: (
                    a := client.post(
                        "/v1/projects/acme-credit/predict", json={"rows": one_row(), "unit_id": "z"}
                    ).json()
                ) and a["model_version"] == challenger and a,
                timeout=30,
            )  # fmt: skip
            assert answer["alias"] == "champion" and answer.get("experiment") is None
            metrics = client.get("/metrics", headers={"X-API-Key": service["operator"]}).text
        assert f'tailorkit_experiment_units{{arm="challenger",experiment="{experiment}"' in metrics
        assert "tailorkit_experiment_primary_lift" in metrics
    finally:
        service["store"].stop_experiment(experiment)


def test_a_breached_guardrail_halts_the_experiment_and_the_champion_serves_all(service):
    registry: Registry = service["store"].registry
    champion = registry.resolve("acme-credit@champion").version
    plan = ExperimentPlan("conversion", ("complaint",), min_units=10_000, auto_promote=True)
    complaints = {"complaint": {"champion": 0.02, "challenger": 0.6}}
    experiment = run_experiment(service, units=200, plan=plan, rates=complaints)
    try:
        eventually(lambda: status_of(service, experiment) == "halted", timeout=60)
        assert registry.resolve("acme-credit@champion").version == champion  # nothing moved
        last = decisions(service["store"], experiment)[-1]
        assert last["action"] == "halted" and "guardrail complaint" in last["analysis"]["reason"]
        with http(service) as client:
            aliases = {
                client.post(
                    "/v1/projects/acme-credit/predict", json={"rows": one_row(), "unit_id": f"u{i}"}
                ).json()["alias"]
                for i in range(20)
            }
        assert aliases == {"champion"}
    finally:
        service["store"].stop_experiment(experiment)


def test_experiments_create_takes_the_plan_and_analyze_uses_it(service):
    options = ["--workspace", str(service["folder"])]
    options += ["--db-url", service["db"]] if service["db"] else []
    bad = tk(
        service["folder"].parent,
        *(
            "experiments",
            "create",
            "acme-credit",
            "--arm",
            "champion=0.5",
            "--arm",
            "challenger=0.5",
        ),
        *("--guardrail", "complaint", *options),
        ok=False,
    )
    assert bad.returncode != 0 and "--primary" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr
    made = tk(
        service["folder"].parent,
        *(
            "experiments",
            "create",
            "acme-credit",
            "--arm",
            "champion=0.5",
            "--arm",
            "challenger=0.5",
        ),
        *("--primary", "conversion", "--guardrail", "complaint", "--min-units", "20", *options),
        *("--latency-tolerance", "0.3"),
    )
    created = json.loads(made.stdout)
    try:
        assert created["plan"] == {
            "primary": "conversion", "guardrails": ["complaint"], "min_units": 20,
            "min_duration_s": 0.0, "auto_promote": False, "latency_tolerance": 0.3,
            "fairness_tolerance": 0.05,
        }  # fmt: skip
        done = tk(
            service["folder"].parent,
            *("experiments", "analyze", str(created["id"]), "--json", *options),
        )
        result = json.loads(done.stdout)
        assert result["decision"] == "invalid" and result["action"] is None
        actors = {d["actor"] for d in decisions(service["store"], created["id"])}
        assert actors - {"serve"}, actors  # the CLI's analysis is stored under its user
    finally:
        service["store"].stop_experiment(created["id"])


def test_a_challenger_with_a_broken_artifact_fails_on_its_arm_and_its_error_rate_halts_it(
    service, model, tmp_path
):
    """The challenger's artifact is damaged after registration: each of its requests is a 503,
    logged with its arm; the error-rate guardrail (automatic, no plan needed for it) halts the
    experiment and the champion serves everyone. The protected column (and no other input) of
    the scored rows is kept."""
    registry: Registry = service["store"].registry
    broken = distinct_copy(model, tmp_path / "broken", "broken")
    version = registry.register_model("acme-credit", broken, family="lightgbm").version
    registry.set_alias("acme-credit", "broken", version)
    flip_bit(weights_file(registry.resolve("acme-credit@broken").path))  # its hash no longer fits
    plan = ExperimentPlan("conversion", min_units=10_000, auto_promote=True)
    experiment = (
        service["store"]
        .create_experiment("acme-credit", [Arm("champion", 0.5), Arm("broken", 0.5)], plan=plan)
        .id
    )
    rows = [{**one_row()[0], "sex": "female"}]
    statuses = []
    try:
        with http(service) as client:
            for unit in range(80):
                if status_of(service, experiment) != "running":
                    break
                body = {"rows": rows, "unit_id": f"b-{unit}"}
                statuses.append(client.post("/v1/projects/acme-credit/predict", json=body))
            eventually(lambda: status_of(service, experiment) == "halted", timeout=30)
            again = {"rows": rows, "unit_id": "b-1"}  # a unit of the experiment, served anew
            eventually(
                lambda: (
                    (a := client.post("/v1/projects/acme-credit/predict", json=again))
                    .status_code == 200 and a.json().get("experiment") is None
                )
            )  # fmt: skip
        assert {a.status_code for a in statuses} == {200, 503}
        last = decisions(service["store"], experiment)[-1]
        assert last["action"] == "halted", last
        analysed = last["analysis"]
        assert analysed["guardrail_breached"] == "error_rate", analysed["reason"]
        errors = next(m for m in analysed["metrics"] if m["name"] == "error_rate")
        assert errors["role"] == "guardrail" and errors["lift"] is None  # the champion: no errors
        assert errors["arm_values"] == {"champion": 0.0, "broken": 1.0}
        assert any("latency_p99_ms" in w for w in analysed["warnings"])  # too few requests
        logged = logged_requests(service, experiment)
        assert {(arm, status) for arm, status, _ in logged} == {("champion", 200), ("broken", 503)}
        kept = {protected for arm, _, protected in logged if arm == "champion"}
        assert [json.loads(text) for text in kept] == [{"sex": ["female"]}]  # no other input
    finally:
        service["store"].stop_experiment(experiment)


def logged_requests(service, experiment: int) -> list[tuple]:
    with service["store"].read() as session:
        return session.execute(
            select(
                ServedRequestRow.arm, ServedRequestRow.status, ServedRequestRow.protected_json
            ).where(ServedRequestRow.experiment_id == experiment)
        ).all()
