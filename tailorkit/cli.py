"""The ``tailorkit`` command line: init, validate, profile, run, report, predict, models,
promote, demo. User mistakes print one line and exit 2; ``--debug`` shows the traceback."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tailorkit.errors import GateFailed, TailorkitError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Customized models from your own data: train, evaluate, gate, register.",
)


def _console(stderr: bool = False) -> Console:
    """A console that, writing to a file or pipe with no ``COLUMNS`` set, is 160 characters
    wide rather than rich's 80, so tables in logs keep their model names whole."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not (hasattr(stream, "isatty") and stream.isatty()) and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=160 if piped else None)


console = _console(stderr=True)
out = _console()
_state: dict[str, Any] = {"debug": False, "quiet": False}

SpecOption = typer.Option("tailorkit.yaml", "--spec", "-s", help="Project spec file.")
WorkspaceOption = typer.Option(
    None, "--workspace", "-w", help="Workspace folder (default: the spec's, or ./.tailorkit)."
)


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only results."),
) -> None:
    _state["debug"], _state["quiet"] = debug, quiet


def _say(message: str) -> None:
    if not _state["quiet"]:
        console.print(f"[dim]{message}[/dim]")


# ------------------------------------------------------------------ init
@app.command()
def init(
    solution: str = typer.Argument(..., help="credit_risk (more solutions: see the README)."),
    data: str | None = typer.Option(None, "--data", help="Labeled table (file or SQL URL)."),
    target: str | None = typer.Option(None, "--target", help="Column to predict."),
    interactions: str | None = typer.Option(None, "--interactions", help="User-item events."),
    items: str | None = typer.Option(None, "--items", help="Item table (id, text, attributes)."),
    users: str | None = typer.Option(None, "--users", help="User attribute table."),
    sensors: str | None = typer.Option(None, "--sensors", help="Sensor readings per asset."),
    failures: str | None = typer.Option(None, "--failures", help="Failure / maintenance log."),
    asset_col: str | None = typer.Option(None, "--asset-col", help="Asset id column."),
    time_col: str | None = typer.Option(None, "--time-col", help="Time or cycle column."),
    visits: str | None = typer.Option(None, "--visits", help="Visit sequences table."),
    patient_col: str | None = typer.Option(None, "--patient-col", help="Patient id column."),
    text: list[str] = typer.Option([], "--text", help="Free-text column (repeat)."),
    image: list[str] = typer.Option([], "--image", help="column=path_column of images (repeat)."),
    protected: list[str] = typer.Option([], "--protected", help="Protected column (repeat)."),
    name: str | None = typer.Option(None, "--name", help="Project name (default: folder)."),
    spec: Path = typer.Option(Path("tailorkit.yaml"), "--spec", "-s"),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing spec."),
) -> None:
    """Write a commented tailorkit.yaml for your data."""
    from tailorkit.solutions import get_solution

    module = get_solution(solution, "init")
    if spec.exists() and not force:
        raise TailorkitError(f"{spec} already exists; pass --force to overwrite it")
    options = {
        "data": data,
        "target": target,
        "interactions": interactions,
        "items": items,
        "users": users,
        "sensors": sensors,
        "failures": failures,
        "asset_col": asset_col,
        "time_col": time_col,
        "visits": visits,
        "patient_col": patient_col,
        "text": text,
        "image": image,
        "protected": protected,
    }
    project = name or _slug(spec.resolve().parent.name)
    spec.write_text(module.init_template(project, options))
    _validate(spec, [])
    out.print(f"wrote {spec} (solution {solution}); next: tailorkit validate --show, tailorkit run")


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "project"


