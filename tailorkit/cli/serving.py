"""Serving commands: ``serve``, ``tenants ...``, ``operators ...``, ``experiments ...``.
Heavy imports (FastAPI, SQLAlchemy, the models) happen inside the commands, so ``tailorkit
--help`` stays fast."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tailorkit.cli.common import DbUrlOption, WorkspaceOption, registry_of
from tailorkit.cli.experiment_analysis import analyze, report
from tailorkit.console import default_workspace, out
from tailorkit.console import say as _note
from tailorkit.errors import TailorkitError
from tailorkit.optional import require

tenants_app = typer.Typer(no_args_is_help=True, help="Client companies and their API keys.")
operators_app = typer.Typer(
    no_args_is_help=True, help="Operators' keys: /metrics and the details of /readyz."
)
experiments_app = typer.Typer(no_args_is_help=True, help="A/B and shadow experiments.")


def _registry(workspace: Path | None, db_url: str | None):
    return registry_of(workspace, db_url)


def _store(workspace: Path | None, db_url: str | None):
    from tailorkit.serve.events import EventStore

    return EventStore(_registry(workspace, db_url))


def _print(text: str) -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------- serve
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface (0.0.0.0 in a container)."),
    port: int = typer.Option(8000, "--port", "-p", min=1, max=65535, help="TCP port (1-65535)."),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
    max_rows: int = typer.Option(1000, "--max-rows", help="Rows allowed per predict request."),
    max_body: int = typer.Option(1_000_000, "--max-body-bytes", help="Request body limit."),
    poll: float = typer.Option(2.0, "--poll", help="Seconds between alias checks (hot swap)."),
    max_wait_ms: float = typer.Option(
        0.0, "--max-wait-ms", help="Extra wait to grow micro-batches (0: batch what queued)."
    ),
    turn_ms: float = typer.Option(
        10.0, "--turn-ms", help="Model time per scoring turn; larger requests are split."
    ),
    tenant_rate: float = typer.Option(
        5000.0, "--tenant-rate", help="Requests per second per tenant (0: no limit)."
    ),
    tenant_burst: int = typer.Option(10_000, "--tenant-burst", help="Burst above the rate."),
    tenant_queued_rows: int = typer.Option(
        50_000, "--tenant-queued-rows", help="Rows one tenant may have waiting (0: no quota)."
    ),
    decide_every: float = typer.Option(
        60.0, "--decide-every", min=0, help="Seconds between experiment decisions (0: never)."
    ),
    monitor_every: float = typer.Option(
        600.0, "--monitor-every", min=0, help="Seconds between drift and alert checks (0: never)."
    ),
    monitor_window: str = typer.Option(
        "24h", "--monitor-window", help="The newest observed rows checked: 30m, 24h, 7d."
    ),
    request_log_days: int = typer.Option(
        30, "--request-log-days", min=0, help="Days served-request records are kept (0: forever)."
    ),
    observe_rate: list[str] = typer.Option(
        [],
        "--observe-rate",
        help="Share of requests whose input rows are stored for monitoring: RATE for every "
        "project or PROJECT=RATE, repeatable (default 1.0; 0: none).",
    ),
    observe_cap: int = typer.Option(
        10_000, "--observe-cap", min=0, help="Observed rows per project per hour (0: no cap)."
    ),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run the HTTP model service (OpenAPI at /docs; /metrics with an operator key)."""
    import logging

    from tailorkit.serve import SERVICE_MODULES

    require(*SERVICE_MODULES, "uvicorn", extra="serve", feature="tailorkit serve")
    import uvicorn

    from tailorkit.loop.monitoring.window import parse_window
    from tailorkit.serve.app import ServiceSettings, create_app

    parse_window(monitor_window, field="--monitor-window")  # a mistake stops here, named

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    settings = ServiceSettings(
        workspace=workspace or default_workspace(),
        db_url=db_url,
        max_body_bytes=max_body,
        max_rows=max_rows,
        poll_interval=poll,
        max_wait_ms=max_wait_ms,
        turn_ms=turn_ms,
        tenant_rate=tenant_rate,
        tenant_burst=tenant_burst,
        tenant_queued_rows=tenant_queued_rows,
        request_log_days=request_log_days,
        decide_every_s=decide_every,
        monitor_every_s=monitor_every,
        monitor_window=monitor_window,
        observe_cap_per_hour=observe_cap,
        **_observe_rates(observe_rate),
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, access_log=False)


