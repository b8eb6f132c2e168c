"""Run commands: ``run``, ``demo``, ``report``; the leaderboard and gates printed at the end."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from tailorkit.cli.common import JsonOption, SetOption, SpecOption, WorkspaceOption, cell
from tailorkit.cli.progress import live_progress
from tailorkit.console import STATE, out, say
from tailorkit.errors import GateFailed, TailorkitError


def run(
    spec: Path = SpecOption,
    workspace: Path | None = WorkspaceOption,
    set_: list[str] = SetOption,
    enforce: bool = typer.Option(False, "--enforce", help="Exit 1 when a requirement fails."),
    as_json: bool = JsonOption,
) -> None:
    """Train the candidates, evaluate, check requirements, register, write the report."""
    from tailorkit.pipeline import Project

    project = Project.from_yaml(spec, overrides=set_, workspace=workspace)
    run_project(project, enforce=enforce, as_json=as_json)


def demo(
    solution: str = typer.Argument("credit_risk", help="Which solution to demonstrate."),
    folder: Path | None = typer.Option(
        None, "--folder", help="Project folder (default: tailorkit-demo[-SOLUTION])."
    ),
    as_json: bool = JsonOption,
    set_: list[str] = SetOption,
) -> None:
    """Offline end-to-end run on embedded data (credit risk: UCI German credit)."""
    from tailorkit.pipeline import Project
    from tailorkit.solutions import get_solution

    chosen = get_solution(solution, "demo")
    if folder is None:
        folder = Path(
            "tailorkit-demo" if solution == "credit_risk" else f"tailorkit-demo-{solution}"
        )
    spec, description = chosen.demo_project(folder)
    say(f"demo project: {spec} (data: {description})")
    run_project(Project.from_yaml(spec, overrides=set_), enforce=False, as_json=as_json)


def run_project(project: Any, *, enforce: bool, as_json: bool) -> None:
    """Run with live progress; print the summary (or JSON); ``enforce``: exit 1 on a gate."""
    started = time.perf_counter()
    with live_progress(enabled=not STATE["quiet"]) as progress:
        result = project.run(progress=progress)
    elapsed = time.perf_counter() - started
    if as_json:
        out.print_json(json.dumps(json_summary(result, elapsed)))
    else:
        print_run(result, elapsed)
    if enforce and not result.gates_passed:
        failed = [r["requirement"] for r in result.requirements if not r["passed"]]
        raise GateFailed(
            f"requirement(s) failed: {'; '.join(failed)}; the champion alias was not moved"
        )


def json_summary(result: Any, elapsed: float) -> dict:
    return {
        "best": result.best,
        "model": result.model_ref,
        "promoted": result.promoted,
        "gates_passed": result.gates_passed,
        "requirements": result.requirements,
        "report": str(result.report_path),
        "report_json": str(result.json_path),
        "seconds": round(elapsed, 1),
        "leaderboard": json.loads(result.leaderboard.to_json(orient="records")),
    }


def print_run(result: Any, elapsed: float) -> None:
    """The leaderboard, the requirements and where the report is."""
    from tailorkit.solutions import get_solution

    protocol = result.result["protocol"]
    title = protocol.get("title") or (
        f"{protocol['kind']}, {protocol['folds']} folds, seed {protocol['seed']}, "
        "pooled out-of-fold"
    )
    table = Table(title=f"Leaderboard: {title}")
    headers = get_solution(result.result["solution"]).board_columns
    columns = [c for c in headers if c in result.leaderboard.columns]
    for column in columns:
        table.add_column(headers[column], justify="left" if column == "model" else "right")
    for row in result.leaderboard.to_dict(orient="records"):
        table.add_row(
            *[escape(cell(row.get(c), seconds=c.endswith("seconds"))) for c in columns],
            style="bold green" if row["model"] == result.best else None,
        )
    out.print(table)
    if result.requirements:
        gates = Table(title="Requirements")
        for column in ("requirement", "value", "result"):
            gates.add_column(column)
        for gate in result.requirements:
            verdict = "[green]PASS[/green]" if gate["passed"] else "[red]FAIL[/red]"
            gates.add_row(escape(gate["requirement"]), cell(gate["value"]), verdict)
        out.print(gates)
    move = "champion alias moved" if result.promoted else "champion alias NOT moved"
    out.print(
        f"best: [bold]{escape(result.best)}[/bold]; registered as {result.model_ref} ({move})"
    )
    out.print(f"report: {escape(str(result.report_path))}", highlight=False)
    out.print(f"took {elapsed:.1f} s")


def report(
    project: str | None = typer.Argument(None, help="Project name (default: the spec's)."),
    spec: Path = SpecOption,
    workspace: Path | None = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """Print where the latest run's report is, with its headline numbers."""
    from tailorkit.cli.common import registry_of
    from tailorkit.solutions.specs import load_spec

    name = project or load_spec(spec)[0].name
    runs = [r for r in registry_of(workspace).runs(name) if r.get("report_path")]
    if not runs:
        raise TailorkitError(f"project '{name}' has no finished run; run `tailorkit run`")
    latest = runs[-1]
    if as_json:
        out.print_json(json.dumps(latest, default=str))
        return
    out.print(f"run {latest['id']} ({latest['status']}): {latest.get('summary')}", markup=False)
    out.print(f"report: {latest['report_path']}", markup=False, highlight=False)
