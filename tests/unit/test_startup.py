"""The command line starts light and knows its version (no timing here: see
benchmarks/cli_startup.py for the measured start-up)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import tailorkit

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "pandas", "sklearn", "lightgbm", "fastapi", "transformers", "sqlalchemy")
LOADED = """
import json, sys
import tailorkit.cli.main
before = [name for name in {heavy!r} if name in sys.modules]
sys.argv = ["tailorkit", "--help"]
try:
    tailorkit.cli.main.main()
except SystemExit:
    pass
after = [name for name in {heavy!r} if name in sys.modules]
sys.stderr.write(json.dumps({{"import": before, "help": after}}))
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_cli_imports_no_heavy_library_at_start_up():
    done = run("-c", LOADED.format(heavy=HEAVY))
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stderr.strip().splitlines()[-1])
    assert loaded == {"import": [], "help": []}, (
        f"heavy libraries imported at start-up (import them inside the command body): {loaded}"
    )


def test_version_prints_the_package_version():
    done = run("-m", "tailorkit", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"tailorkit {tailorkit.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", tailorkit.__version__)


def test_the_version_has_one_source():
    """pyproject.toml reads ``tailorkit.__version__``, so a build stamps the same version."""
    from setuptools.config.pyprojecttoml import read_configuration

    written = read_configuration(ROOT / "pyproject.toml", expand=False)["project"]
    assert "version" not in written and written["dynamic"] == ["version"]
    built = read_configuration(ROOT / "pyproject.toml", expand=True)["project"]
    assert built["version"] == tailorkit.__version__


def test_installed_metadata_agrees_when_installed_from_this_tree():
    try:
        dist = metadata.distribution("tailorkit")
    except metadata.PackageNotFoundError:
        pytest.skip("tailorkit is not installed (only on the path)")
    origin = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    here = Path(str(dist.locate_file(""))).resolve() == ROOT  # an egg-info in the tree
    if not here and origin.removeprefix("file://") != str(ROOT):
        pytest.skip(f"the installed tailorkit comes from {origin or 'elsewhere'}, not this tree")
    assert dist.version == tailorkit.__version__