def _observe_rates(values: list[str]) -> dict:
    """``--observe-rate`` values (``RATE`` or ``PROJECT=RATE``) as settings; a bad one is a
    usage error naming it."""
    rate, rates = 1.0, {}
    for value in values:
        project, _, text = value.rpartition("=")
        try:
            number = float(text)
        except ValueError:
            number = -1.0
        if not 0.0 <= number <= 1.0:
            raise typer.BadParameter(
                f"{value!r}: give RATE or PROJECT=RATE with RATE between 0 and 1",
                param_hint="--observe-rate",
            )
        if project:
            rates[project] = number
        else:
            rate = number
    return {"observe_rate": rate, "observe_rates": rates}


# ---------------------------------------------------------------------------- tenants
@tenants_app.command("create")
def tenants_create(
    name: str = typer.Argument(..., help="Tenant (client company) name, e.g. acme."),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
) -> None:
    """Create a tenant and print its API key once (only a salted hash is stored)."""
    key = _store(workspace, db_url).create_tenant(name)
    _print(key)
    _note(f"tenant '{name}' created; keep this key: it is not shown again")


@tenants_app.command("rotate-key")
def tenants_rotate(
    name: str = typer.Argument(...),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
) -> None:
    """Replace a tenant's API key (the old one stops working within seconds)."""
    _print(_store(workspace, db_url).rotate_key(name))


@tenants_app.command("grant")
def tenants_grant(
    name: str = typer.Argument(...),
    project: str = typer.Argument(...),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
) -> None:
    """Give a project to a tenant (a project belongs to one tenant)."""
    _store(workspace, db_url).grant(name, project)
    _note(f"project '{project}' now belongs to tenant '{name}'")


@tenants_app.command("revoke")
def tenants_revoke(
    name: str = typer.Argument(...),
    project: str = typer.Argument(...),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
) -> None:
    """Take a project away from a tenant."""
    _store(workspace, db_url).revoke(name, project)
    _note(f"project '{project}' no longer belongs to tenant '{name}'")


