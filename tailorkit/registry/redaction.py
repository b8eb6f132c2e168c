"""Messages without the folders they happened in, for answers that leave the machine.

A service's answers and readiness name a model's files relative to its artifact
(``decision.json``) and the workspace's relative to the workspace (``trials``), never the
absolute folders: those tell a caller how the host is laid out. Logs keep the full paths.
"""

from __future__ import annotations

import re
from pathlib import Path

from tailorkit.registry.store import ModelVersion

WORKSPACE_LABEL = "the workspace folder"


def without_folder(text: str, folder: Path, label: str) -> str:
    """``text`` with paths under ``folder`` made relative to it and ``folder`` itself named
    ``label``; the folder is recognised as given (when it has more than one part), absolute
    and resolved."""
    forms = {str(folder.absolute()), str(folder.resolve())}
    if len(folder.parts) > 1:
        forms.add(str(folder))
    for form in sorted(forms, key=len, reverse=True):  # the longest first: /a/b before /a
        # the folder ends at a "/" (then a path under it follows) or where a name cannot go on
        # (a full stop ending a sentence may follow, ".bak" may not)
        text = re.sub(re.escape(form) + r"(/|(?![\w-]|\.[\w-]))", _relative(label), text)
    return text


def without_paths(text: str, workspace: Path, version: ModelVersion | None = None) -> str:
    """``text`` naming no folder of the workspace: a version's files relative to its
    artifact (``artifacts/<sha>`` the artifact itself), other files relative to the workspace."""
    if version is not None:
        text = without_folder(text, version.path, f"artifacts/{version.artifact_sha}")
    return without_folder(text, workspace, WORKSPACE_LABEL)


def _relative(label: str):
    return lambda match: "" if match.group(1) == "/" else label
