"""SQLite store of one collection: files, chunks, the BM25 index (FTS5) and the vectors.

The vectors table is keyed by a hash of the text that was embedded, so it doubles as an
embedding cache: an interrupted ingest keeps what it embedded, and the hnswlib file can
always be rebuilt from it. Chunks with the same text share one vector key; the hnswlib index
holds each key once, under its representative: the smallest id of the chunks that share it.

SQLite's errors about a damaged file pass through; `ragchat.index.health` turns them into
one IndexCorruptError that names the collection and the rebuild command.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCHEMA_VERSION = "1"
# The BM25 index (ragchat.index.tokenize: the columns and their tokens). `_` is a token
# character: identifiers are indexed whole as `follow_redirects`, `v_model`. Indexes written
# before tokenizer version 2 have one column of words and bigrams, `chunks_fts(tokens)`.
LEXICAL = "lexical"
# The same columns for whole files (rowid = files.id): a file's headings in `head`, all its
# text in `body`; searched as a third list (ragchat.index.search.FILE_WEIGHT).
FILE_LEXICAL = "file_lexical"
LEXICAL_COLUMNS = "(head, body, stems, tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\")"
OLD_LEXICAL = "chunks_fts"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT UNIQUE NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    n_chunks INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id),
    ord INTEGER NOT NULL,
    text TEXT NOT NULL,
    heading TEXT,
    start_line INTEGER,
    end_line INTEGER,
    page INTEGER,
    vec_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks(file_id);
CREATE INDEX IF NOT EXISTS chunks_by_vec ON chunks(vec_key);
CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL);
""" + f"CREATE VIRTUAL TABLE IF NOT EXISTS {LEXICAL} USING fts5{LEXICAL_COLUMNS};\n" \
    + f"CREATE VIRTUAL TABLE IF NOT EXISTS {FILE_LEXICAL} USING fts5{LEXICAL_COLUMNS};\n"
# Columns added after the first release: (table, column, type). Writers add them when missing;
# readers of an older index see None.
ADDED_COLUMNS = (
    ("chunks", "place", "TEXT"),  # "slide 3", "sheet Sales, A2:D40", "section 2"
    ("files", "info", "TEXT"),  # JSON: what the reader made of the file (units, problems, OCR)
)


@dataclass(frozen=True)
class FileRow:
    id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str
    info: str | None = None


@dataclass(frozen=True)
class ChunkRow:
    id: int
    path: str
    text: str
    heading: str | None
    start_line: int | None
    end_line: int | None
    page: int | None
    place: str | None = None


def vec_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open (and for writers create) the store. WAL lets searches read while an ingest writes.
    Raises sqlite3.Error when the file cannot be read."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30,
                               check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            _add_columns(conn)
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        conn.execute("SELECT count(*) FROM meta").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _add_columns(conn: sqlite3.Connection) -> None:
    for table, column, kind in ADDED_COLUMNS:
        if not has_column(conn, table, column):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def get_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def set_meta(conn: sqlite3.Connection, **values: object) -> None:
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                     [(k, str(v)) for k, v in values.items()])


def files(conn: sqlite3.Connection) -> dict[str, FileRow]:
    info = "info" if has_column(conn, "files", "info") else "NULL"
    rows = conn.execute(f"SELECT id, path, size, mtime_ns, sha256, {info} FROM files").fetchall()
    return {r[1]: FileRow(*r) for r in rows}


def known_vector_keys(conn: sqlite3.Connection, keys: Iterable[str]) -> set[str]:
    keys = list(keys)
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        batch = keys[start:start + 500]
        marks = ",".join("?" * len(batch))
        found.update(r[0] for r in conn.execute(
            f"SELECT key FROM vectors WHERE key IN ({marks})", batch))
    return found


def save_vectors(conn: sqlite3.Connection, keys: list[str], vectors: np.ndarray) -> None:
    """Commit embeddings at once: they are valid whatever happens to the ingest."""
    with conn:
        conn.execute("BEGIN")
        conn.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?)",
                         [(k, v.astype(np.float32).tobytes()) for k, v in zip(keys, vectors)])


def load_vectors(conn: sqlite3.Connection, keys: list[str], dim: int) -> np.ndarray:
    out = np.zeros((len(keys), dim), dtype=np.float32)
    where = {k: i for i, k in enumerate(keys)}
    unique = list(where)
    for start in range(0, len(unique), 500):
        batch = unique[start:start + 500]
        marks = ",".join("?" * len(batch))
        for key, blob in conn.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", batch):
            out[where[key]] = np.frombuffer(blob, dtype=np.float32)
    for i, key in enumerate(keys):  # duplicates of one text share a key
        if where[key] != i:
            out[i] = out[where[key]]
    return out


