"""Shadow comparisons end to end: a good and a deliberately bad credit model (fitted on
shuffled labels) served by the real service, the live one answering and the shadow scoring
the same rows, labels posted as feedback per row; then the paired analysis over HTTP and from
the CLI, and the decision loop promoting a better shadow challenger."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tailorkit.errors import TailorkitError
from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import Arm, EventStore
from tailorkit.serve.experiment_decisions import decisions
from tailorkit.serve.records import ExperimentPlan
from tests.conftest import tk
from tests.serving_helpers import ThreadServer, applicants, eventually, fit_credit_model

pytestmark = pytest.mark.slow
PROJECT = "acme-credit"
ROWS_PER_REQUEST = 4


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("shadow")
    folder = root / ".tailorkit"
    registry = Registry(folder)
    registry.ensure_project(PROJECT, "credit_risk")
    versions = {}
    for quality, shuffled in (("good", False), ("bad", True)):
        model = fit_credit_model(root / quality, "lightgbm", shuffled=shuffled)
        versions[quality] = registry.register_model(PROJECT, model, family="lightgbm").version
    store = EventStore(registry)
    key = store.create_tenant("acme")
    store.grant("acme", PROJECT)
    settings = ServiceSettings(
        workspace=folder, poll_interval=0.2, cache_seconds=0.1, decide_every_s=0.5
    )
    with ThreadServer(create_app(settings)) as running:
        client = httpx.Client(base_url=running.url, headers={"X-API-Key": key}, timeout=30)
        with client:
            yield {"http": client, "store": store, "folder": folder, "versions": versions}


def run_shadow(service, live: str, shadow: str, plan: ExperimentPlan | None = None, n=600):
    """Aliases champion -> the ``live`` model, challenger -> the ``shadow`` one; a shadow
    experiment; ``n`` fresh applicants scored in requests of 4 rows, each row's true default
    posted as feedback with its ``row``. Returns (experiment id, labels, live probabilities)."""
    registry, client = service["store"].registry, service["http"]
    registry.set_alias(PROJECT, "champion", service["versions"][live])
    registry.set_alias(PROJECT, "challenger", service["versions"][shadow])
    arms = [Arm("champion", 1), Arm("challenger", 1)]
    experiment = service["store"].create_experiment(PROJECT, arms, mode="shadow", plan=plan)
    X, y = applicants(n, seed=11)  # not the applicants the models were fitted on
    rows = json.loads(X.to_json(orient="records"))
    predict = f"/v1/projects/{PROJECT}/predict"

    def version(**alias) -> int:
        return client.post(predict, json={"rows": rows[:1], **alias}).json()["model_version"]

    eventually(  # the service sees both aliases' versions (an explicit alias is no exposure)
        lambda: (
            version(alias="champion") == service["versions"][live]
            and version(alias="challenger") == service["versions"][shadow]
        )
    )
    eventually(lambda: client.post(predict, json={"rows": rows[:1]}).json().get("experiment"))
    probabilities = []
    for start in range(0, n, ROWS_PER_REQUEST):
        answer = client.post(predict, json={"rows": rows[start : start + ROWS_PER_REQUEST]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["alias"] == "champion"  # the live answer; the shadow is never returned
        for row, prediction in enumerate(body["predictions"]):
            probabilities.append(prediction["probability"])
            label = {"outcome": "default", "value": float(y[start + row]), "row": row}
            stored = client.post("/v1/feedback", json={"request_id": body["request_id"], **label})
            assert stored.status_code == 200, stored.text
    unlabelled_row = {"request_id": body["request_id"], "outcome": "default", "value": 1.0}
    assert client.post("/v1/feedback", json=unlabelled_row).status_code == 200  # no `row`
    return experiment.id, y, np.array(probabilities)


def analysis(service, experiment: int, **params) -> dict:
    answer = service["http"].get(
        f"/v1/projects/{PROJECT}/experiments/{experiment}/analysis", params=params
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_worse_shadow_challenger_is_kept_by_delong_over_http_and_from_the_cli(service):
    experiment, y, live = run_shadow(service, live="good", shadow="bad")
    try:
        query = {"primary": "default", "min_units": 100}
        result = eventually(  # once the shadow of every request is logged
            lambda: (
                (r := analysis(service, experiment, **query))["units"]["champion"] == len(y) and r
            )
        )
        assert result["mode"] == "shadow" and result["srm_p_value"] is None
        assert result["units"] == {"champion": len(y), "challenger": len(y)}
        assert result["decision"] == "keep", result["reason"]
        assert any("no `row` for a request of 4 rows" in w for w in result["warnings"])
        auc, log_loss = result["metrics"]
        assert (auc["name"], auc["method"]) == ("auc", "delong-sequential")
        assert auc["arm_values"]["champion"] == pytest.approx(roc_auc_score(y, live), abs=1e-9)
        assert auc["arm_values"]["challenger"] < auc["arm_values"]["champion"]
        assert auc["diff_ci_high"] < 0 and auc["ci_high"] < 0 and auc["p_value"] < 0.05
        assert log_loss["role"] == "guardrail" and log_loss["diff"] > 0

        done = tk(
            service["folder"].parent,
            *("experiments", "analyze", str(experiment), "--primary", "default"),
            *("--method", "fixed", "--min-units", "100", "--json"),
            *("--workspace", str(service["folder"])),
        )
        fixed = json.loads(done.stdout)
        assert fixed["decision"] == "keep" and fixed["units"] == result["units"]
        assert fixed["metrics"][0]["method"] == "delong"
        assert fixed["metrics"][0]["diff"] == pytest.approx(auc["diff"])
        assert fixed["metrics"][1]["method"] == "paired-bootstrap"
        width = fixed["metrics"][0]["diff_ci_high"] - fixed["metrics"][0]["diff_ci_low"]
        assert width < auc["diff_ci_high"] - auc["diff_ci_low"]  # peeking costs width

        guarded = service["http"].get(
            f"/v1/projects/{PROJECT}/experiments/{experiment}/analysis",
            params={"primary": "default", "guardrail": "complaint"},
        )
        assert guarded.status_code == 422 and "shadow" in guarded.json()["error"]
    finally:
        service["store"].stop_experiment(experiment)


def test_auto_promote_ships_a_better_shadow_challenger_with_an_audit_reason(service):
    registry: Registry = service["store"].registry
    plan = ExperimentPlan("default", min_units=100, auto_promote=True)
    experiment, _, _ = run_shadow(service, live="bad", shadow="good", plan=plan)
    try:
        eventually(lambda: status_of(service["store"], experiment) == "shipped", timeout=30)
        assert registry.resolve(f"{PROJECT}@champion").version == service["versions"]["good"]
        (move,) = [
            e for e in registry.audit_log(PROJECT)
            if e["alias"] == "champion" and e["reason"].startswith(f"experiment {experiment}:")
        ]  # fmt: skip
        assert "lift +" in move["reason"] and "on auc (delong-sequential)" in move["reason"]
        assert move["actor"] == "serve"
        last = decisions(service["store"], experiment)[-1]
        assert last["decision"] == "ship" and last["action"] == "promoted"
        assert last["analysis"]["mode"] == "shadow"
        predict = f"/v1/projects/{PROJECT}/predict"
        answer = eventually(  # the good model answers live now, and no experiment runs
            lambda: (
                (a := service["http"].post(predict, json={"rows": one_row()}).json())
                and a["model_version"] == service["versions"]["good"]
                and a
            )
        )
        assert answer.get("experiment") is None
    finally:
        service["store"].stop_experiment(experiment)


def status_of(store: EventStore, experiment: int) -> str:
    return next(e.status for e in store.experiments() if e.id == experiment)


def one_row() -> list[dict]:
    X, _ = applicants(5, seed=3)
    return json.loads(X.head(1).to_json(orient="records"))


def test_a_shadow_plan_takes_no_outcome_guardrails(service):
    arms = [Arm("champion", 1), Arm("challenger", 1)]
    plan = ExperimentPlan("default", guardrails=("complaint",))
    with pytest.raises(TailorkitError, match="--guardrail: a shadow challenger"):
        service["store"].create_experiment(PROJECT, arms, mode="shadow", plan=plan)
