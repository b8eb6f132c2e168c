"""``tailorkit experiments analyze``: read an experiment's result and its decision."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tailorkit.cli.common import DbUrlOption, WorkspaceOption, registry_of
from tailorkit.console import out
from tailorkit.errors import TailorkitError


def analyze(
    experiment_id: int = typer.Argument(..., help="The experiment's id (`experiments list`)."),
    primary: str | None = typer.Option(
        None,
        "--primary",
        help="Feedback outcome deciding it: NAME[:higher|lower] (default: the experiment's plan).",
    ),
    guardrail: list[str] = typer.Option(
        [], "--guardrail", help="Outcome the challenger must not worsen: NAME[:lower|higher]."
    ),
    method: str = typer.Option(
        "sequential", "--method", help="sequential (peeking-safe) or fixed."
    ),
    min_units: int = typer.Option(1000, "--min-units", min=2, help="Units per arm before ship."),
    min_duration: float = typer.Option(0.0, "--min-duration", min=0, help="Seconds before ship."),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """SRM check, lift with its interval per metric, and the decision: ship, keep, continue or
    invalid. Without --primary the experiment's plan decides: the decision is stored, and an
    --auto-promote experiment acts on it."""
    from tailorkit.loop.decision import Rule
    from tailorkit.loop.experiment_analysis import parse_metric
    from tailorkit.serve.events import EventStore
    from tailorkit.serve.experiment_data import experiment_analysis

    store = EventStore(registry_of(workspace, db_url))
    found = [e for e in store.experiments() if e.id == experiment_id]
    if not found:
        raise TailorkitError(f"no experiment {experiment_id} (see `tailorkit experiments list`)")
    if primary is None:
        from tailorkit.registry.actors import current_user
        from tailorkit.serve.experiment_decisions import conclude, planned_analysis

        planned = planned_analysis(store, found[0], method=method)
        result = conclude(store, found[0], actor=current_user(), result=planned)
    else:
        result = experiment_analysis(
            store,
            found[0],
            primary=parse_metric(primary),
            guardrails=[parse_metric(g, guardrail=True) for g in guardrail],
            rule=Rule(min_units=min_units, min_duration_s=min_duration),
            method=method,
        )
    if as_json:
        out.print(json.dumps(result), markup=False, highlight=False, soft_wrap=True)
        return
    _print_analysis(result)


def _print_analysis(result: dict) -> None:
    units = ", ".join(f"{arm} {n}" for arm, n in result["units"].items())
    srm = result["srm_p_value"]
    out.print(
        f"experiment {result['experiment']} ({escape(result['project'])}, {result['status']}): "
        f"units {escape(units)}; SRM p = {'-' if srm is None else f'{srm:.3g}'}"
    )
    table = Table(title=f"{result['method']} analysis")
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
