"""The terminal: Rich consoles for results (stdout) and messages (stderr), verbosity, and the
default workspace a command works in."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

STATE: dict[str, Any] = {"debug": False, "quiet": False}
SPEC_FILE = "tailorkit.yaml"


def make_console(stderr: bool = False) -> Console:
    """A console that, writing to a file or pipe with no ``COLUMNS`` set, is 160 characters
    wide rather than rich's 80, so tables in logs keep their model names whole."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not (hasattr(stream, "isatty") and stream.isatty()) and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=160 if piped else None)


console = make_console(stderr=True)  # progress, notes, warnings, errors
out = make_console()  # results


def say(message: str) -> None:
    """A progress message on stderr, unless ``--quiet``. Messages are plain text: brackets in
    them (file names, columns such as ``[/x]``) are printed as they are, never as markup."""
    if not STATE["quiet"]:
        console.print(f"[dim]{escape(message)}[/dim]", highlight=False)


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)


def note(message: str) -> None:
    console.print(f"[yellow]note:[/yellow] {escape(message)}", highlight=False)


def default_workspace() -> Path:
    """The workspace of ``./tailorkit.yaml`` when it names one, else ``./.tailorkit``."""
    spec = Path(SPEC_FILE)
    if spec.exists():
        try:
            document = yaml.safe_load(spec.read_text(encoding="utf-8", errors="replace"))
        except yaml.YAMLError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("workspace"), str):
            return spec.resolve().parent / document["workspace"]
        if document is not None:
            return spec.resolve().parent / ".tailorkit"
    return Path(".tailorkit")
