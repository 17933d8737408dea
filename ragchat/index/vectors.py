"""The hnswlib (cosine) index of one collection generation: `vectors.<generation>.hnsw`.

A new generation is written beside the old one and becomes current only when the SQLite
transaction that names it commits, so a crash at any point leaves the previous one usable.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

M = 16
EF_CONSTRUCTION = 200


def file_for(folder: Path, generation: int) -> Path:
    return folder / f"vectors.{generation}.hnsw"


def new_index(dim: int, capacity: int):
    import hnswlib

    index = hnswlib.Index(space="cosine", dim=dim)
    index.init_index(max_elements=max(capacity, 16), ef_construction=EF_CONSTRUCTION, M=M,
                     allow_replace_deleted=True)
    return index


def load(path: Path, dim: int, extra: int = 0):
    """Load an index, with room for `extra` more items. Raises RuntimeError/OSError if broken."""
    import hnswlib

    if not path.is_file():
        raise FileNotFoundError(path)
    index = hnswlib.Index(space="cosine", dim=dim)
    index.load_index(str(path), allow_replace_deleted=True)
    if extra:
        index.resize_index(index.get_current_count() + extra)
    return index


def add(index, ids: list[int], vectors: np.ndarray) -> None:
    if not ids:
        return
    needed = index.element_count + len(ids)
    if needed > index.max_elements:
        index.resize_index(max(needed, int(index.max_elements * 1.5)))
    index.add_items(vectors, np.asarray(ids, dtype=np.int64), replace_deleted=True)


def remove(index, ids: list[int]) -> None:
    for chunk_id in ids:
        try:
            index.mark_deleted(chunk_id)
        except RuntimeError:
            pass  # not in the index (already deleted)


def save(index, path: Path) -> None:
    """Write to a temporary name, flush to disk, then rename into place."""
    tmp = path.with_suffix(".tmp")
    index.save_index(str(tmp))
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def query(index, vector: np.ndarray, k: int, live: int) -> list[tuple[int, float]]:
    """(chunk id, cosine similarity), best first; `live` = items not deleted."""
    k = min(k, live)
    if k <= 0:
        return []
    index.set_ef(max(k * 2, 64))
    while k > 0:
        try:
            labels, distances = index.knn_query(vector.reshape(1, -1), k=k)
            return [(int(i), 1.0 - float(d)) for i, d in zip(labels[0], distances[0])]
        except RuntimeError:  # hnswlib found fewer than k live items
            k //= 2
    return []
