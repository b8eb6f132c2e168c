"""The ``tailorkit`` entry point: the Typer app, global options, one-line user errors.

User mistakes print one line and exit 2 (a failed gate with ``--enforce``: 1); ``--debug``
shows the traceback. ``--debug`` and ``--quiet`` work before or after the subcommand.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer
from rich.markup import escape

from tailorkit import __version__
from tailorkit.cli import (
    alerts,
    compression,
    project,
    registry_commands,
    request_log,
    runs,
    serving,
)
from tailorkit.console import STATE, console
from tailorkit.errors import TailorkitError
from tailorkit.solutions import command_modules

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Customized models from your own data: train, evaluate, gate, register, serve.",
)
GLOBAL_FLAGS = {"--debug": "debug", "--quiet": "quiet", "-q": "quiet"}


def _version(value: bool) -> None:
    if value:
        print(f"tailorkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only results."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    STATE["debug"] = STATE["debug"] or debug
    STATE["quiet"] = STATE["quiet"] or quiet


for module, names in (
    (project, ("init", "validate", "profile")),
    (runs, ("run", "report", "demo")),
    (registry_commands, ("predict", "models", "promote", "audit", "sign")),
    (compression, ("compress", "export")),
    (alerts, ("alerts",)),
):
    for name in names:
        app.command(name)(getattr(module, name))
serving.register(app)
app.add_typer(request_log.requests_app, name="requests")
for name in command_modules():  # a solution's extra commands (e.g. `recommend`)
    for command in importlib.import_module(name).COMMANDS:
        app.command()(command)


def take_global_flags(argv: list[str]) -> list[str]:
    """``argv`` without ``--debug`` / ``--quiet`` (wherever they stand, before a ``--``),
    which are set in ``STATE`` instead."""
    kept: list[str] = []
    for position, argument in enumerate(argv):
        if argument == "--":
            return kept + argv[position:]
        if argument in GLOBAL_FLAGS:
            STATE[GLOBAL_FLAGS[argument]] = True
        else:
            kept.append(argument)
    return kept


def main() -> None:
    """Entry point: user errors are one line on stderr and exit code 2 (gates: 1)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    arguments = take_global_flags(sys.argv[1:])
    try:
        app(args=arguments, prog_name="tailorkit", standalone_mode=False)
    except TailorkitError as error:
        if STATE["debug"]:
            raise
        # escaped: messages hold brackets ('tailorkit[serve]', 'parity[sex]'), not markup
        console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
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
            console.print(f"[red]error:[/red] {escape(error.format_message())}", highlight=False)
        sys.exit(error.exit_code)
