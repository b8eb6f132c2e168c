"""``tailorkit recommend``: top-K items for users of a registered recommendation model.

The CLI loads this module at start-up: the command's body imports the heavy parts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from tailorkit.console import console, default_workspace, out
from tailorkit.errors import TailorkitError


def recommend(
    model: str = typer.Option(..., "--model", "-m", help="name@alias, name:version or name."),
    user: list[str] = typer.Option([], "--user", "-u", help="User id (repeatable)."),
    users: str | None = typer.Option(None, "--users", help="File with a user_id column."),
    k: int | None = typer.Option(None, "-k", "--k", help="How many items (default: spec)."),
    include_seen: bool = typer.Option(False, "--include-seen", help="Allow seen items."),
    items: str | None = typer.Option(
        None, "--items", help="Fresh item catalogue: re-apply the rules (e.g. stock)."
    ),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help="Workspace folder."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write CSV here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Top-K items for users of a registered recommendation model."""
    from tailorkit.registry import Registry, command_actor
    from tailorkit.solutions.recommendation.recommend import (
        Recommendations,
        read_users,
        write_rows,
    )

    if not user and not users:
        raise TailorkitError("give --user ID (repeatable) or --users FILE")
    if k is not None and k < 1:
        raise TailorkitError(f"-k must be at least 1 (got {k})")
    registry = Registry(workspace or default_workspace())
    version = registry.resolve(model, verify=True, actor=command_actor("recommend"))
    engine = Recommendations(version)
    if items:
        engine.refresh_rules(items)
    listed, given = read_users(users, engine) if users else ([], {})
    exclude = False if include_seen else None
    results, k_used = engine.for_users(list(user) + listed, k, exclude, given)
    catalogue = len(engine.item_ids)
    if k_used > catalogue:
        console.print(
            f"[yellow]warning:[/yellow] k={k_used} is larger than the catalogue "
            f"({catalogue} items); returning every eligible item"
        )
    for result in results:
        if result["note"]:
            console.print(f"[yellow]note:[/yellow] {escape(result['note'])}", highlight=False)
    if as_json:
        out.print_json(
            json.dumps(
                {"model": f"{version.project}:{version.version}", "k": k_used, "results": results}
            )
        )
        return
    if output or users:
        handle = open(output, "w", newline="") if output else sys.stdout
        try:
            write_rows(handle, results)
        finally:
            if output:
                handle.close()
        return
    for result in results:
        table = Table(title=f"user {result['user']}: top {k_used} ({result['source']})")
        for column in ("rank", "item_id", "title", "score"):
            table.add_column(column, justify="right" if column in ("rank", "score") else "left")
        for item in result["items"]:
            cells = (item["rank"], item["item_id"], item["title"], f"{item['score']:.4f}")
            table.add_row(*[escape(str(c)) for c in cells])
        out.print(table)


COMMANDS: tuple = (recommend,)