@tenants_app.command("list")
def tenants_list(
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Tenants, their key ids (never the keys) and projects."""
    rows = _store(workspace, db_url).tenants()
    if as_json:
        _print(json.dumps(rows))
        return
    table = Table(title="Tenants")
    for column in ("tenant", "key id", "projects", "created"):
        table.add_column(column)
    for row in rows:
        cells = (row["name"], row["key_id"], ", ".join(row["projects"]), row["created_at"])
        table.add_row(*[escape(c) for c in cells])
    out.print(table)


# ---------------------------------------------------------------------------- operators
@operators_app.command("create")
def operators_create(
    name: str = typer.Argument(..., help="Operator name, e.g. prometheus or oncall."),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
) -> None:
    """Create an operator and print its key once (tko_...; only a salted hash is stored)."""
    _print(_store(workspace, db_url).operators.create(name))
    _note(f"operator '{name}' created; keep this key: it is not shown again")


@operators_app.command("rotate-key")
def operators_rotate(
    name: str = typer.Argument(...),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
) -> None:
    """Replace an operator's key (the old one stops working within seconds)."""
    _print(_store(workspace, db_url).operators.rotate_key(name))


@operators_app.command("remove")
def operators_remove(
    name: str = typer.Argument(...),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
) -> None:
    """Delete an operator; its key stops working within seconds."""
    _store(workspace, db_url).operators.remove(name)
    _note(f"operator '{name}' removed")


@operators_app.command("list")
def operators_list(
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Operators and their key ids (never the keys)."""
    rows = _store(workspace, db_url).operators.operators()
    if as_json:
        _print(json.dumps(rows))
        return
    table = Table(title="Operators")
    for column in ("operator", "key id", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(*[escape(row[c]) for c in ("name", "key_id", "created_at")])
    out.print(table)


# ---------------------------------------------------------------------------- experiments
@experiments_app.command("create")
def experiments_create(
    project: str = typer.Argument(...),
    arm: list[str] = typer.Option(
        ...,
        "--arm",
        help="alias=weight, repeat; weights sum to 1 (--arm champion=0.9 --arm challenger=0.1).",
    ),
    shadow: bool = typer.Option(
        False, "--shadow", help="First arm answers; the second is scored silently."
    ),
    name: str | None = typer.Option(None, "--name"),
    primary: str | None = typer.Option(
        None, "--primary", help="Feedback outcome that decides it: NAME[:higher|lower]."
    ),
    guardrail: list[str] = typer.Option([], "--guardrail", help="NAME[:lower|higher], repeat."),
    min_units: int = typer.Option(1000, "--min-units", help="Units per arm before a ship."),
    min_duration: float = typer.Option(0.0, "--min-duration", help="Seconds before a ship."),
    auto_promote: bool = typer.Option(
        False, "--auto-promote", help="On ship move the champion alias; on a breach stop."
    ),
    latency_tolerance: float = typer.Option(
        0.2, "--latency-tolerance", help="How much higher the challenger's p99 may be (0.2: +20%)."
    ),
    fairness_tolerance: float = typer.Option(
        0.05, "--fairness-tolerance", help="How much larger its demographic parity gap may be."
    ),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
) -> None:
    """Start an experiment: split traffic between aliases by a stable hash of the unit id."""
    from tailorkit.loop.experiment_analysis import parse_metric
    from tailorkit.serve.records import ExperimentPlan

    arms = [_parse_arm(text, shadow) for text in arm]
    if primary is None and (guardrail or auto_promote):
        raise TailorkitError("--guardrail and --auto-promote need --primary OUTCOME")
    plan = None
    if primary is not None:
        for text in (primary, *guardrail):  # a bad NAME:direction fails here, not later
            parse_metric(text, guardrail=text is not primary)
        plan = ExperimentPlan(
            primary,
            tuple(guardrail),
            min_units,
            min_duration,
            auto_promote,
            latency_tolerance,
            fairness_tolerance,
        )
    experiment = _store(workspace, db_url).create_experiment(
        project, arms, mode="shadow" if shadow else "split", name=name, plan=plan
    )
    _print(json.dumps(experiment.as_dict()))


@experiments_app.command("list")
def experiments_list(
    project: str | None = typer.Argument(None),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Experiments with units, exposures and feedback per arm."""
    store = _store(workspace, db_url)
    rows = [
        {**e.as_dict(), "arms_summary": store.experiment_summary(e.id)}
        for e in store.experiments(project)
    ]
    if as_json:
        _print(json.dumps(rows))
        return
    table = Table(title="Experiments")
    for column in ("id", "project", "name", "mode", "arms", "status", "units / exposures"):
        table.add_column(column)
    for row in rows:
        arms = ", ".join(f"{a['alias']}={a['weight']:g}" for a in row["arms"])
        counts = ", ".join(
            f"{arm}: {c['units']}/{c['exposures']}" for arm, c in row["arms_summary"].items()
        )
        cells = (row["id"], row["project"], row["name"], row["mode"], arms, row["status"], counts)
        table.add_row(*[escape(str(c)) for c in cells])
    out.print(table)


@experiments_app.command("stop")
def experiments_stop(
    experiment_id: int = typer.Argument(...),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
) -> None:
    """Stop an experiment: traffic goes back to the champion."""
    experiment = _store(workspace, db_url).stop_experiment(experiment_id)
    _print(json.dumps(experiment.as_dict()))


def _parse_arm(text: str, shadow: bool):
    from tailorkit.serve.events import Arm

    alias, separator, weight = text.partition("=")
    if not separator and shadow:
        return Arm(alias.strip(), 1.0)
    try:
        return Arm(alias.strip(), float(weight))
    except ValueError:
        raise TailorkitError(
            f"--arm {text!r} must look like alias=weight (e.g. champion=0.9)"
        ) from None


def register(app: typer.Typer) -> None:
    """Add the serving commands to the main CLI."""
    app.command("serve")(serve)
    app.add_typer(tenants_app, name="tenants")
    app.add_typer(operators_app, name="operators")
    experiments_app.command("analyze")(analyze)
    experiments_app.command("report")(report)
    app.add_typer(experiments_app, name="experiments")
