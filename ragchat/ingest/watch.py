"""`ragchat ingest --watch`: keep a collection in step with its folders.

The folders are polled (a walk that only stats files, as the ingest's own scan does), which
works the same on every system and on network drives. When what the walk finds changes
(a file added, changed or removed), the watcher waits until two polls in a row agree (a file
still being copied or saved is not read half-written), then runs the ordinary incremental
ingest. Between runs the collection is not locked: `ask`, `search` and the chat read it
as usual. An ingest that finds another one writing the collection is reported and tried
again at the next poll; any other error ends the watch (a watched folder that is gone, an
embedding model that no longer matches).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragchat.config import Settings
from ragchat.errors import CollectionBusyError
from ragchat.ingest.walker import WalkReport, walk

Snapshot = dict[Path, tuple[int, int]]


def snapshot(roots: list[Path], max_bytes: int, follow_links: bool = False) -> Snapshot:
    """Every file the ingest would consider, with its size and modification time."""
    return {c.path: (c.size, c.mtime_ns)
            for c in walk(roots, max_bytes, WalkReport(), follow_links=follow_links)}


@dataclass(frozen=True)
class Change:
    """What a poll found different since the last ingest (counts of files)."""

    added: int
    changed: int
    removed: int

    def __str__(self) -> str:
        parts = [f"{n} {what}" for n, what in ((self.added, "added"), (self.changed, "changed"),
                                               (self.removed, "removed")) if n]
        return ", ".join(parts) or "no change"


def compare(before: Snapshot, after: Snapshot) -> Change:
    return Change(added=len(after.keys() - before.keys()),
                  changed=sum(1 for p in after.keys() & before.keys() if after[p] != before[p]),
                  removed=len(before.keys() - after.keys()))


def max_bytes(settings: Settings) -> int:
    return int(settings.max_file_mb * 1024 * 1024)


def watch(settings: Settings, roots: list[Path], *, since: Snapshot, interval: float,
          ingest: Callable[[], Any], on_report: Callable[[Change, Any], None],
          on_busy: Callable[[Change, CollectionBusyError], None],
          stop: threading.Event | None = None) -> None:
    """Poll `roots` every `interval` seconds until `stop` is set; after a change has settled,
    call `ingest()` and hand its report to `on_report` (or, when another ingest holds the
    collection, the error to `on_busy`). `since`: the snapshot taken before the last ingest
    of the same roots began, so that a change made while it ran is seen at the first poll."""
    stop = stop or threading.Event()
    limit = max_bytes(settings)
    indexed = since
    while not stop.wait(interval):
        now = snapshot(roots, limit, settings.follow_links)
        if now == indexed:
            continue
        while not stop.wait(interval):  # until two polls agree
            again = snapshot(roots, limit, settings.follow_links)
            if again == now:
                break
            now = again
        if stop.is_set():
            return
        change = compare(indexed, now)
        try:
            report = ingest()
        except CollectionBusyError as exc:
            on_busy(change, exc)  # `indexed` stays: the next poll tries again
            continue
        indexed = now
        on_report(change, report)
