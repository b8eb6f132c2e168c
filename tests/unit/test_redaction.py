"""Messages for answers that leave the machine name no folder of the host."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from tailorkit.registry import ModelVersion
from tailorkit.registry.redaction import WORKSPACE_LABEL, without_folder, without_paths


def test_paths_under_the_folder_become_relative_in_every_form(tmp_path):
    real = tmp_path / "real" / ".tailorkit"
    real.mkdir(parents=True)
    linked = tmp_path / "link"
    linked.symlink_to(real)  # the resolved form differs from the given one
    text = f"open '{linked}/trials/x.json' failed; '{real}/a.db' locked; in workspace {real}."
    cleaned = without_folder(text, linked, "the workspace")
    assert cleaned == "open 'trials/x.json' failed; 'a.db' locked; in workspace the workspace."
    assert str(tmp_path) not in cleaned
    for other in (f"{real}-old/x", f"{real}.bak"):  # other folders
        assert without_folder(other, real, "W") == other


def test_a_versions_files_are_named_relative_to_its_artifact(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    workspace, sha = Path("ws"), "ab" * 32  # relative, as `--workspace ws` gives it
    version = ModelVersion(
        project="p",
        version=3,
        family="lightgbm",
        path=workspace / "artifacts" / sha,
        run_id=None,
        metrics={},
        created_at=datetime.now(timezone.utc),
        aliases=(),
        artifact_sha=sha,
    )
    message = (
        f"No such file: '{version.path.absolute()}/decision.json'; {version.path} is no model; "
        f"{workspace.absolute()}/trials exists; ws stays a word"
    )
    cleaned = without_paths(message, workspace, version)
    assert cleaned == (
        f"No such file: 'decision.json'; artifacts/{sha} is no model; "
        "trials exists; ws stays a word"
    )
    absolute = workspace.absolute()
    assert without_paths(f"in workspace {absolute}", workspace) == f"in workspace {WORKSPACE_LABEL}"
    assert os.sep not in without_paths(str(absolute / "x"), workspace)
