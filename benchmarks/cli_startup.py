"""CLI start-up time (not part of the unit tests): ``tailorkit --help`` and ``--version``.

Protocol: each command runs ``--runs`` times (after one warm-up run, so the files are in the
page cache: "warm") in a fresh subprocess, the way a user types it: the ``tailorkit`` entry
point beside this Python (``python -m tailorkit`` where there is none). Reported per command:
median, p90 (nearest rank) and max wall time in seconds, against the 1 s target. Also: which
heavy libraries ``tailorkit --help`` imported (checked in ``sys.modules`` after the help was
printed, in a subprocess), and the cumulative ``python -X importtime`` of
``tailorkit.cli.main``.

The machine is shared and noisy: the load average at the start is recorded with the numbers.

    python benchmarks/cli_startup.py [--runs 10] [--out benchmarks/results/cli_startup.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (["--help"], ["--version"])
HEAVY = ("torch", "pandas", "sklearn", "lightgbm", "fastapi", "sqlalchemy", "transformers")
TARGET_S = 1.0
PROBE = """
import json, sys
sys.argv = ["tailorkit", "--help"]
from tailorkit.cli.main import main
try:
    main()
except SystemExit:
    pass
sys.stderr.write(json.dumps([name for name in {heavy!r} if name in sys.modules]))
"""


def entry_point() -> list[str]:
    """How a user starts the CLI with this Python: its ``tailorkit`` script, else ``-m``."""
    script = Path(sys.executable).parent / "tailorkit"
    if script.is_file():
        return [str(script)]
    found = shutil.which("tailorkit")
    return [found] if found else [sys.executable, "-m", "tailorkit"]


def time_command(command: list[str], runs: int) -> list[float]:
    """Wall seconds of ``runs`` fresh runs of ``command`` after one warm-up run."""
    subprocess.run(command, check=True, capture_output=True)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[math.ceil(0.9 * len(ordered)) - 1]
    return {
        "median_s": round(statistics.median(ordered), 4),
        "p90_s": round(p90, 4),
        "max_s": round(ordered[-1], 4),
        "min_s": round(ordered[0], 4),
        "samples_s": [round(s, 4) for s in samples],
    }


def heavy_imported_by_help() -> list[str]:
    """The heavy libraries in ``sys.modules`` once ``tailorkit --help`` has printed."""
    probe = [sys.executable, "-c", PROBE.format(heavy=HEAVY)]
    done = subprocess.run(probe, check=True, capture_output=True, text=True)
    return json.loads(done.stderr.strip().splitlines()[-1])


def import_time_s() -> float:
    """Cumulative ``-X importtime`` of ``tailorkit.cli.main`` (seconds)."""
    command = [sys.executable, "-X", "importtime", "-c", "import tailorkit.cli.main"]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    for line in done.stderr.splitlines():
        fields = [field.strip() for field in line.split("|")]
        if len(fields) == 3 and fields[2] == "tailorkit.cli.main":
            return int(fields[1]) / 1e6
    raise RuntimeError("tailorkit.cli.main not found in the -X importtime output")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cli_startup.json")
    args = parser.parse_args()
    base = entry_point()
    load = os.getloadavg()[0]
    results = {" ".join(c): summary(time_command(base + c, args.runs)) for c in COMMANDS}
    heavy = heavy_imported_by_help()
    cli_import = import_time_s()

    print(f"tailorkit start-up, {args.runs} warm runs each ({' '.join(base)})")
    print(f"{'command':<22}{'median s':>10}{'p90 s':>10}{'max s':>10}")
    for name, row in results.items():
        cells = "".join(f"{row[key]:>10.3f}" for key in ("median_s", "p90_s", "max_s"))
        print(f"tailorkit {name:<12}{cells}")
    print(f"import tailorkit.cli.main: {cli_import:.3f} s (-X importtime, cumulative)")
    print(f"heavy libraries imported by --help: {', '.join(heavy) or 'none'}")
    slow = [name for name, row in results.items() if row["p90_s"] >= TARGET_S]
    print(f"target p90 < {TARGET_S:g} s: {'missed by ' + ', '.join(slow) if slow else 'met'}")

    record = {
        "benchmark": "cli_startup",
        "entry_point": base,
        "runs": args.runs,
        "warm_up_runs": 1,
        "target_s": TARGET_S,
        "results": results,
        "import_cli_main_s": round(cli_import, 4),
        "heavy_checked": list(HEAVY),
        "heavy_imported_by_help": heavy,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1min": round(load, 2),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
