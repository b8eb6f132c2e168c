"""Registry commands: ``predict``, ``models``, ``promote``, ``audit``, ``sign``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tailorkit.cli.common import JsonOption, WorkspaceOption, cell, registry_of, verified_version
from tailorkit.console import out, say, warn
from tailorkit.errors import RegistryError


def predict(
    data: str = typer.Argument(..., help="File to score (CSV, Parquet, JSON lines, ...)."),
    model: str = typer.Option(..., "--model", "-m", help="name@alias, name:version or name."),
    workspace: Path | None = WorkspaceOption,
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
    chunk_rows: int = typer.Option(50_000, "--chunk-rows", help="Rows per streamed chunk."),
) -> None:
    """Score a file with a registered model (CSV out; columns depend on the solution)."""
    from tailorkit.solutions import get_solution

    registry = registry_of(workspace)
    version = verified_version(registry, model, "predict")
    solution = get_solution(registry.solution_of(version.project), "registry")
    if output:
        with open(output, "w", newline="") as handle:
            rows = solution.predict_file(version, data, handle, chunk_rows=chunk_rows, warn=warn)
    else:
        rows = solution.predict_file(version, data, sys.stdout, chunk_rows=chunk_rows, warn=warn)
    say(f"scored {rows} rows with {version.project}:{version.version}")


def models(
    project: str | None = typer.Argument(None, help="Only this project."),
    workspace: Path | None = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """List registered model versions and their aliases."""
    from tailorkit.solutions import get_solution

    registry = registry_of(workspace)
    versions = registry.versions(project)
    if as_json:
        out.print_json(json.dumps([_version_dict(v) for v in versions]))
        return
    headlines = {p["name"]: get_solution(p["solution"]).headline for p in registry.projects()}
    table = Table(title="Model versions")
    for column in ("project", "version", "family", "metric", "aliases", "created"):
        table.add_column(column)
    for v in versions:
        headline = headlines.get(v.project, "auc")
        table.add_row(
            v.project,
            str(v.version),
            v.family,
            f"{headline} {cell(v.metrics.get(headline))}",
            ", ".join(v.aliases),
            v.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


def _version_dict(v) -> dict:
    return {
        "project": v.project,
        "version": v.version,
        "family": v.family,
        "aliases": list(v.aliases),
        "metrics": v.metrics,
        "path": str(v.path),
        "created_at": v.created_at.isoformat(),
    }


def promote(
    project: str = typer.Argument(...),
    version: int = typer.Argument(...),
    alias: str = typer.Option("champion", "--alias", "-a"),
    reason: str = typer.Option("", "--reason", "-r", help="Why (kept in the audit log)."),
    workspace: Path | None = WorkspaceOption,
) -> None:
    """Point an alias at a version; the move is written to the audit log."""
    registry = registry_of(workspace)
    registry.resolve(f"{project}:{version}")
    registry.set_alias(project, alias, version, reason=reason or "tailorkit promote")
    out.print(f"{project}@{alias} -> version {version}", markup=False)


def audit(
    project: str | None = typer.Argument(None),
    workspace: Path | None = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """Show the append-only log of alias moves."""
    rows = registry_of(workspace).audit_log(project)
    if as_json:
        out.print_json(json.dumps(rows, default=str))
        return
    table = Table(title="Alias moves")
    for column in ("when", "model", "alias", "move", "actor", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        move = f"{row['from_version'] or '-'} -> {row['to_version']}"
        table.add_row(
            row["at"].strftime("%Y-%m-%d %H:%M:%S"),
            row["project"],
            row["alias"],
            move,
            escape(str(row["actor"])),
            escape(row["reason"]),
        )
    out.print(table)


def sign(
    project: str | None = typer.Argument(None, help="Only this project."),
    workspace: Path | None = WorkspaceOption,
) -> None:
    """Sign the unsigned artifacts whose files match their manifest, with the key of
    TAILORKIT_SIGNING_KEY_FILE (for versions registered before the key was configured)."""
    from tailorkit.registry.integrity import ArtifactMismatch

    registry = registry_of(workspace)
    signed, refused = 0, []
    for version in registry.versions(project):
        try:
            signed += registry.sign(version)
        except ArtifactMismatch as error:
            refused.append(str(error))
            warn(str(error))
    say(f"signed {signed} artifact(s); {len(refused)} refused")
    if refused:
        raise RegistryError(
            f"{len(refused)} version(s) not signed: their files or signature differ"
        )
