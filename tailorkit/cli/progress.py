"""Live progress for long commands: the latest step as a spinner line, and a Rich bar with
an ETA for every fold and epoch loop that reports to ``tailorkit.progress``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tailorkit import progress as loops
from tailorkit.console import console


class _Bars:
    """A ``tailorkit.progress`` listener drawing one bar per running loop."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[int, TaskID] = {}

    def start(self, key: int, description: str, total: int) -> None:
        self.tasks[key] = self.progress.add_task(description, total=total)

    def advance(self, key: int, steps: int = 1) -> None:
        if key in self.tasks:
            self.progress.advance(self.tasks[key], steps)

    def finish(self, key: int) -> None:
        task = self.tasks.pop(key, None)
        if task is not None:
            self.progress.remove_task(task)


@contextlib.contextmanager
def live_progress(enabled: bool = True) -> Iterator[Callable[[str], None] | None]:
    """Yields the ``progress(message)`` callback a run takes (``None`` when disabled); each
    message is printed once and shown as the current step; loops draw bars meanwhile."""
    if not enabled:
        yield None
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )

    def say(message: str) -> None:
        progress.console.print(f"[dim]{escape(message)}[/dim]", highlight=False)

    previous = loops.set_listener(_Bars(progress))
    try:
        with progress:
            yield say
    finally:
        loops.set_listener(previous)
