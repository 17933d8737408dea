"""`ragchat ingest`: walk, read, chunk, embed, and commit a new index generation atomically.

Order of work, and why it is safe:
1. the write lock (a second writer is refused);
2. plan: compare each file's size and mtime, then its hash, with the store;
3. read and chunk the new and changed files;
4. embed what the store has not embedded yet, committing vectors batch by batch (an
   interrupted run keeps them: the next run does not embed them again);
5. ONE SQLite transaction replaces the chunks and BM25 rows and names the next generation;
   the hnswlib file of that generation (one item per distinct text: see
   ragchat.index.generations) is written and flushed before that transaction commits.
A crash before the commit leaves the previous generation in force; after it, the new one.
With --rebuild, an index SQLite cannot read is first set aside (ragchat.index.health).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ragchat.config import Settings
from ragchat.errors import IndexMismatchError, RagchatError
from ragchat.index import generations, health, lexical, store, vectors
from ragchat.index.collection import (
    Collection,
    WriteLock,
    get_collection,
    remove_files,
    remove_folder,
)
from ragchat.ingest import language
from ragchat.ingest import report as file_report
from ragchat.ingest.budgets import Budgets
from ragchat.ingest.chunking import Chunk
from ragchat.ingest.document import UnreadableFileError
from ragchat.ingest.readers import file_kind
from ragchat.ingest.report import FileReport
from ragchat.ingest.walker import Candidate, WalkReport, walk
from ragchat.ingest.worker import ReaderProcess, ReadJob
from ragchat.progress import Progress

log = logging.getLogger("ragchat.ingest")


@dataclass
class IngestReport:
    collection: str
    model: str = ""
    files_seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_total: int = 0
    vectors_embedded: int = 0
    vectors_reused: int = 0  # chunks whose text was embedded by an earlier run
    vectors_shared: int = 0  # chunks with the same text as another one of this run
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    files: list[FileReport] = field(default_factory=list)  # every file the walk found
    set_aside: list[str] = field(default_factory=list)  # a damaged index, moved by --rebuild
    notices: list[str] = field(default_factory=list)  # about the collection, said after it

    @property
    def partial(self) -> list[FileReport]:
        """Files read in part: pages that need OCR, pages OCR could not read, ..."""
        return [f for f in self.files if f.partial]

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["failed"] = [{"path": p, "reason": r} for p, r in self.failed]
        d["skipped_counts"] = {k: len(v) for k, v in self.skipped.items()}
        d["files"] = [f.as_dict() for f in self.files]
        d["partial"] = [f.path for f in self.partial]
        return d


@dataclass(frozen=True)
class Planned:
    candidate: Candidate
    sha256: str
    chunks: tuple[Chunk, ...]
    old_id: int | None
    file: FileReport


class Timer:
    def __init__(self, report: IngestReport) -> None:
        self.report = report

    def __call__(self, name: str):
        timer = self

        class _Span:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                timings = timer.report.timings
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - self.start

        return _Span()


def ingest_paths(settings: Settings, roots: list[Path], collection: str | None = None,
                 rebuild: bool = False, progress: Progress | None = None) -> IngestReport:
    """Ingest files and folders into a collection. Returns what was done."""
    coll = get_collection(collection or settings.collection)
    roots = [Path(r).expanduser().absolute() for r in roots]
    progress = progress or Progress()
    report = IngestReport(collection=coll.name)
    started = time.perf_counter()
    new_collection = not coll.exists()
    discard = False
    with WriteLock(coll), health.translated(coll, roots):
        if rebuild:
            report.set_aside = [str(p) for p in health.set_aside_if_damaged(coll)]
        conn = store.connect(coll.db_path)
        try:
            # one an earlier failure left empty counts as new; one set aside is kept
            new_collection = (new_collection or _holds_nothing(conn)) and not report.set_aside
            _ingest_locked(settings, coll, conn, roots, rebuild, progress, report)
        finally:
            discard = new_collection and _holds_nothing(conn)
            conn.close()
            if discard:  # a first ingest that indexed nothing leaves no empty collection
                remove_files(coll)
    if discard:
        remove_folder(coll)
    report.timings["total"] = time.perf_counter() - started
    return report


def _holds_nothing(conn) -> bool:
    """No file, no chunk and no vector is stored (vectors of an interrupted first run are
    kept: the next run reuses them)."""
    try:
        return store.counts(conn) == (0, 0) and \
            conn.execute("SELECT 1 FROM vectors LIMIT 1").fetchone() is None
    except Exception:  # a damaged or half-made database: leave it for --rebuild to see
        return False


def _ingest_locked(settings, coll: Collection, conn, roots, rebuild, progress, report) -> None:
    timer = Timer(report)
    updated = lexical.upgrade(conn, settings.index_headings, refill=not rebuild)
    report.notices += [lexical.updated_notice(coll.name, updated)] if updated else []
    meta = store.get_meta(conn)
    known = store.files(conn)
    with timer("scan"):
        progress.stage("scanning", None)
        walk_report = WalkReport()
        candidates = list(walk(roots, int(settings.max_file_mb * 1024 * 1024), walk_report,
                               follow_links=settings.follow_links))
        report.skipped = walk_report.skipped
        report.files_seen = len(candidates)
    if not candidates and not known:
        return  # nothing to read, nothing stored: no model to choose (the CLI says why)
    model = _choose_model(settings, meta, rebuild)
    report.model = model
    stale = _stale_files(known, candidates, roots, rebuild)
    size = settings.chunk_size or _default_chunk_size(model)
    reading = _Reading(size, int(size * settings.chunk_overlap), settings.ocr, rebuild,
                       settings.index_headings, Budgets.from_settings(settings))
    planned, touched = _plan(candidates, known, reading, progress, report, timer)
    report.removed = len(stale)
    vectors_ok = not known or generations.usable(coll.folder, meta)
    if not planned and not stale and not rebuild and vectors_ok:
        _commit_stat_only(conn, touched)
        report.chunks_total = store.counts(conn)[1]
        return
    embedder, dim = _embed_missing(settings, conn, model, meta, planned, progress, report, timer)
    with timer("write"):
        progress.stage("writing index", None)
        gone = [row.id for row in stale] + [p.old_id for p in planned if p.old_id is not None]
        scripts = language.totals_after(conn, meta, gone, (c.text for p in planned
                                                            for c in p.chunks))
        _commit(conn, coll, model, dim, meta, planned, stale, touched, rebuild, report)
    generations.remove_old(coll.folder, int(store.get_meta(conn)["generation"]))
    said = language.record(conn, coll.name, model, scripts, meta, roots)  # once per collection
    report.notices += [said] if said else []


def _choose_model(settings: Settings, meta: dict, rebuild: bool) -> str:
    from ragchat.embeddings import BUNDLED, choose_model

    stored = meta.get("embedding_model")
    asked = settings.embedding_model
    if stored and not rebuild:
        wanted = {"minilm": BUNDLED, "bundled": BUNDLED}.get(asked, asked)
        if settings.embedding_provider == "api":
            wanted = "api:" + wanted
        if asked != "auto" and wanted != stored:
            raise IndexMismatchError(
                f"this collection was built with {stored}, not {wanted}",
                hint="re-embed everything with: ragchat ingest --rebuild PATH",
            )
        return stored
    return choose_model(settings)


def _default_chunk_size(model: str) -> int:
    from ragchat.embeddings import BUNDLED

    return 800 if model == BUNDLED else 1000


def _stale_files(known: dict, candidates: list[Candidate], roots: list[Path], rebuild: bool):
    """Stored files under the given roots that the walk no longer found (or all, on rebuild)."""
    found = {str(c.path) for c in candidates}
    prefixes = [str(r.resolve()) for r in roots]
    stale = []
    for path, row in known.items():
        under = any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)
        if rebuild or (under and path not in found):
            stale.append(row)
    return stale


@dataclass(frozen=True)
class _Reading:
    """How files are read and chunked in this run."""

    size: int
    overlap: int
    ocr: str
    rebuild: bool
    headings: bool = True  # the heading path goes into the embedded and BM25 text
    budgets: Budgets = Budgets()


def _plan(candidates, known, reading: _Reading, progress, report, timer):
    """Read and chunk new or changed files. Returns (planned, stat-only updates)."""
    planned: list[Planned] = []
    touched: list[tuple[int, int, int]] = []  # (file id, size, mtime) of same-content files
    progress.stage("reading", len(candidates))
    with ReaderProcess(reading.budgets) as reader:
        for cand in candidates:
            old = None if reading.rebuild else known.get(str(cand.path))
            retry = old is not None and _ocr_now_possible(old, reading.ocr)
            if old and (old.size, old.mtime_ns) == (cand.size, cand.mtime_ns) and not retry:
                report.unchanged += 1
                report.files.append(file_report.from_stored(old.path, old.info))
            else:
                item = _read_one(reader, cand, old, reading, report, timer, force=retry)
                if isinstance(item, Planned):
                    planned.append(item)
                    report.new += old is None
                    report.changed += old is not None
                    report.files.append(item.file)
                elif item == "same" and old:
                    report.unchanged += 1
                    touched.append((old.id, cand.size, cand.mtime_ns))
                    report.files.append(file_report.from_stored(old.path, old.info))
            progress.advance()
    return planned, touched


def _ocr_now_possible(old: store.FileRow, ocr: str) -> bool:
    """The file had pages that needed OCR, and OCR can run now: read it again."""
    if ocr == "off" or not file_report.from_stored(old.path, old.info).needs_ocr:
        return False
    from ragchat.ingest.ocr import find_tesseract

    return find_tesseract().usable


def _read_one(reader: ReaderProcess, cand, old, reading: _Reading, report, timer,
              force: bool = False):
    """A Planned file, "same" when the content hash did not change, None when unreadable."""
    path = str(cand.path)
    kind = file_kind(cand.path) or ""
    try:
        with timer("read"):
            data_hash = file_hash(cand.path, reading.budgets.file_bytes)
            if old and old.sha256 == data_hash and not force:
                return "same"
            result = reader.read(ReadJob(path, reading.ocr, reading.size, reading.overlap,
                                         reading.headings))
    except (UnreadableFileError, OSError) as exc:
        reason = exc.message if isinstance(exc, RagchatError) else (exc.strerror or str(exc))
        if isinstance(exc, RagchatError) and exc.hint:
            reason += f" ({exc.hint})"
        log.info("not read: %s: %s", path, reason)
        report.failed.append((path, reason))
        report.files.append(file_report.failed(path, kind, reason))
        return None
    entry = file_report.from_result(path, kind, result, cand.size)
    status = "new" if old is None else "changed"
    return Planned(cand, data_hash, result.chunks, old.id if old else None,
                   dataclasses.replace(entry, status=status))


def file_hash(path: Path, max_bytes: int) -> str:
    """SHA-256 of a regular file of at most `max_bytes` (opened without blocking: a file
    swapped for a FIFO since the walk is refused, not waited on)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnreadableFileError("not a regular file any more")
        digest = hashlib.sha256()
        left = max_bytes
        while chunk := f.read(1 << 20):
            left -= len(chunk)
            if left < 0:
                raise UnreadableFileError("it grew past max_file_mb while being read")
            digest.update(chunk)
    return digest.hexdigest()


