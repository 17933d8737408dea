"""A damaged index: found, named with the command that fixes it, and set aside by a rebuild.

An index.sqlite that SQLite cannot read (overwritten, truncated, unreadable, not an index)
is never repaired in place. Every command that opens it stops with one IndexCorruptError that
names the rebuild command; `ragchat ingest PATH --rebuild` renames it, with its WAL files and
the vectors files of its generations, to `<name>.corrupt-<YYYYmmdd-HHMMSS>` beside it and
builds a new index in the same folder (so the write lock still holds off a second writer).
A missing or broken vectors file is not damage of that kind: it is derived from the vectors
stored in SQLite, so search rebuilds it in memory and the next ingest on disk.
"""

from __future__ import annotations

import contextlib
import shlex
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragchat.errors import IndexCorruptError
from ragchat.index import generations, lexical, store, vectors
from ragchat.index.collection import Collection

# SQLite errors that say nothing about the file: wait, free space or memory, or a read-only
# file system; a rebuild would not help.
TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_NOMEM", "SQLITE_INTERRUPT",
             "SQLITE_READONLY")
SIDECARS = ("", "-wal", "-shm", "-journal")
SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Problem:
    """What is wrong with a collection's index and the command that fixes it."""

    detail: str
    fix: str
    unreadable: bool  # the database itself: search, ask and ingest stop until it is rebuilt


def rebuild_command(name: str, roots: Sequence[Path] = ()) -> str:
    where = " ".join(shlex.quote(str(r)) for r in roots) or "PATH"
    return f"ragchat ingest {where} --rebuild --collection {name}"


def corrupt_error(collection: Collection, detail: str,
                  roots: Sequence[Path] = ()) -> IndexCorruptError:
    hint = f"set it aside and build a new one: {rebuild_command(collection.name, roots)}"
    if not roots:
        hint += " (PATH: the folders it was built from)"
    return IndexCorruptError(
        f"the index of collection '{collection.name}' cannot be read: {detail}", hint=hint)


def is_damage(exc: sqlite3.Error) -> bool:
    return not (getattr(exc, "sqlite_errorname", "") or "").startswith(TRANSIENT)


@contextlib.contextmanager
def translated(collection: Collection, roots: Sequence[Path] = ()) -> Iterator[None]:
    """SQLite's errors about a damaged file become one IndexCorruptError naming the fix."""
    try:
        yield
    except sqlite3.Error as exc:
        if not is_damage(exc):
            raise
        raise corrupt_error(collection, describe(collection.db_path, exc), roots) from exc


def describe(path: Path, exc: sqlite3.Error) -> str:
    """SQLite's message, and whether the file is shorter than its header says."""
    cut = _truncation(path)
    return f"{path.name}: {exc}" + (f" ({cut})" if cut else "")


def _truncation(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
        size = path.stat().st_size
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return None
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    expected = page_size * int.from_bytes(header[28:32], "big")
    if header[24:28] != header[92:96] or size >= expected:  # the page count is not valid
        return None
    return f"truncated: {size} of {expected} bytes"


def database_problem(collection: Collection, thorough: bool = True) -> str | None:
    """Why SQLite cannot use index.sqlite, or None. `thorough` adds PRAGMA quick_check
    (about 0.05 s per 36 MB, 10k chunks)."""
    path = collection.db_path
    try:
        conn = store.connect(path, readonly=True)
        try:
            if thorough:
                verdict = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
                if verdict != "ok":
                    return f"{path.name} is damaged ({verdict.splitlines()[-1]})"
            store.counts(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return describe(path, exc) if is_damage(exc) else None
    return None


def vectors_problem(collection: Collection) -> str | None:
    """Why the current generation's vectors file cannot be loaded, or None."""
    conn = store.connect(collection.db_path, readonly=True)
    try:
        meta = store.get_meta(conn)
    finally:
        conn.close()
    if int(meta.get("generation", "0")) == 0:
        return None  # nothing committed yet
    try:
        return generations.vectors_problem(collection.folder, meta)
    except OSError as exc:
        return f"the vectors file cannot be read ({exc.strerror or exc})"


def check(collection: Collection) -> Problem | None:
    """What `ragchat doctor` reports for a collection, or None when its index is sound."""
    ingest = f"ragchat ingest PATH --collection {collection.name}"
    if not collection.exists():
        return Problem("it has no index yet", ingest, False)
    detail = database_problem(collection)
    if detail:
        return Problem(detail, rebuild_command(collection.name), True)
    try:
        detail = vectors_problem(collection)
    except sqlite3.Error as exc:
        return Problem(describe(collection.db_path, exc), rebuild_command(collection.name), True)
    if detail:  # derived from the store: a plain ingest writes it again, reading nothing
        return Problem(f"{detail}; searches rebuild it in memory every time", ingest, False)
    return lexical_problem(collection)


def lexical_problem(collection: Collection) -> Problem | None:
    """BM25 rows of another tokenizer version (search refuses them), with the command that
    brings them up to date."""
    conn = store.connect(collection.db_path, readonly=True)
    try:
        found = lexical.version(store.get_meta(conn))
        if found == lexical.VERSION:
            return None
        command = lexical.update_command(conn, collection.name)
    finally:
        conn.close()
    return Problem(f"{lexical.stale_error(collection, found, command).message}; search "
                   "refuses it until it is updated", command, False)


def set_aside_if_damaged(collection: Collection) -> list[Path]:
    """For `ingest --rebuild`: set the index aside when SQLite cannot use it (quick_check
    included); returns where it went (nothing when there is no index or it is sound)."""
    path = collection.db_path
    if not (path.exists() or path.is_symlink()) or database_problem(collection) is None:
        return []
    return set_aside(collection)


def set_aside(collection: Collection) -> list[Path]:
    """Rename index.sqlite (with its WAL and journal files) and the vectors files beside it,
    with a time stamp; returns the new paths. The caller holds the write lock."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    db = collection.db_path
    while any(db.with_name(f"{db.name}.corrupt-{stamp}{s}").exists() for s in SIDECARS):
        stamp += "a"  # a second rebuild within the same second
    # SQLite pairs `<db>-wal` with `<db>`: the moved files keep that pairing.
    olds = [db.with_name(db.name + suffix) for suffix in SIDECARS]
    news = [db.with_name(f"{db.name}.corrupt-{stamp}{suffix}") for suffix in SIDECARS]
    for old in sorted(collection.folder.glob("vectors.*")):
        if vectors.is_generation_file(old):
            olds.append(old)
            news.append(old.with_name(f"{old.name}.corrupt-{stamp}"))
    moved = []
    try:
        for old, new in zip(olds, news):
            if old.exists() or old.is_symlink():
                moved.append(old.rename(new))
    except OSError as exc:
        raise IndexCorruptError(
            f"the damaged index of collection '{collection.name}' could not be moved aside "
            f"({exc.strerror or exc}: {exc.filename})",
            hint=f"make {collection.folder} writable, or remove the collection with: "
                 f"ragchat collections rm {collection.name}") from exc
    return moved


def collection_info(collection: Collection) -> dict:
    """Files, chunks and model of a collection; IndexCorruptError when it cannot be read."""
    with translated(collection):
        conn = store.connect(collection.db_path, readonly=True)
        try:
            meta = store.get_meta(conn)
            n_files, n_chunks = store.counts(conn)
        finally:
            conn.close()
    return {"name": collection.name, "files": n_files, "chunks": n_chunks,
            "embedding_model": meta.get("embedding_model", ""), "dim": int(meta.get("dim", 0)),
            "generation": int(meta.get("generation", 0)), "path": str(collection.folder)}
