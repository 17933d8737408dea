"""Progress bars on a terminal (stderr), silence otherwise."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ragchat.progress import Progress

if TYPE_CHECKING:
    from rich.progress import TaskID


class TerminalProgress(Progress):
    """A Progress used as a context manager; this one shows nothing (no terminal, or quiet)."""

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class RichProgress(TerminalProgress):
    """One bar per stage, with counts, rate and ETA."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from ragchat.cli.terminal import console

        self.bar = Progress(
            SpinnerColumn(), TextColumn("{task.description:<24}"), BarColumn(),
            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=console(stderr=True), transient=False,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()
        self.bar.stop()

    def _finish(self) -> None:
        if self.task is not None:
            task = self.bar.tasks[-1]
            if task.total is None:
                self.bar.update(self.task, total=max(task.completed, 1), completed=max(task.completed, 1))
            self.bar.stop_task(self.task)

    def stage(self, name: str, total: int | None) -> None:
        from ragchat.cli.terminal import markup

        self._finish()
        self.task = self.bar.add_task(markup(name), total=total)  # the column reads markup

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)


def progress_for_terminal(quiet: bool = False) -> TerminalProgress:
    if not quiet and sys.stderr.isatty():
        return RichProgress()
    return TerminalProgress()
