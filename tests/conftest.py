"""Shared fixtures: small simulated credit data and fast project specs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tailorkit.data.simulators.applicants import simulate_applicants

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY_FT = {"d_token": 8, "n_blocks": 1, "max_epochs": 3, "pretrain_epochs": 2}


@pytest.fixture
def applicants_csv(tmp_path: Path) -> Path:
    path = tmp_path / "applications.csv"
    simulate_applicants(600, random_state=1).to_csv(path, index=False)
    return path


def write_spec(folder: Path, **changes) -> Path:
    """A fast credit-risk spec in ``folder``; keyword arguments replace top-level keys."""
    spec = {
        "name": "acme-credit",
        "solution": "credit_risk",
        "data": {"train": "applications.csv", "key": "application_id"},
        "target": "default",
        "features": {"protected": ["sex"]},
        "models": ["logistic", "lightgbm"],
        "evaluation": {"folds": 3, "bootstrap": 100},
        "requirements": ["auc >= 0.6", "demographic_parity_difference[sex] <= 0.5"],
    }
    spec.update(changes)
    path = folder / "tailorkit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def project_dir(tmp_path: Path, applicants_csv: Path) -> Path:
    write_spec(tmp_path)
    return tmp_path


def tk(folder: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """``tailorkit *args`` in a real subprocess run in ``folder``; ``ok``: must exit 0."""
    done = subprocess.run(
        [sys.executable, "-m", "tailorkit", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done
