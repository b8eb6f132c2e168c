"""Load parts of the serving benchmark: a noisy neighbour and a mixed good/bad load.

Run through ``python benchmarks/serving.py --only noisy,mixed`` (or ``noisy`` / ``mixed``).
Both use UCI German credit (``../shared/datasets/german-credit``) and tailorkit's default
LightGBM fitted on all rows, registered twice, for two tenants (``quiet`` owns
``quiet-credit``, ``heavy`` owns ``heavy-credit``), served by ``tailorkit serve`` in a
subprocess with its default settings. Clients are stdlib ``http.client`` keep-alive
connections on threads, bodies encoded before the clock starts.

- noisy neighbour: the quiet tenant sends one row at a time (default 3 reason codes, one
  client, back to back); in ``rounds`` alternating windows of ``--seconds`` it runs alone
  (solo) and while the heavy tenant's ``--heavy-clients`` clients each post 1,000-row
  requests with 20 reason codes back to back (loaded). Reported: the quiet tenant's p50/p99
  solo and loaded, their ratio (target: loaded p99 within 3x solo p99), and the heavy
  tenant's rows per second. Alternating windows share the drift of a busy machine.
- mixed load: 32 clients for ``--mixed-seconds`` (60) cycle through good single-row
  predicts and bad requests (malformed JSON, a wrong type and an unknown field: 422, an
  unknown project: 404, no key and a wrong key: 401); counted: connection resets (a
  request whose connection broke; the client reconnects) and unexpected 5xx (targets 0 and
  0), and every answer whose status is not the expected one.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from http.client import HTTPConnection, HTTPException
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import free_port, load_german, register, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"noisy_p99_ratio_max": 3.0, "mixed_connection_resets": 0, "mixed_unexpected_5xx": 0}
RESETS = (ConnectionError, HTTPException, OSError)  # reset, broken pipe, remote closed


class Client:
    """One keep-alive connection; a broken connection is counted and reopened."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.resets = 0
        self.connection = HTTPConnection("127.0.0.1", port, timeout=120)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
        """(status, ms); status 0 when the connection broke."""
        started = time.perf_counter()
        try:
            self.connection.request("POST", path, body=body, headers=headers)
            answer = self.connection.getresponse()
            answer.read()
            status = answer.status
        except RESETS:
            self.resets += 1
            self.connection.close()
            self.connection = HTTPConnection("127.0.0.1", self.port, timeout=120)
            status = 0
        return status, (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self.connection.close()


def setup(folder: Path) -> tuple[Path, dict[str, str], list[dict]]:
    """The workspace (two tenants, one project each), their keys, the German rows."""
    from tailorkit.registry import Registry
    from tailorkit.serve.events import EventStore

    workspace = folder / ".tailorkit"
    X, y = load_german()
    for tenant in ("quiet", "heavy"):
        print(f"fitting lightgbm for {tenant}-credit", flush=True)
        register(workspace, f"{tenant}-credit", "lightgbm", X, y)
    store = EventStore(Registry(workspace))
    keys = {}
    for tenant in ("quiet", "heavy"):
        keys[tenant] = store.create_tenant(tenant)
        store.grant(tenant, f"{tenant}-credit")
    return workspace, keys, json.loads(X.to_json(orient="records"))


def start(workspace: Path, service_root: Path):
    import subprocess

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(service_root)}
    command = [sys.executable, "-m", "tailorkit", "serve", "--workspace", str(workspace)]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=service_root,
        stderr=subprocess.DEVNULL,
    )
    wait_for(f"http://127.0.0.1:{port}/healthz", process)
    return process, port


