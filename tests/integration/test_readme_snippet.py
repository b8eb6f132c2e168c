"""The README's Python snippet, verbatim, as a plain script (no ``__main__`` guard) in the
credit-risk demo's folder; and the fold worker pools a guardless script starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tailorkit.solutions import get_solution

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# the default candidates, the FT-Transformer small (its folds still run in 2 worker processes)
SMALL_FT = {"d_token": 16, "n_blocks": 1, "n_bags": 1, "max_epochs": 30, "patience": 3}


def readme_python() -> str:
    """The README's one Python block, verbatim."""
    blocks = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)
    assert len(blocks) == 1, "the README should have one Python snippet"
    return blocks[0]


def run_script(folder: Path, name: str, code: str, *args: str) -> subprocess.CompletedProcess:
    """``python NAME`` in ``folder`` (this worktree's tailorkit first on the path)."""
    (folder / name).write_text(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, name, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_readme_snippet_runs_as_a_plain_script_in_the_demo_folder(tmp_path: Path):
    spec_path, _ = get_solution("credit_risk").demo_project(tmp_path)
    spec = yaml.safe_load(spec_path.read_text())
    spec["models"] = [
        "logistic",
        "lightgbm",
        {"name": "ft_transformer", "family": "ft_transformer", "params": SMALL_FT},
    ]
    spec["evaluation"].update(pretraining_ablation=False, n_jobs=2)  # 2 fold workers
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))

    done = run_script(tmp_path, "snippet.py", readme_python())

    assert done.returncode == 0, done.stderr[-3000:]
    assert "BrokenProcessPool" not in done.stderr and "bootstrapping" not in done.stderr
    printed = done.stdout.splitlines()
    for model in ("logistic", "lightgbm", "ft_transformer", "ensemble"):
        assert any(line.split()[1:2] == [model] for line in printed), done.stdout
    assert printed[-2] in ("logistic", "lightgbm", "ft_transformer", "ensemble")
    report = Path(printed[-1])
    assert report.name == "report.html" and report.exists()
    assert (report.parent / "report.json").exists()


GUARDLESS = """\
import multiprocessing
import os
import sys

from tailorkit.execution import process_pool

if sys.argv[1] == "spawn":  # where no fork server exists
    multiprocessing.get_all_start_methods = lambda: ["spawn"]
print("the script ran", flush=True)
with process_pool.fold_executor(2) as pool:
    pids = {pool.submit(os.getpid).result() for _ in range(4)}
print("workers", len(pids - {os.getpid()}), type(pool._mp_context).__name__)
"""


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_fold_workers_never_run_a_guardless_main_script(tmp_path: Path, method: str):
    done = run_script(tmp_path, "guardless.py", GUARDLESS, method)

    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines.count("the script ran") == 1  # not again in a worker or the fork server
    _, workers, context = lines[-1].split()
    assert 1 <= int(workers) <= 2
    assert context == ("_ForkServerContext" if method == "forkserver" else "_SpawnContext")