def chunk_keys_of(conn: sqlite3.Connection, file_id: int) -> list[tuple[int, str]]:
    """(chunk id, vector key) of a file's chunks."""
    return conn.execute("SELECT id, vec_key FROM chunks WHERE file_id = ?", (file_id,)).fetchall()


def delete_file(conn: sqlite3.Connection, file_id: int) -> list[int]:
    ids = [i for i, _ in chunk_keys_of(conn, file_id)]
    conn.executemany(f"DELETE FROM {LEXICAL} WHERE rowid = ?", [(i,) for i in ids])
    conn.execute(f"DELETE FROM {FILE_LEXICAL} WHERE rowid = ?", (file_id,))
    conn.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
    conn.execute("DELETE FROM files WHERE id = ?", (file_id,))
    return ids


def all_chunk_vec_keys(conn: sqlite3.Connection) -> Iterator[tuple[int, str]]:
    yield from conn.execute("SELECT id, vec_key FROM chunks ORDER BY id")


def representatives(conn: sqlite3.Connection, keys: Iterable[str]) -> dict[str, int]:
    """Vector key -> the smallest id of the chunks that have it (keys no chunk has: absent)."""
    keys = list(keys)
    out: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        batch = keys[start:start + 500]
        marks = ",".join("?" * len(batch))
        out.update((k, i) for k, i in conn.execute(
            f"SELECT vec_key, min(id) FROM chunks WHERE vec_key IN ({marks}) GROUP BY vec_key",
            batch))
    return out


def representatives_all(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """(representative chunk id, vector key) of every distinct vector key, by id."""
    return conn.execute(
        "SELECT min(id), vec_key FROM chunks GROUP BY vec_key ORDER BY 1").fetchall()


def distinct_vectors(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(DISTINCT vec_key) FROM chunks").fetchone()[0]


def siblings(conn: sqlite3.Connection, ids: list[int]) -> dict[int, list[int]]:
    """Chunk id -> the ids of every chunk with the same vector key (itself included), by id."""
    out: dict[int, list[int]] = {}
    for start in range(0, len(ids), 500):
        batch = ids[start:start + 500]
        marks = ",".join("?" * len(batch))
        for rep, other in conn.execute(
                f"SELECT r.id, c.id FROM chunks r JOIN chunks c ON c.vec_key = r.vec_key "
                f"WHERE r.id IN ({marks}) ORDER BY r.id, c.id", batch):
            out.setdefault(rep, []).append(other)
    return out


def chunk_texts(conn: sqlite3.Connection) -> sqlite3.Cursor:
    """(id, heading, text, file id) of every chunk, a file's together in order (fetch in
    batches)."""
    return conn.execute("SELECT id, heading, text, file_id FROM chunks ORDER BY file_id, ord")


def chunks_by_id(conn: sqlite3.Connection, ids: list[int]) -> dict[int, ChunkRow]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    place = "c.place" if has_column(conn, "chunks", "place") else "NULL"
    rows = conn.execute(
        f"SELECT c.id, f.path, c.text, c.heading, c.start_line, c.end_line, c.page, {place} "
        f"FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id IN ({marks})", ids)
    return {r[0]: ChunkRow(*r) for r in rows}


def file_ids(conn: sqlite3.Connection, ids: list[int]) -> dict[int, int]:
    """chunk id -> id of its file."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return dict(conn.execute(f"SELECT id, file_id FROM chunks WHERE id IN ({marks})", ids))


def counts(conn: sqlite3.Connection) -> tuple[int, int]:
    n_files = conn.execute("SELECT count(*) FROM files").fetchone()[0]
    n_chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    return n_files, n_chunks


def insert_lexical(conn: sqlite3.Connection, rows: Iterable[tuple[int, str, str, str]],
                   table: str = LEXICAL) -> None:
    """(chunk id, head, body, stems) rows of the BM25 index (table FILE_LEXICAL: file id)."""
    conn.executemany(f"INSERT INTO {table} (rowid, head, body, stems) VALUES (?, ?, ?, ?)",
                     rows)


def bm25_search(conn: sqlite3.Connection, terms: list[str], limit: int,
                weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
                table: str = LEXICAL) -> list[tuple[int, float]]:
    """(chunk id, BM25 score, higher is better) for chunks matching any term, the columns
    (head, body, stems) weighted; table FILE_LEXICAL: (file id, score) of whole files."""
    if not terms:
        return []
    query = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
    rows = conn.execute(
        f"SELECT rowid, bm25({table}, ?, ?, ?) AS score FROM {table} WHERE {table} "
        "MATCH ? ORDER BY score LIMIT ?", (*weights, query, limit)).fetchall()
    return [(r[0], -r[1]) for r in rows]
