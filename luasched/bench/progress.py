"""A rich progress bar for the long parts of a run (shown only on a terminal)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Bar:
    """One task of a progress display."""

    def __init__(self, progress: Progress, description: str, total: float) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=total)

    def advance(self, amount: float) -> None:
        self._progress.advance(self._task, amount)

    def set(self, completed: float) -> None:
        self._progress.update(self._task, completed=completed)


@contextmanager
def bar(console: Console, description: str, total: float) -> Iterator[Bar]:
    """A transient progress bar on ``console``; silent when it is not a terminal."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        yield Bar(progress, description, total)
