"""What the command modules share: options, table cells, the registry of a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tailorkit.console import default_workspace

SpecOption = typer.Option("tailorkit.yaml", "--spec", "-s", help="Project spec file.")
WorkspaceOption = typer.Option(
    None, "--workspace", "-w", help="Workspace folder (default: the spec's, or ./.tailorkit)."
)
JsonOption = typer.Option(False, "--json", help="Print JSON (for machines).")
SetOption = typer.Option([], "--set", help="Override a field: key.sub=value.")
DbUrlOption = typer.Option(
    None,
    "--db-url",
    envvar="TAILORKIT_DB_URL",
    help="Database URL (e.g. postgresql://...); default: the workspace's SQLite file.",
)


def registry_of(workspace: Path | None, db_url: str | None = None) -> Any:
    """The registry of ``workspace`` (default: the spec's, or ./.tailorkit)."""
    from tailorkit.registry import Registry  # lazy: SQLAlchemy

    return Registry(workspace or default_workspace(), url=db_url)


def verified_version(registry: Any, ref: str, command: str) -> Any:
    """The version ``ref`` names, its files checked against what was registered (and signed)
    before anything loads them; a mismatch is audited with ``command`` as actor and raised."""
    from tailorkit.registry import command_actor

    return registry.resolve(ref, verify=True, actor=command_actor(command))


def cell(value: Any, seconds: bool = False) -> str:
    """A number or interval as a short table cell."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 and not seconds else f"{value:.1f}"
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"{value[0]:.3f}-{value[1]:.3f}"
    return str(value)
