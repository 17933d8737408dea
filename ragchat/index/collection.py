"""A collection on disk: its folder, its SQLite store, its write lock."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ragchat import paths
from ragchat.errors import CollectionBusyError, IndexMissingError, UsageError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Collection:
    name: str
    folder: Path

    @property
    def db_path(self) -> Path:
        return self.folder / "index.sqlite"

    @property
    def lock_path(self) -> Path:
        return self.folder / "write.lock"

    def exists(self) -> bool:
        return self.db_path.is_file()


def get_collection(name: str) -> Collection:
    if not NAME.match(name):
        raise UsageError(
            f"invalid collection name {name!r}",
            hint="use letters, digits, '.', '_' or '-' (at most 64 characters)",
        )
    return Collection(name, paths.collection_dir(name))


def require_existing(name: str) -> Collection:
    collection = get_collection(name)
    if not collection.exists():
        raise missing_error(name)
    return collection


def missing_error(name: str) -> IndexMissingError:
    """No collection `name`: did the user mean another one (a typo), which ones there are,
    and the command that makes this one."""
    make = f"ragchat ingest PATH{'' if name == 'default' else ' --collection ' + name}"
    names = collection_names()
    if not names:
        return IndexMissingError(f"collection '{name}' has no index yet", hint=f"run: {make}")
    near = near_miss(name, names)
    guess = f"; did you mean '{near}'?" if near else ""
    use = f"--collection {near} uses it" if near else "--collection NAME uses one of them"
    return IndexMissingError(f"collection '{name}' has no index yet{guess}",
                             hint=f"collections: {listed(names)}; {use}, or {make} makes this one")


def near_miss(name: str, names: list[str]) -> str | None:
    """The existing collection `name` is most likely a typo of ('llms' for 'llm'), or None."""
    import difflib

    if name in names:
        return None
    lowered = {n.lower(): n for n in names}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.75)
    return lowered[close[0]] if close else None


def listed(names: list[str], most: int = 10) -> str:
    """Names for one line: the first `most`, then how many more."""
    more = len(names) - most
    return ", ".join(names[:most]) + (f" and {more} more (`ragchat collections`)"
                                      if more > 0 else "")


def collection_names() -> list[str]:
    return [c.name for c in list_collections()]


def list_collections() -> list[Collection]:
    root = paths.collections_dir()
    if not root.is_dir():
        return []
    found = [get_collection(p.name) for p in sorted(root.iterdir()) if NAME.match(p.name)]
    return [c for c in found if c.exists()]


class WriteLock:
    """One writer per collection; a second one is refused at once, never waits or corrupts.

    The OS releases the lock when the process dies (even by SIGKILL)."""

    def __init__(self, collection: Collection) -> None:
        from filelock import FileLock

        collection.folder.mkdir(parents=True, exist_ok=True)
        self.collection = collection
        self.lock = FileLock(str(collection.lock_path), timeout=0)

    def __enter__(self) -> WriteLock:
        from filelock import Timeout

        try:
            self.lock.acquire()
        except Timeout:
            raise CollectionBusyError(
                f"another ragchat process is writing collection '{self.collection.name}'",
                hint="wait for that ingest to finish (or stop it), then run this again",
            ) from None
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()


def remove_collection(name: str) -> None:
    collection = require_existing(name)
    with WriteLock(collection):
        remove_files(collection)
    remove_folder(collection)


def remove_files(collection: Collection) -> None:
    """Everything in the collection's folder but its lock (call it holding the lock)."""
    for child in collection.folder.iterdir():
        if child.name != "write.lock":
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def remove_folder(collection: Collection) -> None:
    """The lock file and the folder, once emptied (after the lock is released)."""
    try:
        os.unlink(collection.lock_path)
        collection.folder.rmdir()
    except OSError:
        pass
