"""The hnswlib (cosine) index of one collection generation: `vectors.<generation>.hnsw`.

A new generation is written beside the old one and becomes current only when the SQLite
transaction that names it commits, so a crash at any point leaves the previous one usable.

The index holds one item per distinct embedded text, labelled with the smallest id of the
chunks that share it (see `ragchat.index.generations`): identical vectors in an HNSW graph
link only to each other, and a search that enters them cannot get out.

The file is ours, but a disk or a copy can damage it, and hnswlib trusts what it reads (a
flipped byte in a link list crashes the process). So the header is checked against the
dimension, and the file against the CRC-32 recorded when it was written, before hnswlib
reads it; a file that fails raises BrokenVectorsError and is rebuilt from the store.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np

M = 16
EF_CONSTRUCTION = 200
# hnswlib's header: offsetLevel0, max_elements, cur_element_count, size_data_per_element,
# label_offset, offsetData (size_t), maxlevel (int), enterpoint_node (uint32), maxM, maxM0, M
# (size_t), mult (double), ef_construction (size_t).
HEADER = struct.Struct("<QQQQQQiIQQQdQ")
GENERATION_FILE = re.compile(r"^vectors\.\d+\.(hnsw|tmp)$")


class BrokenVectorsError(RuntimeError):
    """A vectors file that must not be given to hnswlib (missing, damaged, another index)."""


def file_for(folder: Path, generation: int) -> Path:
    return folder / f"vectors.{generation}.hnsw"


def new_index(dim: int, capacity: int):
    import hnswlib

    index = hnswlib.Index(space="cosine", dim=dim)
    index.init_index(max_elements=max(capacity, 16), ef_construction=EF_CONSTRUCTION, M=M,
                     allow_replace_deleted=True)
    return index


def crc32_of(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            crc = zlib.crc32(block, crc)
    return crc


def header_problem(path: Path, dim: int) -> str | None:
    """Why the file is not an hnswlib index of `dim`-dimensional vectors, or None."""
    with open(path, "rb") as fh:
        raw = fh.read(HEADER.size)
    if len(raw) < HEADER.size:
        return f"{path.name} is too short to be a vector index ({len(raw)} bytes)"
    (_, max_elements, count, per_element, label_offset, data_offset, _, entry, _, max_m0,
     m, _, _) = HEADER.unpack(raw)
    links = max_m0 * 4 + 4
    if (not 2 <= m <= 1024 or data_offset != links or label_offset != links + dim * 4
            or per_element != label_offset + 8 or count > max_elements
            or (count and entry >= count)):
        return f"{path.name} does not hold a vector index of dimension {dim} (damaged)"
    if path.stat().st_size < HEADER.size + count * (per_element + 4):
        return f"{path.name} is truncated"
    return None


def file_problem(path: Path, dim: int, crc32: int | None = None) -> str | None:
    """Why hnswlib must not read this file, or None: missing, a header that does not fit
    `dim`, truncated, or (when `crc32` is known) not the bytes that were written. Reads the
    whole file for the checksum: about 10 ms per 10k chunks. Raises OSError if unreadable."""
    if not path.is_file():
        return f"{path.name} is missing"
    problem = header_problem(path, dim)
    if problem is None and crc32 is not None and crc32_of(path) != crc32:
        problem = f"{path.name} does not match the checksum recorded when it was written"
    return problem


def load(path: Path, dim: int, extra: int = 0, crc32: int | None = None):
    """Load an index, with room for `extra` more items, after `file_problem` found nothing.
    Raises BrokenVectorsError, OSError or RuntimeError if broken."""
    import hnswlib

    problem = file_problem(path, dim, crc32)
    if problem:
        raise BrokenVectorsError(problem)
    index = hnswlib.Index(space="cosine", dim=dim)
    index.load_index(str(path), allow_replace_deleted=True)
    if extra:
        index.resize_index(index.get_current_count() + extra)
    return index


def add(index, ids: list[int], vectors: np.ndarray) -> None:
    """Add items under these labels. A label that is in the index but marked deleted (a chunk
    id SQLite gave again) is revived in place: hnswlib's replace_deleted would put it into
    another vacant slot and leave the old slot carrying the same label, and reusing that slot
    later drops the live item's label, so it can never be deleted again."""
    if not ids:
        return
    needed = index.element_count + len(ids)
    if needed > index.max_elements:
        index.resize_index(max(needed, int(index.max_elements * 1.5)))
    revived = np.array([_unmark(index, i) for i in ids], dtype=bool)
    labels = np.asarray(ids, dtype=np.int64)
    if revived.any():
        index.add_items(vectors[revived], labels[revived], replace_deleted=False)
    if not revived.all():
        index.add_items(vectors[~revived], labels[~revived], replace_deleted=True)


def _unmark(index, label: int) -> bool:
    try:
        index.unmark_deleted(label)
        return True
    except RuntimeError:  # not in the index, or not deleted
        return False


def remove(index, ids: list[int]) -> None:
    for chunk_id in ids:
        try:
            index.mark_deleted(chunk_id)
        except RuntimeError:
            pass  # not in the index (already deleted)


def save(index, path: Path) -> int:
    """Write to a temporary name, flush to disk, then rename into place. Returns the CRC-32."""
    tmp = path.with_suffix(".tmp")
    index.save_index(str(tmp))
    crc = crc32_of(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return crc


def is_generation_file(path: Path) -> bool:
    """vectors.<N>.hnsw or its temporary file (not a file set aside by a rebuild)."""
    return bool(GENERATION_FILE.match(path.name))


def query(index, vector: np.ndarray, k: int, live: int) -> list[tuple[int, float]]:
    """(label, cosine similarity), best first; `live` = items not deleted."""
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