# -------------------------------------------------------------- validate
@app.command()
def validate(
    spec: Path = SpecOption,
    show: bool = typer.Option(False, "--show", help="Print the resolved spec with defaults."),
    set_: list[str] = typer.Option([], "--set", help="Override a field: key.sub=value."),
    check_data: bool = typer.Option(True, "--data/--no-data", help="Also read the data."),
) -> None:
    """Check the spec (and that its data loads); --show prints it with every default."""
    resolved = _validate(spec, set_, check_data)
    if show:
        from tailorkit.spec import dump_spec

        out.print(dump_spec(resolved), markup=False, highlight=False)
    else:
        out.print(f"{spec}: valid")


def _validate(spec: Path, overrides: list[str], check_data: bool = False) -> dict:
    from tailorkit.spec import load_spec

    parsed, resolved = load_spec(spec, overrides)
    if check_data:
        from tailorkit.solutions import get_solution

        module = get_solution(parsed.solution)
        warnings, summary = module.describe_data(parsed, spec.resolve().parent)
        for warning in warnings:
            console.print(f"[yellow]note:[/yellow] {warning}", highlight=False)
        _say(summary)
    return resolved


# --------------------------------------------------------------- profile
@app.command()
def profile(
    spec: Path = SpecOption,
    new: str | None = typer.Option(None, "--new", help="New data to check for drift."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Report folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the profile as JSON."),
) -> None:
    """Write a data-quality report (HTML + JSON): missing values, leakage, drift, ..."""
    from tailorkit.data.io import read_table
    from tailorkit.data.profile import profile_table, write_profile_report
    from tailorkit.spec import load_spec

    parsed, _ = load_spec(spec)
    base = spec.resolve().parent
    section = parsed.data
    frame = read_table(
        section.train,
        table=section.table,
        query=section.query,
        sheet=section.sheet,
        encoding=section.encoding,
        base_dir=base,
    )
    new_frame = read_table(new, encoding=section.encoding, base_dir=Path.cwd()) if new else None
    result = profile_table(frame, target=parsed.target, new_frame=new_frame, name=section.train)
    folder = output or base / parsed.workspace / "reports" / parsed.name
    folder.mkdir(parents=True, exist_ok=True)
    html_path, json_path = folder / "profile.html", folder / "profile.json"
    write_profile_report(result, html_path, json_path)
    if as_json:
        out.print_json(json.dumps(result))
        return
    table = Table(title=f"{len(result.get('issues', []))} data issues")
    for column in ("severity", "column", "message"):
        table.add_column(column)
    for issue in result.get("issues", [])[:30]:
        table.add_row(*[escape(str(issue.get(k))) for k in ("severity", "column", "message")])
    out.print(table)
    out.print(f"profile report: {html_path}")


# ------------------------------------------------------------------- run
@app.command()
def run(
    spec: Path = SpecOption,
    workspace: Path | None = WorkspaceOption,
    set_: list[str] = typer.Option([], "--set", help="Override a field: key.sub=value."),
    enforce: bool = typer.Option(False, "--enforce", help="Exit 1 when a requirement fails."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress messages."),
) -> None:
    """Train the candidates, evaluate, check requirements, register, write the report."""
    from tailorkit.pipeline import Project

    _state["quiet"] = _state["quiet"] or quiet
    project = Project.from_yaml(spec, overrides=set_, workspace=workspace)
    _run_project(project, enforce=enforce, as_json=as_json)


def _run_project(project, *, enforce: bool, as_json: bool) -> None:
    started = time.perf_counter()
    with console.status("starting", spinner="dots") as status:

        def progress(message: str) -> None:
            status.update(message)
            _say(message)

        result = project.run(progress=progress if not _state["quiet"] else None)
    elapsed = time.perf_counter() - started
    if as_json:
        out.print_json(json.dumps(_json_summary(result, elapsed)))
    else:
        _print_run(result, elapsed)
    if enforce and not result.gates_passed:
        failed = [r["requirement"] for r in result.requirements if not r["passed"]]
        raise GateFailed(
            f"requirement(s) failed: {'; '.join(failed)}; the champion alias was not moved"
        )


def _json_summary(result, elapsed: float) -> dict:
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


def _print_run(result, elapsed: float) -> None:
    from tailorkit.solutions import get_solution

    protocol = result.result["protocol"]
    title = protocol.get("title") or (
        f"{protocol['kind']}, {protocol['folds']} folds, seed {protocol['seed']}, "
        "pooled out-of-fold"
    )
    table = Table(title=f"Leaderboard: {title}")
    headers = get_solution(result.result["solution"]).BOARD_COLUMNS
    columns = [c for c in headers if c in result.leaderboard.columns]
    for column in columns:
        table.add_column(headers[column], justify="left" if column == "model" else "right")
    for row in result.leaderboard.to_dict(orient="records"):
        table.add_row(
            *[escape(_cell(row.get(c), seconds=c.endswith("seconds"))) for c in columns],
            style="bold green" if row["model"] == result.best else None,
        )
    out.print(table)
    if result.requirements:
        gates = Table(title="Requirements")
        for column in ("requirement", "value", "result"):
            gates.add_column(column)
        for gate in result.requirements:
            verdict = "[green]PASS[/green]" if gate["passed"] else "[red]FAIL[/red]"
            gates.add_row(escape(gate["requirement"]), _cell(gate["value"]), verdict)
        out.print(gates)
    move = "champion alias moved" if result.promoted else "champion alias NOT moved"
    out.print(
        f"best: [bold]{escape(result.best)}[/bold]; registered as {result.model_ref} ({move})"
    )
    out.print(f"report: {result.report_path}", highlight=False)
    out.print(f"took {elapsed:.1f} s")


def _cell(value: Any, seconds: bool = False) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 and not seconds else f"{value:.1f}"
    if isinstance(value, list) and len(value) == 2:
        return f"{value[0]:.3f}-{value[1]:.3f}"
    return str(value)


# ---------------------------------------------------------------- report
@app.command()
def report(
    project: str | None = typer.Argument(None, help="Project name (default: the spec's)."),
    spec: Path = SpecOption,
    workspace: Path | None = WorkspaceOption,
) -> None:
    """Print where the latest run's report is, with its headline numbers."""
    registry, name = _registry_and_project(project, spec, workspace)
    runs = [r for r in registry.runs(name) if r.get("report_path")]
    if not runs:
        raise TailorkitError(f"project '{name}' has no finished run; run `tailorkit run`")
    latest = runs[-1]
    out.print(f"run {latest['id']} ({latest['status']}): {latest.get('summary')}")
    out.print(f"report: {latest['report_path']}")


# --------------------------------------------------------------- predict
@app.command()
def predict(
    data: str = typer.Argument(..., help="File to score (CSV, Parquet, JSON lines, ...)."),
    model: str = typer.Option(..., "--model", "-m", help="name@alias, name:version or name."),
    workspace: Path | None = WorkspaceOption,
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
    chunk_rows: int = typer.Option(50_000, "--chunk-rows", help="Rows per streamed chunk."),
) -> None:
    """Score a file with a registered model (CSV out; columns depend on the solution)."""
    from tailorkit.registry import Registry
    from tailorkit.solutions import get_solution

    registry = Registry(workspace or _default_workspace())
    version = registry.resolve(model)
    module = get_solution(registry.solution_of(version.project), "registry")
    warn = lambda message: console.print(f"[yellow]warning:[/yellow] {message}")  # noqa: E731
    if output:
        with open(output, "w", newline="") as handle:
            rows = module.predict_file(version, data, handle, chunk_rows, warn)
    else:
        rows = module.predict_file(version, data, sys.stdout, chunk_rows, warn)
    _say(f"scored {rows} rows with {version.project}:{version.version}")


# ---------------------------------------------------------------- models
@app.command()
def models(
    project: str | None = typer.Argument(None, help="Only this project."),
    workspace: Path | None = WorkspaceOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List registered model versions and their aliases."""
    from tailorkit.registry import Registry
    from tailorkit.solutions import get_solution

    registry = Registry(workspace or _default_workspace())
    versions = registry.versions(project)
    if as_json:
        out.print_json(json.dumps([_version_dict(v) for v in versions]))
        return
    headlines = {p["name"]: get_solution(p["solution"]).HEADLINE for p in registry.projects()}
    table = Table(title="Model versions")
    for column in ("project", "version", "family", "metric", "aliases", "created"):
        table.add_column(column)
    for v in versions:
        headline = headlines.get(v.project, "auc")
        table.add_row(
            v.project,
            str(v.version),
            v.family,
            f"{headline} {_cell(v.metrics.get(headline))}",
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


# --------------------------------------------------------------- promote
@app.command()
def promote(
    project: str = typer.Argument(...),
    version: int = typer.Argument(...),
    alias: str = typer.Option("champion", "--alias", "-a"),
    reason: str = typer.Option("", "--reason", "-r", help="Why (kept in the audit log)."),
    workspace: Path | None = WorkspaceOption,
) -> None:
    """Point an alias at a version; the move is written to the audit log."""
    from tailorkit.registry import Registry

    registry = Registry(workspace or _default_workspace())
    registry.resolve(f"{project}:{version}")
    registry.set_alias(project, alias, version, reason=reason or "tailorkit promote")
    out.print(f"{project}@{alias} -> version {version}")


@app.command()
def audit(
    project: str | None = typer.Argument(None),
    workspace: Path | None = WorkspaceOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show the append-only log of alias moves."""
    from tailorkit.registry import Registry

    rows = Registry(workspace or _default_workspace()).audit_log(project)
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


# ------------------------------------------------------------------ demo
@app.command()
def demo(
    solution: str = typer.Argument("credit_risk", help="Which solution to demonstrate."),
    folder: Path | None = typer.Option(
        None, "--folder", help="Project folder (default: tailorkit-demo[-SOLUTION])."
    ),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress messages."),
    set_: list[str] = typer.Option([], "--set", help="Override a field: key.sub=value."),
) -> None:
    """Offline end-to-end run on embedded data (credit risk: UCI German credit)."""
    from tailorkit.pipeline import Project
    from tailorkit.solutions import get_solution

    _state["quiet"] = _state["quiet"] or quiet
    module = get_solution(solution, "demo")
    if folder is None:
        folder = Path(
            "tailorkit-demo" if solution == "credit_risk" else f"tailorkit-demo-{solution}"
        )
    spec, description = module.demo_project(folder)
    _say(f"demo project: {spec} (data: {description})")
    _run_project(Project.from_yaml(spec, overrides=set_), enforce=False, as_json=as_json)


# --------------------------------------------------------------- helpers
def _default_workspace() -> Path:
    spec = Path("tailorkit.yaml")
    if spec.exists():
        try:
            from tailorkit.spec import load_spec

            return spec.resolve().parent / load_spec(spec)[0].workspace
        except TailorkitError:
            pass
    return Path(".tailorkit")


def _registry_and_project(project, spec, workspace):
    from tailorkit.registry import Registry
    from tailorkit.spec import load_spec

    if project is None:
        project = load_spec(spec)[0].name
    return Registry(workspace or _default_workspace()), project


def _add_solution_commands() -> None:
    from tailorkit.solutions import SOLUTIONS, get_solution

    for name in SOLUTIONS:
        for command in get_solution(name).COMMANDS:
            app.command()(command)


_add_solution_commands()


def _add_serving_commands() -> None:
    from tailorkit.serve.commands import register

    register(app)


_add_serving_commands()


def main() -> None:
    """Entry point: user errors are one line on stderr and exit code 2 (gates: 1)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        app(standalone_mode=False)
    except TailorkitError as error:
        if _state["debug"]:
            raise
        console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        console.print("aborted")
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.TyperException as error:  # usage errors: they print themselves
        show = getattr(error, "show", None)
        if show:
            show()
        else:
            console.print(f"[red]error:[/red] {error.format_message()}")
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
