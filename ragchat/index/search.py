"""Hybrid retrieval: dense (hnswlib cosine) and BM25 (FTS5 over our tokens), fused by reciprocal rank."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ragchat.config import Settings
from ragchat.errors import IndexMissingError, UsageError
from ragchat.index import generations, health, lexical, store, vectors
from ragchat.index.collection import require_existing
from ragchat.index.tokenize import ANALYZER, CJK_RUN, Analyzer
from ragchat.locations import format_location

RRF_K = 60
MODES = ("hybrid", "dense", "bm25")
# Embedding models trained on English only: they cannot rank Korean, Chinese or Japanese text
# (measured on KorQuAD: recall@5 0.03 for MiniLM alone).
ENGLISH_ONLY = ("all-MiniLM", "all-mpnet", "multi-qa-MiniLM", "msmarco-", "bge-small-en",
                "bge-base-en", "bge-large-en", "e5-small-v2", "e5-base-v2", "gte-small", "gte-base")
# The dense list's weight in the fusion (BM25's is 1) for a query in a language the model
# reads, and for one it does not; a query of both scripts gets the mix by its share of
# letters. Calibrated on the dev part of the user-worded question sets (MiniLM: English
# docs of pip and httpx, Korean docs of Vue; benchmarks/results/retrieval-variants-*.json).
DENSE_WEIGHT_READ = 1.0
DENSE_WEIGHT_UNREAD = 0.0
# Whole files searched by BM25 (store.FILE_LEXICAL) give a third vote: each candidate passage
# gains FILE_WEIGHT / (RRF_K + its file's rank), so that a passage of the page the question is
# about comes before one that matches as many words on a page about something else.
# Calibrated like the weights above (0.25 of 0, 0.25, 0.5 and 1), and measured on a set of
# Korean questions used for no choice (React's Korean docs).
FILE_WEIGHT = 0.25
FILE_DEPTH = 10  # files searched: this many times the passages each retriever returns

log = logging.getLogger("ragchat.index")


def coverage(model: str, query: str) -> float:
    """The share of the query's letters in a script the embedding model was trained on."""
    if not any(name in model for name in ENGLISH_ONLY):
        return 1.0
    letters = sum(c.isalpha() for c in query)
    cjk = sum(len(run) for run in CJK_RUN.findall(query))
    return 1.0 - cjk / letters if letters else 1.0


def dense_weight(model: str, query: str, read: float = DENSE_WEIGHT_READ,
                 unread: float = DENSE_WEIGHT_UNREAD) -> float:
    """The dense retriever's weight in the fusion (0: not searched at all)."""
    share = coverage(model, query)
    return share * read + (1.0 - share) * unread


def fuse(dense: list[int] | None, bm25: list[int] | None, dense_w: float,
         k: int) -> list[tuple[int, float, int | None, int | None]]:
    """(id, score, dense rank, BM25 rank) of the best k by weighted reciprocal rank (BM25's
    weight is 1); a list that is None was not searched."""
    lists = [ids for ids in (dense, bm25) if ids is not None]
    weights = [w for ids, w in ((dense, dense_w), (bm25, 1.0)) if ids is not None]
    return [(item, score, ranks[0] if dense is not None else None,
             ranks[-1] if bm25 is not None else None)
            for item, score, ranks in rrf_fuse(lists, k, weights)]


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    path: str
    location: str
    heading: str | None
    text: str
    score: float
    start_line: int | None
    end_line: int | None
    page: int | None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    place: str | None = None
    dense_similarity: float | None = None  # cosine similarity to the query (dense search ran)
    file_rank: int | None = None  # its file's rank in the BM25 search of whole files

    def as_dict(self) -> dict:
        return {
            "path": self.path, "location": self.location, "text": self.text,
            "score": round(self.score, 6), "heading": self.heading,
            "start_line": self.start_line, "end_line": self.end_line, "page": self.page,
            "place": self.place, "chunk_id": self.chunk_id, "dense_rank": self.dense_rank,
            "bm25_rank": self.bm25_rank, "file_rank": self.file_rank,
            "dense_similarity": None if self.dense_similarity is None
            else round(self.dense_similarity, 4),
        }


