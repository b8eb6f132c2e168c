"""Project commands: ``init``, ``validate``, ``profile``.

Command bodies import the layers below them on call (pandas, scikit-learn, torch come with
them), so that ``tailorkit --help`` starts in well under a second.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tailorkit.cli.common import JsonOption, SetOption, SpecOption
from tailorkit.console import note, out, say
from tailorkit.errors import TailorkitError


def init(
    solution: str = typer.Argument(
        ..., help="credit_risk, recommendation, maintenance or diagnosis."
    ),
    data: str | None = typer.Option(None, "--data", help="Labeled table (file or SQL URL)."),
    target: str | None = typer.Option(None, "--target", help="Column to predict."),
    positive_label: str | None = typer.Option(
        None, "--positive-label", help="The target value that means the event (e.g. bad)."
    ),
    key: str | None = typer.Option(None, "--key", help="Row identifier column (kept out)."),
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
    """Write a commented tailorkit.yaml for your data (the named columns must exist)."""
    from tailorkit.solutions import get_solution

    chosen = get_solution(solution, "init")
    if spec.exists() and not force:
        raise TailorkitError(f"{spec} already exists; pass --force to overwrite it")
    options = {
        "data": data,
        "target": target,
        "positive_label": positive_label,
        "key": key,
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
    draft = spec.with_name(f".{spec.name}.draft")
    draft.write_text(chosen.init_template(project, options))
    try:
        check_spec(draft, [])  # a template that does not validate never replaces a spec
    except TailorkitError:
        draft.unlink()
        raise
    draft.replace(spec)
    out.print(
        f"wrote {spec} (solution {solution}); next: tailorkit validate --show, tailorkit run",
        markup=False,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "project"


def validate(
    spec: Path = SpecOption,
    show: bool = typer.Option(False, "--show", help="Print the resolved spec with defaults."),
    set_: list[str] = SetOption,
    check_data: bool = typer.Option(True, "--data/--no-data", help="Also read the data."),
    as_json: bool = JsonOption,
) -> None:
    """Check the spec (and that its data loads); --show prints it with every default."""
    from tailorkit.spec import dump_spec

    resolved = check_spec(spec, set_, check_data)
    if as_json:
        out.print_json(json.dumps(resolved))
    elif show:
        out.print(dump_spec(resolved), markup=False, highlight=False)
    else:
        out.print(f"{spec}: valid", markup=False)


def check_spec(spec: Path, overrides: list[str], check_data: bool = False) -> dict:
    """The resolved spec; with ``check_data``, its data loaded as a run would."""
    from tailorkit.solutions import get_solution
    from tailorkit.solutions.specs import load_spec

    parsed, resolved = load_spec(spec, overrides)
    if check_data:
        warnings, summary = get_solution(parsed.solution).describe_data(
            parsed, spec.resolve().parent
        )
        for warning in warnings:
            note(warning)
        say(summary)
    return resolved


def profile(
    spec: Path = SpecOption,
    new: str | None = typer.Option(None, "--new", help="New data to check for drift."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Report folder."),
    as_json: bool = JsonOption,
) -> None:
    """Write a data-quality report (HTML + JSON) per table: missing values, leakage, drift."""
    from tailorkit.data.io import read_table
    from tailorkit.data.profile import profile_table, write_profile_report
    from tailorkit.solutions import get_solution
    from tailorkit.solutions.specs import load_spec

    parsed, _ = load_spec(spec)
    base = spec.resolve().parent
    tables = get_solution(parsed.solution).profile_tables(parsed, base)
    folder = output or base / parsed.workspace / "reports" / parsed.name
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    for number, table in enumerate(tables):
        fresh = read_table(new, base_dir=Path.cwd()) if new and number == 0 else None
        result = profile_table(table.frame, target=table.target, new_frame=fresh, name=table.name)
        stem = "profile" if number == 0 else f"profile-{_slug(Path(table.name).stem)}"
        write_profile_report(result, folder / f"{stem}.html", folder / f"{stem}.json")
        results.append((table.name, result, folder / f"{stem}.html"))
    if as_json:
        out.print_json(json.dumps({name: result for name, result, _ in results}))
        return
    _print_issues(results)


def _print_issues(results: list) -> None:
    issues = [(name, issue) for name, result, _ in results for issue in result.get("issues", [])]
    table = Table(title=f"{len(issues)} data issues")
    for column in ("table", "severity", "column", "message"):
        table.add_column(column)
    for name, issue in issues[:40]:
        cells = [issue.get(k) for k in ("severity", "column", "message")]
        table.add_row(escape(Path(name).name), *[escape(str(c)) for c in cells])
    out.print(table)
    for number, (name, _, path) in enumerate(results):
        which = "" if number == 0 else f" ({Path(name).name})"
        out.print(f"profile report{which}: {path}", markup=False, highlight=False)