def _embed_missing(settings, conn, model, meta, planned, progress, report, timer):
    """Embed every planned chunk the store has no vector for; commit them batch by batch."""
    from ragchat.embeddings import load_embedder

    keys = list(dict.fromkeys(store.vec_key(model + "\0" + c.index_text)
                              for p in planned for c in p.chunks))
    texts = {store.vec_key(model + "\0" + c.index_text): c.index_text
             for p in planned for c in p.chunks}
    known = store.known_vector_keys(conn, keys)
    missing = [k for k in keys if k not in known]
    report.vectors_reused = len(keys) - len(missing)
    report.vectors_shared = sum(len(p.chunks) for p in planned) - len(keys)  # one vector each
    dim = int(meta["dim"]) if meta.get("dim") and meta.get("embedding_model") == model else 0
    if not missing and dim:
        return None, dim
    from ragchat.embeddings import long_run_notice

    notice = long_run_notice(model, len(missing), settings)
    if notice:
        log.warning(notice)
    with timer("load model"):
        progress.stage("loading embedding model", None)
        embedder = load_embedder(model, settings, texts=len(missing))
    progress.stage("embedding", len(missing))
    size = max(1, settings.embedding_batch_size)
    for start in range(0, len(missing), size * 8):  # commit every 8 batches
        group = missing[start:start + size * 8]
        parts = []
        for sub in range(0, len(group), size):
            with timer("embed"):
                parts.append(embedder.embed([texts[k] for k in group[sub:sub + size]]))
            progress.advance(len(parts[-1]))
        store.save_vectors(conn, group, np.concatenate(parts))
        report.vectors_embedded += len(group)
    return embedder, embedder.dim


