"""``tailorkit requests compact``: delete old served-request records on demand (the service
does it every hour with ``--request-log-days``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer

from tailorkit.cli.common import DbUrlOption, WorkspaceOption, registry_of
from tailorkit.console import out

requests_app = typer.Typer(no_args_is_help=True, help="The served-request log.")


def parse_age(text: str) -> timedelta:
    """``30d`` or ``12h`` as a timedelta; anything else is a usage error naming the option."""
    from tailorkit.spec import duration_seconds

    try:
        return timedelta(seconds=duration_seconds(text, units="dh"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an age; use days or hours, e.g. 30d or 12h",
            param_hint="'--older-than'",
        ) from None


@requests_app.command("compact")
def compact(
    older_than: str = typer.Option(
        ..., "--older-than", help="Age of the records to delete: 30d (days) or 12h (hours)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count them; delete nothing."),
    workspace: Path | None = WorkspaceOption,
    db_url: str | None = DbUrlOption,
) -> None:
    """Delete served-request records older than --older-than, except those that feedback
    references or that are exposures of a running experiment."""
    from datetime import datetime, timezone

    from tailorkit.serve.events import EventStore

    age = parse_age(older_than)
    store = EventStore(registry_of(workspace, db_url))
    try:
        done = store.compact_requests(datetime.now(timezone.utc) - age, dry_run=dry_run)
    finally:
        store.close()
    verb = "would delete" if done.dry_run else "deleted"
    out.print(
        f"{verb} {done.deleted} served-request record(s) and {done.observations} observed "
        f"input row(s) from before "
        f"{done.before.isoformat(timespec='seconds')}; kept {done.kept} older one(s) that "
        "feedback or a running experiment needs",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
