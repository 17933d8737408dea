"""Writing the vectors file of the next generation inside the ingest's SQLite transaction.

The hnswlib index holds ONE item per distinct embedded text (vector key), labelled with the
smallest id of the chunks that share it, its representative. Many identical chunks (the same
boilerplate in hundreds of files, a paragraph repeated in one) are one item, found once by
the dense search and expanded to every chunk that shares it (`store.siblings`); BM25 keeps a
row per chunk. Identical vectors as separate items wreck an HNSW graph: hnswlib's neighbour
selection never prunes a point at distance 0, so each copy's neighbour lists fill with other
copies; a search that enters them (the entry point is likely one of them) fills its candidate
list (ef) with equally distant copies and finds no way out, and the right chunk is never
reached unless ef exceeds the number of copies (tests/index/test_duplicates.py).

A commit records, for every vector key it touches, the representative before and after; the
previous generation's index is updated by that difference (or rebuilt from the stored
vectors when it is missing, broken, of another model or labelled the old way: one item per
chunk), written under the new generation's name, and its CRC-32 recorded in meta.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ragchat.index import store, vectors

LABELS = "distinct"  # meta vector_labels: one item per distinct vector key


@dataclass(frozen=True)
class Touched:
    """The vector keys a commit touches and their representatives before it."""

    keys: tuple[str, ...]
    before: dict[str, int]

    @classmethod
    def capture(cls, conn: sqlite3.Connection, file_ids: Iterable[int],
                new_keys: Iterable[str]) -> Touched:
        """Call before the commit deletes or inserts anything."""
        keys = set(new_keys)
        for file_id in file_ids:
            keys.update(key for _, key in store.chunk_keys_of(conn, file_id))
        ordered = tuple(sorted(keys))
        return cls(ordered, store.representatives(conn, ordered))


def grouped(meta: dict[str, str]) -> bool:
    """The collection's vectors file holds one item per distinct text (else one per chunk)."""
    return meta.get("vector_labels") == LABELS


def usable(folder: Path, meta: dict[str, str]) -> bool:
    """The current vectors file is there, labelled by distinct text, and intact (header and
    CRC-32: about 10 ms per 10k chunks)."""
    if not grouped(meta):
        return False
    try:
        return vectors_problem(folder, meta) is None
    except OSError:
        return False


def vectors_problem(folder: Path, meta: dict[str, str]) -> str | None:
    """Why the current generation's vectors file cannot be used, or None (see
    vectors.file_problem). Raises OSError if it cannot be read."""
    crc = meta.get("vectors_crc32")
    path = vectors.file_for(folder, int(meta.get("generation", "0")))
    return vectors.file_problem(path, int(meta.get("dim", "0")), int(crc) if crc else None)


def write(conn: sqlite3.Connection, folder: Path, dim: int, previous: dict[str, str],
          generation: int, touched: Touched, reuse: bool) -> dict[str, object]:
    """Write vectors.<generation>.hnsw; returns the meta values that describe it."""
    index = _previous(folder, dim, previous) if reuse and grouped(previous) else None
    if index is not None:
        _apply(conn, index, dim, touched)
    else:
        rows = store.representatives_all(conn)
        index = vectors.new_index(dim, len(rows))
        vectors.add(index, [i for i, _ in rows],
                    store.load_vectors(conn, [k for _, k in rows], dim))
    crc = vectors.save(index, vectors.file_for(folder, generation))
    return {"vector_labels": LABELS, "vectors_crc32": crc}


def _previous(folder: Path, dim: int, meta: dict[str, str]):
    """The current generation's index, or None when it cannot be used."""
    crc = meta.get("vectors_crc32")
    path = vectors.file_for(folder, int(meta.get("generation", "0")))
    try:
        return vectors.load(path, dim, crc32=int(crc) if crc else None)
    except (OSError, RuntimeError):
        return None  # missing or broken: rebuilt from the stored vectors


def _apply(conn: sqlite3.Connection, index, dim: int, touched: Touched) -> None:
    after = store.representatives(conn, touched.keys)
    gone = [touched.before[k] for k in touched.keys
            if k in touched.before and touched.before[k] != after.get(k)]
    new = [(after[k], k) for k in touched.keys if k in after and after[k] != touched.before.get(k)]
    vectors.remove(index, gone)
    vectors.add(index, [i for i, _ in new], store.load_vectors(conn, [k for _, k in new], dim))


def remove_old(folder: Path, current: int) -> None:
    """Delete the vectors files of other generations (not those a rebuild set aside)."""
    keep = vectors.file_for(folder, current).name
    for path in folder.glob("vectors.*"):
        if path.name != keep and vectors.is_generation_file(path):
            path.unlink(missing_ok=True)
