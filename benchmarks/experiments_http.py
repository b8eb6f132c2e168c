"""The HTTP part of ``benchmarks/experiments.py``: experiments run through ``tailorkit serve``.

Each experiment is created in the event store with a plan (the primary outcome, the default
minimum of 1,000 units per arm); its units are sent to the running service in batches (one
predict or recommend request per unit, with its ``unit_id``), the arm is the service's
assignment, each unit's outcome is computed from the service's answer and its real label and
posted to ``POST /v1/feedback``; after every batch the analysis is read from
``GET /v1/projects/{project}/experiments/{id}/analysis`` (sequential, by the plan, and
``method=fixed``), and checked against ``analyze`` run here on the same units and outcomes.
An experiment ends when both methods have said ``ship`` (what ``--auto-promote`` acts on) or
at its last unit.
"""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import orjson
from experiments_data import Population

from tailorkit.loop.experiment_analysis import MetricSpec, analyze
from tailorkit.registry import Registry
from tailorkit.serve.events import Arm, EventStore
from tailorkit.serve.records import ExperimentPlan

CLIENTS = 8  # concurrent keep-alive connections


class Client:
    """Keep-alive JSON calls from a pool of threads (stdlib ``http.client``: the load
    generator's own cost stays small beside the service's on a 2-core machine)."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.headers = port, {"X-API-Key": key, "Content-Type": "application/json"}
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(CLIENTS)

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        payload = orjson.dumps(body) if body else None
        try:
            answer = self._send(method, path, payload, fresh=False)
        except (http.client.RemoteDisconnected, ConnectionError):
            # the server closed this thread's idle keep-alive connection before reading
            answer = self._send(method, path, payload, fresh=True)
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{method} {path}: {answer.status} {data[:300]!r}")
        return orjson.loads(data)

    def _send(self, method: str, path: str, payload, *, fresh: bool):
        if fresh or not hasattr(self.local, "connection"):
            self.local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.local.connection.request(method, path, payload, self.headers)
        return self.local.connection.getresponse()

    def many(self, method: str, path: str, bodies: list[dict]) -> list[dict]:
        return list(self.pool.map(lambda body: self.call(method, path, body), bodies))


@dataclass
class Units:
    """What the client saw of one experiment's units: arm answered and outcome posted."""

    challenger: list[bool] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


def service_tenant(workspace, projects: list[str]) -> str:
    """A tenant for the benchmark, granted ``projects``; returns its API key."""
    store = EventStore(Registry(workspace))
    key = store.create_tenant("bench")
    for project in projects:
        store.grant("bench", project)
    return key


def run_http(
    population: Population,
    client: Client,
    store: EventStore,
    *,
    kind: str,
    pool_rows: np.ndarray,
    batch: int,
) -> dict:
    """``len(pool_rows)`` experiments of ``kind`` (``aa`` or ``ab``); ``pool_rows[k]``: the pool
    units of experiment k in order (the offline replay's first experiments)."""
    challenger = "champion-b" if kind == "aa" else "challenger"
    records = []
    for k, units in enumerate(pool_rows):
        experiment = store.create_experiment(
            population.project,
            [Arm("champion", 0.5), Arm(challenger, 0.5)],
            name=f"bench-{kind}-{k}",
            plan=ExperimentPlan(population.metric),
        )
        try:
            records.append(one_experiment(population, client, experiment, units, batch, kind))
        finally:
            store.stop_experiment(experiment.id)
    return summarize(records)