def _commit(conn, coll, model, dim, meta, planned, stale, touched, rebuild, report) -> None:
    generation = int(meta.get("generation", "0")) + 1
    conn.execute("BEGIN IMMEDIATE")
    try:
        gone = [row.id for row in stale] + [p.old_id for p in planned if p.old_id is not None]
        keys = (store.vec_key(model + "\0" + c.index_text) for p in planned for c in p.chunks)
        vector_keys = generations.Touched.capture(conn, gone, keys)
        removed = sum(len(store.delete_file(conn, file_id)) for file_id in gone)
        added = _insert_planned(conn, model, planned)
        conn.executemany("UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?",
                         [(s, m, i) for i, s, m in touched])
        report.chunks_added, report.chunks_removed = len(added), removed
        reuse = not rebuild and meta.get("embedding_model") == model
        described = generations.write(conn, coll.folder, dim, meta, generation, vector_keys,
                                      reuse)
        conn.execute("DELETE FROM vectors WHERE key NOT IN (SELECT vec_key FROM chunks)")
        store.set_meta(conn, generation=generation, embedding_model=model, dim=dim,
                       updated=time.time(), **described)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        vectors.file_for(coll.folder, generation).unlink(missing_ok=True)
        raise
    report.chunks_total = store.counts(conn)[1]