def percentiles(ms: list[float]) -> dict:
    return {
        "requests": len(ms),
        "p50_ms": float(np.median(ms)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def noisy(port, keys, rows, seconds: float, heavy_clients: int, rounds: int = 3) -> dict:
    """The quiet tenant's single-row latency alone and beside a saturating heavy tenant."""
    quiet_headers = {"content-type": "application/json", "X-API-Key": keys["quiet"]}
    heavy_headers = {"content-type": "application/json", "X-API-Key": keys["heavy"]}
    singles = [json.dumps({"rows": [row]}).encode() for row in rows]
    big = json.dumps({"rows": rows[:1000], "reasons": 20}).encode()
    quiet_path, heavy_path = (
        "/v1/projects/quiet-credit/predict",
        "/v1/projects/heavy-credit/predict",
    )
    quiet = Client(port)
    for i in range(20):  # warm up (both routes load; the batchers learn their costs)
        quiet.post(quiet_path, singles[i], quiet_headers)
    warm = Client(port)
    warm.post(heavy_path, big, heavy_headers)
    warm.close()
    solo, loaded, heavy_ms, statuses = [], [], [], Counter()
    lock = threading.Lock()

    def quiet_window(into: list[float]) -> None:
        quiet.connection.close()  # reopened at once: never past the server's keep-alive timeout
        quiet.post(quiet_path, singles[0], quiet_headers)
        stop, i = time.perf_counter() + seconds, 0
        while time.perf_counter() < stop:
            status, ms = quiet.post(quiet_path, singles[i % len(singles)], quiet_headers)
            with lock:
                statuses[f"quiet {status}"] += 1
            into.append(ms)
            i += 1

    def heavy_client(done: threading.Event) -> None:
        client = Client(port)
        while not done.is_set():
            status, ms = client.post(heavy_path, big, heavy_headers)
            with lock:
                statuses[f"heavy {status}"] += 1
                if status == 200:
                    heavy_ms.append(ms)
        client.close()

    heavy_seconds = 0.0
    for round_ in range(rounds):
        print(f"noisy neighbour round {round_ + 1}/{rounds}", flush=True)
        quiet_window(solo)
        done = threading.Event()
        threads = [
            threading.Thread(target=heavy_client, args=(done,)) for _ in range(heavy_clients)
        ]
        for thread in threads:
            thread.start()
        time.sleep(min(2.0, seconds / 2))  # let the heavy requests fill the queue
        started = time.perf_counter()
        quiet_window(loaded)
        heavy_seconds += time.perf_counter() - started
        done.set()
        for thread in threads:
            thread.join()
    quiet.close()
    result = {
        "quiet_solo": percentiles(solo),
        "quiet_loaded": percentiles(loaded),
        "heavy": {
            "clients": heavy_clients,
            "rows_per_request": 1000,
            "reasons": 20,
            "requests": len(heavy_ms),
            "p50_ms": float(np.median(heavy_ms)) if heavy_ms else None,
            "rows_per_s_while_loaded": 1000 * len(heavy_ms) / max(heavy_seconds, 1e-9),
        },
        "statuses": dict(statuses),
        "resets": quiet.resets,
        "seconds_per_window": seconds,
        "rounds": rounds,
    }
    for key in ("p50", "p99"):
        solo_ms, loaded_ms = result["quiet_solo"][f"{key}_ms"], result["quiet_loaded"][f"{key}_ms"]
        result[f"{key}_ratio"] = loaded_ms / solo_ms
    return result


def mixed_bodies(keys: dict[str, str], rows: list[dict]) -> list[tuple[str, str, bytes, dict, int]]:
    """(kind, path, body, headers, expected status) of the mixed load, in the order sent."""
    good = {"content-type": "application/json", "X-API-Key": keys["quiet"]}
    path = "/v1/projects/quiet-credit/predict"
    wrong_type = dict(rows[1], A2="twelve")
    return [
        ("good", path, json.dumps({"rows": [rows[0]]}).encode(), good, 200),
        ("malformed_json", path, b'{"rows": [{"A1": ', good, 400),
        ("good", path, json.dumps({"rows": [rows[2]], "reasons": 0}).encode(), good, 200),
        ("wrong_type_422", path, json.dumps({"rows": [wrong_type]}).encode(), good, 422),
        ("good", path, json.dumps({"rows": rows[3:8]}).encode(), good, 200),
        ("unknown_field_422", path, json.dumps({"rows": [rows[4]], "x": 1}).encode(), good, 422),
        ("good", path, json.dumps({"rows": [rows[5]]}).encode(), good, 200),
        ("unknown_project_404", "/v1/projects/nope/predict", b'{"rows": [{}]}', good, 404),
        ("no_key_401", path, b'{"rows": [{}]}', {"content-type": "application/json"}, 401),
        ("wrong_key_401", path, b'{"rows": [{}]}', {**good, "X-API-Key": "tk_bad_key"}, 401),
    ]


def mixed(port: int, keys: dict[str, str], rows: list[dict], seconds: float, clients=32) -> dict:
    """``clients`` connections for ``seconds`` cycling through good and bad requests."""
    plan = mixed_bodies(keys, rows)
    statuses: Counter = Counter()
    unexpected: Counter = Counter()
    good_ms: list[float] = []
    resets = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(offset: int) -> None:
        client, i = Client(port), offset
        while time.perf_counter() < stop:
            kind, path, body, headers, expected = plan[i % len(plan)]
            status, ms = client.post(path, body, headers)
            with lock:
                statuses[f"{kind} {status}"] += 1
                if status != expected:
                    unexpected[f"{kind} {status}"] += 1
                if kind == "good" and status == 200:
                    good_ms.append(ms)
            i += 1
        with lock:
            resets[0] += client.resets
        client.close()

    print(f"mixed load: {clients} clients for {seconds:g} s", flush=True)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    total = sum(statuses.values())
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": total,
        "requests_per_s": total / elapsed,
        "good": percentiles(good_ms) if good_ms else {},
        "statuses": dict(sorted(statuses.items())),
        "connection_resets": resets[0],
        "unexpected_5xx": sum(n for key, n in statuses.items() if key.split()[-1][0] == "5"),
        "unexpected_statuses": dict(unexpected),
    }


def run_load(
    parts: set[str],
    seconds: float,
    mixed_seconds: float,
    heavy_clients: int,
    service_root: Path | None = None,
) -> dict:
    """Run the named parts (``noisy``, ``mixed``) on one fresh workspace and service."""
    folder = Path(tempfile.mkdtemp(prefix="tailorkit-serving-load-"))
    workspace, keys, rows = setup(folder)
    process, port = start(workspace, service_root or ROOT)
    results: dict = {"service_root": str(service_root or ROOT)}
    try:
        if "noisy" in parts:
            results["noisy"] = noisy(port, keys, rows, seconds, heavy_clients)
        if "mixed" in parts:
            results["mixed"] = mixed(port, keys, rows, mixed_seconds)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return results


def markdown(results: dict, command: str) -> str:
    lines = [f"`{command}`", ""]
    if "noisy" in results:
        n = results["noisy"]
        lines += [
            "| quiet tenant, 1 row, 3 reasons | requests | p50 ms | p99 ms |",
            "|---|---|---|---|",
        ]
        for label, key in (("solo", "quiet_solo"), ("heavy tenant saturating", "quiet_loaded")):
            e = n[key]
            lines.append(f"| {label} | {e['requests']} | {e['p50_ms']:.2f} | {e['p99_ms']:.2f} |")
        heavy = n["heavy"]
        lines += [
            f"| loaded / solo | | {n['p50_ratio']:.2f}x | **{n['p99_ratio']:.2f}x** "
            f"(target <= {TARGETS['noisy_p99_ratio_max']:g}x) |",
            "",
            f"Heavy tenant: {heavy['clients']} clients x 1,000 rows with 20 reason codes, "
            f"{heavy['requests']} requests answered, p50 {heavy['p50_ms'] or 0:.0f} ms, "
            f"{heavy['rows_per_s_while_loaded']:.0f} rows/s; statuses {n['statuses']}.",
            "",
        ]
    if "mixed" in results:
        m = results["mixed"]
        good = m.get("good", {})
        lines += [
            "| mixed load | value |",
            "|---|---|",
            f"| clients x seconds | {m['clients']} x {m['seconds']:g} |",
            f"| requests (req/s) | {m['requests']} ({m['requests_per_s']:.0f}) |",
            f"| good predicts p50 / p99 ms | {good.get('p50_ms', 0):.1f} / "
            f"{good.get('p99_ms', 0):.1f} |",
            f"| connection resets | **{m['connection_resets']}** (target 0) |",
            f"| unexpected 5xx | **{m['unexpected_5xx']}** (target 0) |",
            f"| other unexpected statuses | {m['unexpected_statuses'] or 'none'} |",
            "",
            "Statuses by kind: "
            + ", ".join(f"{key}: {count}" for key, count in m["statuses"].items()),
        ]
    return "\n".join(lines) + "\n"


def write(results: dict, out: Path, command: str) -> None:
    """Merge into ``out`` (keeping a part not run this time) and write the tables beside it."""
    if out.exists():
        results = {**json.loads(out.read_text()), **results}
    results["command"] = command
    results["targets"] = TARGETS
    results["machine"] = {"cpus": os.cpu_count(), "note": "2 cores shared with other work"}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float))
    text = markdown(results, command)
    out.with_name(out.stem + ".tables.md").write_text(text)
    print(text)
