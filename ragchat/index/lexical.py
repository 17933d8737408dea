"""The BM25 rows of a collection: written with one tokenizer version, never searched with another.

Each collection records in its meta the version of ragchat.index.tokenize its BM25 rows were
made with (`tokenizer`; collections written before version 2 have none and one column,
`chunks_fts`). A search refuses rows of another version (IndexMismatchError naming the
command): the query's tokens would not be the index's, and words would silently stop
matching. `ragchat ingest` brings the rows up to date before anything else, in one
transaction, from the chunks stored in SQLite: no document is read and nothing is embedded
again.
"""

from __future__ import annotations

import logging
import os
import shlex
import sqlite3

from ragchat.errors import IndexMismatchError
from ragchat.index import store
from ragchat.index.collection import Collection
from ragchat.index.tokenize import ANALYZER, VERSION, Fields

BATCH = 500

log = logging.getLogger("ragchat.index")


def version(meta: dict[str, str]) -> str:
    """The tokenizer version of the collection's BM25 rows ("1": written before it was
    recorded)."""
    return meta.get("tokenizer", "1")


def require_current(conn: sqlite3.Connection, collection: Collection) -> None:
    """Raise IndexMismatchError unless the rows were written by this tokenizer version
    (meta is read again: an ingest may have brought them up to date since)."""
    found = version(store.get_meta(conn))
    if found != VERSION:
        raise stale_error(collection, found, update_command(conn, collection.name))


def stale_error(collection: Collection, found: str, command: str) -> IndexMismatchError:
    return IndexMismatchError(
        f"the BM25 index of collection '{collection.name}' was written with tokenizer "
        f"version {found}; this ragchat searches version {VERSION} tokens",
        hint=f"update it with: {command} (it re-tokenizes the stored chunks: nothing is "
             f"read or embedded again)")


def update_command(conn: sqlite3.Connection, name: str) -> str:
    """`ragchat ingest FOLDER --collection NAME` with a folder the collection was built from
    (any one does: the update covers every chunk)."""
    folder = ingested_folder([path for path in store.files(conn)])
    where = shlex.quote(folder) if folder else "PATH"
    return f"ragchat ingest {where}" + ("" if name == "default" else f" --collection {name}")


def ingested_folder(paths: list[str]) -> str | None:
    """The deepest folder holding every stored file, or the first file's folder when that
    would be the file system's root."""
    if not paths:
        return None
    folders = [os.path.dirname(p) for p in paths]
    try:
        common = os.path.commonpath(folders)
    except ValueError:  # paths on different drives
        common = ""
    return common if common and os.path.dirname(common) != common else folders[0]


def add(conn: sqlite3.Connection, chunk_id: int, heading: str | None, text: str) -> Fields:
    """The BM25 row of one chunk (heading None: the heading is not indexed); returns its
    fields, for its file's row (add_file)."""
    fields = ANALYZER.fields(heading, text)
    store.insert_lexical(conn, [(chunk_id, fields.head, fields.body, fields.stems)])
    return fields


def add_file(conn: sqlite3.Connection, file_id: int,
             chunks: list[tuple[str | None, Fields]]) -> None:
    """The BM25 row of a whole file from its chunks' (heading or None, fields), in order."""
    if chunks:
        f = ANALYZER.file_fields(chunks)
        store.insert_lexical(conn, [(file_id, f.head, f.body, f.stems)], store.FILE_LEXICAL)


def upgrade(conn: sqlite3.Connection, headings: bool, refill: bool = True) -> int:
    """For ingest, holding the write lock: rows of another tokenizer version made again
    from the stored chunks (`refill` False: just removed, for a rebuild that replaces every
    chunk), in one transaction. Returns the number of rows written."""
    found = version(store.get_meta(conn))
    if found == VERSION:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"DROP TABLE IF EXISTS {store.OLD_LEXICAL}")
        conn.execute(f"DELETE FROM {store.LEXICAL}")
        conn.execute(f"DELETE FROM {store.FILE_LEXICAL}")
        written = _refill(conn, headings) if refill else 0
        store.set_meta(conn, tokenizer=VERSION)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if written:
        log.info("BM25 index updated from tokenizer version %s to %s: %d chunks", found,
                 VERSION, written)
    return written


def updated_notice(name: str, rows: int) -> str:
    return (f"the BM25 index of collection '{name}' was updated to tokenizer version "
            f"{VERSION}: {rows} chunks tokenized again (nothing was read or embedded again)")


def _refill(conn: sqlite3.Connection, headings: bool) -> int:
    """Every chunk's row and every file's, from the stored chunks (a file's come together)."""
    written = 0
    rows = store.chunk_texts(conn)
    file_id: int | None = None
    parts: list[tuple[str | None, Fields]] = []
    while batch := rows.fetchmany(BATCH):
        fields = []
        for i, heading, text, owner in batch:
            heading = heading if headings else None
            if owner != file_id:
                if file_id is not None:
                    add_file(conn, file_id, parts)
                file_id, parts = owner, []
            fields.append((i, ANALYZER.fields(heading, text)))
            parts.append((heading, fields[-1][1]))
        store.insert_lexical(conn, [(i, f.head, f.body, f.stems) for i, f in fields])
        written += len(batch)
    if file_id is not None:
        add_file(conn, file_id, parts)
    return written
