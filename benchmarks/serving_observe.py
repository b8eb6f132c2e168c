"""Serving overhead with observation on versus off (``python benchmarks/serving.py --only
observe``).

Protocol: a LightGBM fitted on UCI German credit (as ``serving.py``), registered once; two
``tailorkit serve`` processes on the same workspace, one observing every request
(``--observe-rate 1``, the default) and one observing none (``--observe-rate 0``). For each,
the paired p50 overhead at concurrency 1 (``serving.paired_overhead``: one in-process adapter
call and one HTTP call per pair, the median of the differences), one row per request, the two
services measured in turn for ``ROUNDS`` rounds of ``PAIRS`` pairs each; the ratio is of the
medians over the rounds. The stored observation rows are counted after the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import serving

ROUNDS = 3
PAIRS = 300


@contextmanager
def observing_service(workspace: Path, rate: str):
    port = serving.free_port()
    env = {**os.environ, "PYTHONPATH": str(serving.ROOT)}
    command = [sys.executable, "-m", "tailorkit", "serve", "--workspace", str(workspace)]
    command += ["--port", str(port), "--log-level", "warning", "--observe-rate", rate]
    command += ["--request-log-days", "0", "--decide-every", "0"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        serving.wait_for(f"http://127.0.0.1:{port}/healthz", process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_observe(out: Path) -> dict:
    from tailorkit.registry import Registry
    from tailorkit.serve.events import EventStore

    workspace = Path(tempfile.mkdtemp(prefix="tailorkit-observe-bench-")) / ".tailorkit"
    X, y = serving.load_german()
    serving.register(workspace, "german-lgbm", "lightgbm", X, y)
    store = EventStore(Registry(workspace))
    key = store.create_tenant("bench")
    store.grant("bench", "german-lgbm")
    rows = json.loads(X.to_json(orient="records"))
    bodies = [{"rows": [r], "reasons": 0} for r in rows]
    local = partial(serving.predict_body, serving.served_adapter(workspace, "german-lgbm"))
    headers = {"X-API-Key": key}
    found: dict[str, list[dict]] = {"on": [], "off": []}
    with observing_service(workspace, "1") as on, observing_service(workspace, "0") as off:
        for _round in range(ROUNDS):
            for name, port in (("on", on), ("off", off)):
                url = f"http://127.0.0.1:{port}/v1/projects/german-lgbm/predict"
                found[name].append(serving.paired_overhead(url, headers, local, bodies, n=PAIRS))
    result = {
        name: {
            "overhead_p50_ms": float(np.median([r["overhead_p50_ms"] for r in runs])),
            "service_p50_ms": float(np.median([r["service_p50_ms"] for r in runs])),
            "rounds": runs,
        }
        for name, runs in found.items()
    }
    result["overhead_ratio_on_over_off"] = (
        result["on"]["overhead_p50_ms"] / result["off"]["overhead_p50_ms"]
    )
    result["observed_rows"] = store.count("observations", project="german-lgbm")
    result["command"] = "python benchmarks/serving.py --only observe"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in ("on", "off")}, indent=1))
    for name in ("on", "off"):
        print(name, {k: round(v, 3) for k, v in result[name].items() if k != "rounds"})
    return result
