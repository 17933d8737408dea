"""Progress: told about long work as it goes (ingest, bench, eval). The CLI draws bars
(ragchat/cli/progress.py); tests and scripts use this silent base."""

from __future__ import annotations


class Progress:
    """One stage after another, each with an optional total, advanced as work is done."""

    def stage(self, name: str, total: int | None) -> None: ...

    def advance(self, n: int = 1) -> None: ...
