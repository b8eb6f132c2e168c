"""``tailorkit alerts [PROJECT]``: the stored alert events and how their delivery went."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tailorkit.cli.common import DbUrlOption, JsonOption, WorkspaceOption, registry_of
from tailorkit.console import out


def alerts(
    project: str | None = typer.Argument(None, help="Only this project's alerts."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Newest alerts shown."),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
    as_json: bool = JsonOption,
) -> None:
    """Alerts raised by the spec's monitoring rules, newest first, with their delivery to the
    webhook (stored: no webhook; pending; delivered; failed, with the last error)."""
    from tailorkit.serve.events import EventStore

    registry = registry_of(workspace, db_url)
    store = EventStore(registry)
    try:
        rows = [alert.as_dict() for alert in store.alerts.list(project, limit=limit)]
    finally:
        store.close()
        registry.close()
    if as_json:
        out.print(json.dumps(rows), markup=False, highlight=False, soft_wrap=True)
        return
    if not rows:
        out.print(f"no alerts{f' for {project}' if project else ''}", markup=False)
        return
    table = Table(title="Alerts")
    for column in ("id", "at", "project", "rule", "severity", "message", "delivery"):
        table.add_column(column, overflow="fold")
    for row in rows:
        delivery = (
            f"{row['status']} ({row['attempts']} tries)" if row["attempts"] else row["status"]
        )
        if row["last_error"]:
            delivery += f": {row['last_error']}"
        at = row["at"][:19].replace("T", " ")
        cells = (row["id"], at, row["project"], row["rule"], row["severity"], row["message"])
        table.add_row(*[escape(str(c)) for c in (*cells, delivery)])
    out.print(table)