def _insert_planned(conn, model: str, planned: list[Planned]) -> list[tuple[int, str]]:
    added: list[tuple[int, str]] = []
    for item in planned:
        c = item.candidate
        cur = conn.execute(
            "INSERT INTO files (path, size, mtime_ns, sha256, n_chunks, info) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (str(c.path), c.size, c.mtime_ns, item.sha256, len(item.chunks),
             item.file.info_json()))
        file_id = cur.lastrowid
        indexed = []  # (heading or None, BM25 fields) of each chunk, for the whole file's row
        for ord_, chunk in enumerate(item.chunks):
            key = store.vec_key(model + "\0" + chunk.index_text)
            cur = conn.execute(
                "INSERT INTO chunks (file_id, ord, text, heading, start_line, end_line, page, "
                "place, vec_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (file_id, ord_, chunk.text, chunk.heading, chunk.start_line, chunk.end_line,
                 chunk.page, chunk.place, key))
            heading = chunk.heading if chunk.heading_in_index else None
            indexed.append((heading, lexical.add(conn, cur.lastrowid, heading, chunk.text)))
            added.append((cur.lastrowid, key))
        lexical.add_file(conn, file_id, indexed)
    return added


def _commit_stat_only(conn, touched) -> None:
    if touched:
        with conn:
            conn.execute("BEGIN")
            conn.executemany("UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?",
                             [(s, m, i) for i, s, m in touched])
