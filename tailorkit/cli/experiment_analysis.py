"""``tailorkit experiments analyze`` and ``report``: read an experiment's result and its
decision, in the terminal or as an HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tailorkit.cli.common import DbUrlOption, WorkspaceOption, registry_of
from tailorkit.console import out
from tailorkit.errors import TailorkitError

ExperimentArgument = typer.Argument(..., help="The experiment's id (`experiments list`).")
PrimaryOption = typer.Option(
    None,
    "--primary",
    help="Metric deciding it: OUTCOME, NUM/DEN, ctr@K or hit_rate@K, each [:higher|lower] "
    "(default: the experiment's plan).",
)
GuardrailOption = typer.Option(
    [], "--guardrail", help="Metric the challenger must not worsen (as --primary; lower is better)."
)
MethodOption = typer.Option("sequential", "--method", help="sequential (peeking-safe) or fixed.")
MinUnitsOption = typer.Option(1000, "--min-units", min=2, help="Units per arm before ship.")
MinDurationOption = typer.Option(0.0, "--min-duration", min=0, help="Seconds before ship.")


def analyze(
    experiment_id: int = ExperimentArgument,
    primary: str | None = PrimaryOption,
    guardrail: list[str] = GuardrailOption,
    method: str = MethodOption,
    min_units: int = MinUnitsOption,
    min_duration: float = MinDurationOption,
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """SRM check, lift with its interval per metric, and the decision: ship, keep, continue or
    invalid. Without --primary the experiment's plan decides: the decision is stored, and an
    --auto-promote experiment acts on it."""
    from tailorkit.serve.experiment_data import experiment_analysis

    store, experiment = _experiment(experiment_id, workspace, db_url)
    if primary is None:
        from tailorkit.registry.actors import current_user
        from tailorkit.serve.experiment_decisions import conclude, planned_analysis

        planned = planned_analysis(store, experiment, method=method)
        result = conclude(store, experiment, actor=current_user(), result=planned)
    else:
        options = _options(experiment, primary, guardrail, min_units, min_duration)
        result = experiment_analysis(store, experiment, **options, method=method)
    if as_json:
        out.print(json.dumps(result), markup=False, highlight=False, soft_wrap=True)
        return
    _print_analysis(result)


def report(
    experiment_id: int = ExperimentArgument,
    primary: str | None = PrimaryOption,
    guardrail: list[str] = GuardrailOption,
    method: str = MethodOption,
    min_units: int = MinUnitsOption,
    min_duration: float = MinDurationOption,
    points: int = typer.Option(
        20, "--points", min=1, max=200, help="Looks in the lift-over-time plot."
    ),
    output: Path | None = typer.Option(
        None, "--out", "-o", help="The HTML file (default experiment-ID.html); JSON beside it."
    ),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
) -> None:
    """Write the experiment's report (HTML + JSON): its plan, the decision with its reason,
    SRM, units per arm, the metrics, the stored decisions, and the primary metric's lift over
    time with its confidence sequence. Read only: nothing is stored, nothing is promoted."""
    html_path = output or Path(f"experiment-{experiment_id}.html")
    if html_path.suffix.lower() != ".html":
        raise TailorkitError(f"--out {html_path}: name an .html file (the JSON goes beside it)")
    store, experiment = _experiment(experiment_id, workspace, db_url)
    options = _options(experiment, primary, guardrail, min_units, min_duration)
    from tailorkit.report.experiment_report import write_experiment_report  # lazy: matplotlib
    from tailorkit.serve.experiment_report_data import report_document

    document = report_document(store, experiment, **options, method=method, points=points)
    json_path = html_path.with_suffix(".json")
    write_experiment_report(document, html_path, json_path)
    analysis = document["analysis"]
    out.print(
        f"decision: {analysis['decision']} ({analysis['reason']})\n"
        f"experiment report: {html_path}\nJSON: {json_path}",
        markup=False,
        highlight=False,
    )


def _experiment(experiment_id: int, workspace: Path | None, db_url: str | None):
    """The event store and experiment ``experiment_id`` (a clear error when there is none)."""
    from tailorkit.serve.events import EventStore

    store = EventStore(registry_of(workspace, db_url))
    found = [e for e in store.experiments() if e.id == experiment_id]
    if not found:
        raise TailorkitError(f"no experiment {experiment_id} (see `tailorkit experiments list`)")
    return store, found[0]


def _options(experiment, primary: str | None, guardrails, min_units, min_duration) -> dict:
    """The metrics and rule to analyse by: those named with --primary, or the plan's."""
    from tailorkit.loop.decision import Rule
    from tailorkit.loop.experiment_analysis import parse_metric
    from tailorkit.serve.experiment_decisions import plan_options

    if primary is None:
        return plan_options(experiment)
    return {
        "primary": parse_metric(primary),
        "guardrails": [parse_metric(g, guardrail=True) for g in guardrails],
        "rule": Rule(min_units=min_units, min_duration_s=min_duration),
    }


def _print_analysis(result: dict) -> None:
    units = ", ".join(f"{arm} {n}" for arm, n in result["units"].items())
    srm = result["srm_p_value"]
    shadow = result.get("mode") == "shadow"
    out.print(
        f"experiment {result['experiment']} ({escape(result['project'])}, {result['status']}): "
        + (
            f"shadow comparison on {next(iter(result['units'].values()), 0)} labelled cases"
            if shadow
            else f"units {escape(units)}; SRM p = {'-' if srm is None else f'{srm:.3g}'}"
        )
    )
    table = Table(title=f"{result['method']} {'paired ' if shadow else ''}analysis")
    for column in ("metric", "role", "champion", "challenger", "lift", "interval", "p"):
        table.add_column(column)
    for m in result["metrics"]:
        champion, challenger = m["arm_values"].values()
        relative = m["lift"] is not None and m["ci_low"] is not None
        table.add_row(
            escape(m["name"]),
            m["role"],
            f"{champion:.4g}",
            f"{challenger:.4g}",
            f"{m['lift']:+.2%}" if m["lift"] is not None else "-",
            f"[{m['ci_low']:+.2%}, {m['ci_high']:+.2%}]"
            if relative
            else f"diff [{m['diff_ci_low']:+.3g}, {m['diff_ci_high']:+.3g}]",
            "-" if m["p_value"] is None else f"{m['p_value']:.3g}",
        )
    out.print(table)
    for warning in result.get("warnings", []):
        out.print(f"warning: {escape(warning)}")
    out.print(f"decision: [bold]{result['decision']}[/bold] — {escape(result['reason'])}")
    if result.get("action"):
        out.print(f"action: {result['action']} (`tailorkit experiments list` shows the status)")