def with_files(fused: list[tuple[int, float, int | None, int | None]], file_of: dict[int, int],
               file_rank: dict[int, int], weight: float = FILE_WEIGHT
               ) -> list[tuple[int, float, int | None, int | None]]:
    """The fused list with each item's score raised by weight / (RRF_K + its file's rank in
    the BM25 search of whole files), best first."""
    def score(item: tuple[int, float, int | None, int | None]) -> float:
        rank = file_rank.get(file_of.get(item[0], -1))
        return item[1] + (weight / (RRF_K + rank) if rank else 0.0)

    return sorted(((item[0], score(item), item[2], item[3]) for item in fused),
                  key=lambda item: (-item[1], item[0]))


def best_per_file(fused: list[tuple[int, float, int | None, int | None]],
                  file_of: dict[int, int]) -> list[tuple[int, float, int | None, int | None]]:
    """Each file's first (best) item of the fused list, in order; a chunk whose file is
    unknown (deleted meanwhile) counts as a file of its own."""
    seen: set[int] = set()
    out = []
    for order, item in enumerate(fused):
        file = file_of.get(item[0], -1 - order)
        if file not in seen:
            seen.add(file)
            out.append(item)
    return out


def rrf_fuse(ranked_lists: list[list[int]], k: int, weights: list[float] | None = None,
             rrf_k: int = RRF_K) -> list[tuple[int, float, list[int | None]]]:
    """Reciprocal rank fusion: (id, score, rank in each list or None), best first."""
    weights = weights or [1.0] * len(ranked_lists)
    scores: dict[int, float] = {}
    ranks: dict[int, list[int | None]] = {}
    for which, (ids, weight) in enumerate(zip(ranked_lists, weights)):
        for rank, item in enumerate(ids, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (rrf_k + rank)
            ranks.setdefault(item, [None] * len(ranked_lists))[which] = rank
    best = sorted(scores, key=lambda i: (-scores[i], i))[:k]
    return [(i, scores[i], ranks[i]) for i in best]


def location_of(row: store.ChunkRow) -> str:
    return format_location(row.page, row.start_line, row.end_line, row.heading, row.place)


class Searcher:
    """Open once, search many times (the models and the vector index stay loaded).

    A damaged index.sqlite raises IndexCorruptError (from here or from any search), naming
    the rebuild command; a missing or broken vectors file is rebuilt in memory."""

    def __init__(self, settings: Settings, collection: str) -> None:
        self.settings = settings
        self.collection = require_existing(collection)
        with health.translated(self.collection):
            self.conn = store.connect(self.collection.db_path, readonly=True)
            try:
                self.meta = store.get_meta(self.conn)
                empty = store.counts(self.conn)[1] == 0
            except BaseException:
                self.conn.close()
                raise
        if empty:
            self.conn.close()
            raise IndexMissingError(
                f"collection '{collection}' is empty: no document has been indexed into it",
                hint="add documents with: ragchat ingest FOLDER"
                     + ("" if collection == "default" else f" --collection {collection}"))
        self._embedder = None
        self._index = None
        self._generation = None
        self._grouped = False  # found items stand for every chunk that shares their vector

    @property
    def model(self) -> str:
        return self.meta.get("embedding_model", "")

    def embedder(self):
        if self._embedder is None:
            from ragchat.embeddings import load_embedder

            self._embedder = load_embedder(self.model, self.settings)
        return self._embedder

    def search(self, query: str, k: int = 5, mode: str = "hybrid",
               per_file: bool = False) -> list[SearchHit]:
        """The best k passages; per_file: the best passage of each of the best k files (of the
        candidates the retrievers return: fewer when fewer files match)."""
        if mode not in MODES:
            raise UsageError(f"unknown search mode {mode!r}", hint="use hybrid, dense or bm25")
        if k < 1:
            raise UsageError("k must be at least 1")
        with health.translated(self.collection):
            return self._search(query, k, mode, per_file)

    def _search(self, query: str, k: int, mode: str, per_file: bool) -> list[SearchHit]:
        depth = max(k * 4, 40)
        weight = dense_weight(self.model, query) if mode == "hybrid" else 1.0
        similarity: dict[int, float] = {}
        dense = bm25 = None
        if mode == "dense" or (mode == "hybrid" and weight > 0):
            similarity = dict(self.dense(query, depth))
            dense = list(similarity)
        file_rank: dict[int, int] = {}
        if mode != "dense":
            bm25 = [i for i, _ in self.bm25(query, depth)]
            file_rank = {f: rank for rank, (f, _) in enumerate(
                self.bm25_files(query, FILE_DEPTH * depth), start=1)}
        file_of: dict[int, int] = {}
        if file_rank or per_file:  # every candidate, then its file's vote, each file's best
            fused = fuse(dense, bm25, weight, 2 * depth)
            file_of = store.file_ids(self.conn, [item[0] for item in fused])
            if file_rank:
                fused = with_files(fused, file_of, file_rank)
            if per_file:
                fused = best_per_file(fused, file_of)
        else:
            fused = fuse(dense, bm25, weight, k * 2)
        fused = fused[:k * 2]
        rows = store.chunks_by_id(self.conn, [item[0] for item in fused])
        hits = []
        for chunk_id, score, dense_rank, bm25_rank in fused:
            row = rows.get(chunk_id)
            if row is None:  # deleted by an ingest that committed meanwhile
                continue
            hits.append(SearchHit(chunk_id, row.path, location_of(row), row.heading, row.text,
                                  score, row.start_line, row.end_line, row.page,
                                  dense_rank, bm25_rank, row.place, similarity.get(chunk_id),
                                  file_rank.get(file_of.get(chunk_id, -1))))
        return hits[:k]

    def bm25(self, query: str, limit: int,
             analyzer: Analyzer = ANALYZER) -> list[tuple[int, float]]:
        """(chunk id, BM25 score), best first; an index written with other tokens than
        `analyzer` makes is refused (IndexMismatchError naming the command that updates it)."""
        lexical.require_current(self.conn, self.collection)
        return store.bm25_search(self.conn, analyzer.query_terms(query), limit,
                                 analyzer.weights)

    def bm25_files(self, query: str, limit: int,
                   analyzer: Analyzer = ANALYZER) -> list[tuple[int, float]]:
        """(file id, BM25 score) of the whole files, best first (the rows are current: bm25()
        checked the version)."""
        return store.bm25_search(self.conn, analyzer.query_terms(query), limit,
                                 analyzer.weights, store.FILE_LEXICAL)

    def dense(self, query: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity), best first: every chunk that shares a found vector
        (identical text) in id order, at most `limit`."""
        index, live = self._vector_index()
        if live == 0:
            return []
        vector = self.embedder().embed([query])[0]
        found = vectors.query(index, vector, limit, live)
        if not self._grouped:  # one item per chunk: no chunk shares a vector (or an index
            return found     # written before items were one per distinct text)
        groups = store.siblings(self.conn, [label for label, _ in found])
        return [(chunk, sim) for label, sim in found for chunk in groups.get(label, ())][:limit]

    def _vector_index(self):
        """(index, live items) of the current generation; rebuilt in memory if its file is
        missing or broken."""
        meta = store.get_meta(self.conn)
        generation = int(meta.get("generation", "0"))
        if self._index is not None and generation == self._generation:
            return self._index
        self.meta = meta
        dim, crc = int(meta.get("dim", "0")), meta.get("vectors_crc32")
        path = vectors.file_for(self.collection.folder, generation)
        try:
            index = vectors.load(path, dim, crc32=int(crc) if crc else None)
            grouped = generations.grouped(meta)
        except (OSError, RuntimeError) as exc:
            index, grouped = self._rebuild_in_memory(dim, exc), True
        chunks = store.counts(self.conn)[1]
        live = store.distinct_vectors(self.conn) if grouped else chunks
        self._grouped = live < chunks  # some chunks share a vector: expand what is found
        self._index, self._generation = (index, live), generation
        return self._index

    def _rebuild_in_memory(self, dim: int, why: Exception):
        name = self.collection.name
        log.warning("the vector index of '%s' is missing or broken (%s); rebuilding it in "
                    "memory from the stored vectors; repair it on disk with `ragchat ingest "
                    "PATH --collection %s` (nothing is read or embedded again)", name,
                    str(why) or type(why).__name__, name)
        if dim <= 0:
            raise health.corrupt_error(self.collection, "no vector dimension is recorded")
        rows = store.representatives_all(self.conn)
        index = vectors.new_index(dim, len(rows))
        vectors.add(index, [i for i, _ in rows],
                    store.load_vectors(self.conn, [k for _, k in rows], dim))
        return index

    def close(self) -> None:
        self.conn.close()


def open_searcher(settings: Settings, collection: str | None = None) -> Searcher:
    return Searcher(settings, collection or settings.collection)
