"""Every command that loads a registered model checks its files first: a file changed after
registration is a one-line error naming the project, version and file (exit 2, no
traceback), and an ``artifact_events`` row with the command as actor; nothing is scored."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tailorkit.registry import Registry
from tailorkit.registry.signing import SIGNING_KEY_ENV
from tailorkit.solutions.credit_risk.predict import DECISION_FILE
from tests.artifact_faults import distinct_copy, flip_bit, weights_file
from tests.conftest import tk
from tests.serving_helpers import applicants, fit_credit_model, register_folder

PROJECT = "acme-credit"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A folder with new applicants to score and one saved LightGBM credit model."""
    folder = tmp_path_factory.mktemp("cli-artifacts")
    X, _ = applicants(30, seed=7)
    X.to_csv(folder / "new.csv", index=False)
    fit_credit_model(folder / "model", "lightgbm")
    return folder


def registered(folder: Path, note: str) -> tuple[Path, str]:
    """A fresh workspace with the model registered as its own version: (workspace, ref)."""
    workspace = folder / note / ".tailorkit"
    model = distinct_copy(folder / "model", folder / note / "model", note)
    version = register_folder(workspace, PROJECT, model, "champion")
    return workspace, f"{PROJECT}:{version}"


def refused(done, ref: str, named: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.strip()]
    assert ref in line and named in line and "refusing to load it" in line, line
    assert "probability" not in done.stdout  # nothing was scored


@pytest.mark.slow
def test_predict_refuses_a_tampered_decision_file_and_audits_it(trained):
    workspace, ref = registered(trained, "decision")
    scored = tk(trained, "predict", "-w", str(workspace), "--model", ref, "new.csv")
    assert "probability" in scored.stdout  # the untouched model scores
    stored = Registry(workspace).resolve(ref).path / DECISION_FILE
    decision = json.loads(stored.read_text())
    stored.write_text(json.dumps({**decision, "threshold": 0.99}))
    done = tk(trained, "predict", "-w", str(workspace), "--model", ref, "new.csv", ok=False)
    refused(done, ref, DECISION_FILE)
    (event,) = Registry(workspace).artifact_events(PROJECT)
    assert event["version"] == 1 and DECISION_FILE in event["problem"]
    assert event["actor"].endswith("(tailorkit predict)"), event


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ("predict", "--model", "{ref}", "new.csv"),
        ("export", "{ref}", "--edge", "bundle"),
        ("compress", "{ref}", "--spec", "tailorkit.yaml", "--no-register"),
    ],
    ids=lambda command: command[0],
)
def test_every_loading_command_refuses_a_tampered_model_file(trained, command):
    workspace, ref = registered(trained, f"weights-{command[0]}")
    stored = weights_file(Registry(workspace).resolve(ref).path)
    flip_bit(stored)
    arguments = [part.format(ref=ref) for part in command]
    done = tk(trained, *arguments, "-w", str(workspace), ok=False)
    refused(done, ref, stored.name)
    assert not (trained / "bundle").exists()
    (event,) = Registry(workspace).artifact_events(PROJECT)
    assert event["actor"].endswith(f"(tailorkit {command[0]})"), event


@pytest.mark.slow
def test_with_a_signing_key_unsigned_versions_are_refused_until_signed(
    trained, tmp_path, monkeypatch
):
    workspace, ref = registered(trained, "signing")  # registered before a key was configured
    key = tmp_path / "signing.key"
    key.write_text(secrets.token_hex(32))
    monkeypatch.setenv(SIGNING_KEY_ENV, str(key))
    done = tk(trained, "predict", "-w", str(workspace), "--model", ref, "new.csv", ok=False)
    refused(done, ref, "is not signed")
    signed = tk(trained, "sign", "-w", str(workspace))
    assert "signed 1 artifact(s)" in signed.stderr + signed.stdout
    scored = tk(trained, "predict", "-w", str(workspace), "--model", ref, "new.csv")
    assert "probability" in scored.stdout