def one_experiment(population, client, experiment, units, batch, kind) -> dict:
    seen = Units()
    paths = {method: {"ship": None, "keep": None} for method in ("sequential", "fixed")}
    mismatches, looks, started = 0, 0, time.perf_counter()
    path = f"/v1/projects/{population.project}/experiments/{experiment.id}/analysis"
    for start in range(0, len(units), batch):
        batch_units = units[start : start + batch]
        ids = [f"{kind}{experiment.id}-{j}" for j in range(start, start + len(batch_units))]
        answers = exposures(population, client, experiment.id, batch_units, ids)
        outcomes = [
            population.outcome_of(int(i), a) for i, a in zip(batch_units, answers, strict=True)
        ]
        client.many(
            "POST",
            "/v1/feedback",
            [
                {"request_id": a["request_id"], "outcome": population.metric, "value": v}
                for a, v in zip(answers, outcomes, strict=True)
            ],
        )
        seen.challenger += [a["alias"] != "champion" for a in answers]
        seen.values += outcomes
        looks += 1
        for method, first in paths.items():
            served = client.call("GET", path + ("?method=fixed" if method == "fixed" else ""))
            mismatches += not agrees(served, local_analysis(population, seen, method))
            for decision in first:
                if first[decision] is None and served["decision"] == decision:
                    first[decision] = len(seen.values)
        if all(first["ship"] for first in paths.values()):
            break  # both would have promoted
    return {
        "paths": paths,
        "mismatches": mismatches,
        "looks": looks,
        "units": len(seen.values),
        "seconds": time.perf_counter() - started,
    }


def exposures(population, client, experiment_id, pool_units, ids) -> list[dict]:
    """One answered request per unit, each routed into the experiment: the first unit is sent
    until the service serves the experiment (it caches running experiments for 2 s)."""
    path = f"/v1/projects/{population.project}/{population.endpoint}"
    bodies = [
        {**population.body(int(i)), "unit_id": u} for i, u in zip(pool_units, ids, strict=True)
    ]
    deadline = time.monotonic() + 60
    while (
        routed(client, population.project, first := client.call("POST", path, bodies[0]))
        != experiment_id
    ):
        if time.monotonic() > deadline:
            raise TimeoutError(f"experiment {experiment_id} never routed a unit")
        time.sleep(0.1)
    return [first, *client.many("POST", path, bodies[1:])]


def routed(client: Client, project: str, answer: dict) -> int | None:
    """The experiment that routed an answered request, from the project's request log (a
    recommend answer does not name it; a predict answer does)."""
    if "experiment" in answer:
        return answer["experiment"]["id"]
    (last,) = client.call("GET", f"/v1/projects/{project}/requests?limit=1")["requests"]
    assert last["request_id"] == answer["request_id"], "the probe is the project's latest request"
    return last["experiment_id"]


def local_analysis(population: Population, seen: Units, method: str) -> dict:
    """``analyze`` here on what the client saw (the plan's metric and default rule)."""
    to_challenger = np.array(seen.challenger)
    values = np.array(seen.values)
    arms = {"champion": values[~to_challenger], "other": values[to_challenger]}
    return analyze(
        arms=[("champion", 0.5), ("other", 0.5)],
        units={arm: len(v) for arm, v in arms.items()},
        values={arm: {population.metric: v} for arm, v in arms.items()},
        binary={population.metric: bool(np.isin(values, (0.0, 1.0)).all())},
        primary=MetricSpec(population.metric),
        method=method,
    )


def agrees(served: dict, local: dict) -> bool:
    """The same decision, units, SRM p-value and primary lift (to float rounding)."""
    if served["decision"] != local["decision"]:
        return False
    if sorted(served["units"].values()) != sorted(local["units"].values()):
        return False
    if not np.isclose(served["srm_p_value"] or 0.0, local["srm_p_value"] or 0.0, rtol=1e-9):
        return False
    if bool(served["metrics"]) != bool(local["metrics"]):
        return False
    return all(
        np.isclose(s[key], m[key], rtol=1e-9, atol=1e-12)
        for s, m in zip(served["metrics"], local["metrics"], strict=True)
        for key in ("lift", "diff_ci_low", "diff_ci_high")
    )


def summarize(records: list[dict]) -> dict:
    """Per method: experiments that shipped (or had a keep first), units at the first ship."""
    out: dict = {
        "experiments": len(records),
        "analyses_checked": 2 * sum(r["looks"] for r in records),
        "analyses_differing_from_local": sum(r["mismatches"] for r in records),
        "units_sent": sum(r["units"] for r in records),
        "seconds": sum(r["seconds"] for r in records),
    }
    for method in ("sequential", "fixed"):
        paths = [r["paths"][method] for r in records]
        ships = [p["ship"] for p in paths if p["ship"] is not None]
        out[method] = {
            "ship": len(ships),
            "keep_before_ship": sum(p["keep"] is not None for p in paths),
            "median_units_to_ship": float(np.median(ships)) if ships else None,
        }
    return out
