"""Retrieval on user-worded questions, one change at a time: BM25 tokens and fields, question
cleanup, the text that is embedded, and the fusion, each scored on the same candidates.

    python benchmarks/retrieval_variants.py --work-dir /tmp/rv \\
        --set pip benchmarks/qa/pip-docs.jsonl benchmarks/data/pip-docs/docs/html \\
        --set httpx benchmarks/qa/httpx-docs.jsonl benchmarks/data/httpx/docs \\
        --set vue-ko benchmarks/qa/vue-docs-ko.jsonl benchmarks/data/vue-docs-ko

Each folder is ingested by `ragchat ingest` with the bundled MiniLM (again on the next run:
nothing is embedded when it is unchanged) and its chunks are read back from the store. The questions are
a set's first questions with a `source`: follow-ups and questions the docs do not cover are
left out. A question is found when a chunk of its source, or of a file in its `_also` list,
is among the top k (5). A third of each set, chosen by a hash of the question's id, is held
aside: the choices below are made on the rest (`dev`), and the held-aside part is reported
apart, so that a choice is judged on questions it was not tuned to.

- BM25: an FTS5 index of the chunks, built in memory by each variant's Analyzer
  (ragchat.index.tokenize), searched as `ragchat search` does (store.bm25_search: any of the
  query's terms, the columns weighted, 40 results);
- dense: the stored vectors through ragchat's Searcher (the heading path and the text, as
  ingest embeds them) or, for another embedded text, the chunks embedded again (exact cosine);
- fusion: ragchat's `fuse` with the dense weight of `dense_weight` (coverage of the query's
  language by the model), or the gate before it (0 for a mostly Korean query, else 1);
- one passage per file (`ragchat search --files`): ragchat's `best_per_file` over every
  fused candidate, so that the top k name k files.
- whole files: ragchat's BM25 search of whole files (`Analyzer.file_fields`: a file's
  headings in the head column, all its text in the body) as a third list, `with_files`: the
  file's weighted reciprocal rank is added to each candidate's score.

Check: `ragchat search - --json` must give every question the same top k files as the
"after" variant computed here, and `--files` the same as its variant (`cli_agreement`).

Calibration: head and stem column weights, then the dense weights for queries the model
reads and does not read, then the weight of whole files, each chosen by the mean MRR@5 of the
sets' dev parts.
Writes benchmarks/results/retrieval-variants-NAME.json; `--table FILE --view SET` prints a set.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
from common import (
    embedding_env,
    ingest_folder,
    json_lines,
    run_ragchat,
    save_results,
    script_parser,
    shown_path,
)
from tables import markdown_table, number, read_results, table, table_mode

from ragchat.bench.qa import same_source
from ragchat.bench.scoring import first_hit, rank_scores
from ragchat.index import store
from ragchat.index.search import (
    CJK_RUN,
    ENGLISH_ONLY,
    FILE_DEPTH,
    best_per_file,
    dense_weight,
    fuse,
    with_files,
)
from ragchat.index.tokenize import ANALYZER, Analyzer, Fields

K = 5
DEPTH = 40  # what ragchat search asks each retriever for (max(k * 4, 40))
BEFORE = Analyzer(stem=False, heading_field=False, identifiers=False, cleanup=False,
                  korean="bigram", weights=(1.0, 1.0, 1.0))
EMBEDDED = {"heading path + text": None,  # the stored vectors (chunk.index_text)
            "text only": lambda heading, text: text,
            "heading path twice + text": lambda heading, text:
                f"{heading}\n{heading}\n{text}" if heading else text}
HEAD_WEIGHTS = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)
STEM_WEIGHTS = (0.25, 0.5, 0.75, 1.0)
READ_WEIGHTS = (0.5, 0.75, 1.0, 1.25, 1.5)
UNREAD_WEIGHTS = (0.0, 0.1, 0.2, 0.35, 0.5)
FILE_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
MARGIN = 0.005


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    gold: tuple[str, ...]
    held: bool  # held aside: never used to choose


def held_aside(qid: str) -> bool:
    """A third of the questions, by a hash of the id (stable, whatever the order)."""
    return int.from_bytes(hashlib.blake2b(qid.encode(), digest_size=8).digest(), "big") % 3 == 0


def load_questions(path: Path) -> list[Question]:
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        if item.get("context") or item.get("covered") is False or not item.get("source"):
            continue
        qid = item.get("id") or item["question"]
        out.append(Question(qid, item["question"], (item["source"], *item.get("_also", ())),
                            held_aside(qid)))
    return out


@dataclass
class Corpus:
    """One set: its questions, its chunks (id -> path, heading, text) and its dense lists."""

    name: str
    questions: list[Question]
    chunks: dict[int, tuple[str, str | None, str]]
    model: str
    dense: dict[str, list[list[int]]]  # embedded text -> the dense list of each question

    @cached_property
    def file_of(self) -> dict[int, int]:
        """chunk id -> a number per file"""
        files: dict[str, int] = {}
        return {i: files.setdefault(path, len(files)) for i, (path, _, _) in self.chunks.items()}


def prepare(name: str, qa: Path, folder: Path, work: Path) -> Corpus:
    home = work / name / "home"
    env = embedding_env("minilm")
    run, info = ingest_folder(folder.resolve(), home, env)  # again: nothing if unchanged
    print(f"{name}: {info['files_seen']} files, {info['chunks_total']} chunks; ingest "
          f"{run.seconds:.0f} s, {info['vectors_embedded']} embedded")
    os.environ.update({"RAGCHAT_HOME": str(home), **env})
    from ragchat.config import load_settings
    from ragchat.index.search import open_searcher

    questions = load_questions(qa)
    searcher = open_searcher(load_settings({}))
    try:
        rows = searcher.conn.execute(
            "SELECT c.id, f.path, c.heading, c.text FROM chunks c JOIN files f "
            "ON f.id = c.file_id").fetchall()
        chunks = {i: (os.path.relpath(p, folder.resolve()), h, t) for i, p, h, t in rows}
        dense = {"heading path + text": [[i for i, _ in searcher.dense(q.text, DEPTH)]
                                         for q in questions]}
        for label, make in EMBEDDED.items():
            if make is not None:
                dense[label] = reembedded(searcher, chunks, make, questions, work / name, label)
        model = searcher.model
    finally:
        searcher.close()
    return Corpus(name, questions, chunks, model, dense)


def reembedded(searcher, chunks, make, questions, folder: Path, label: str) -> list[list[int]]:
    """Dense lists over the chunks embedded as make(heading, text), by exact cosine; the
    vectors are kept in `folder` for the next run."""
    ids = sorted(chunks)
    texts = [make(chunks[i][1], chunks[i][2]) for i in ids]
    digest = hashlib.blake2b("\0".join(texts).encode(), digest_size=8).hexdigest()
    cache = folder / f"vectors-{digest}.npy"
    if cache.is_file():
        matrix = np.load(cache)
    else:
        start = time.perf_counter()
        matrix = np.concatenate([searcher.embedder().embed(texts[s:s + 32])
                                 for s in range(0, len(texts), 32)])
        np.save(cache, matrix)
        print(f"{folder.name}: embedded {len(texts)} chunks as '{label}' in "
              f"{time.perf_counter() - start:.0f} s")
    matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    out = []
    for q in questions:
        vector = searcher.embedder().embed([q.text])[0]
        sims = matrix @ (vector / np.linalg.norm(vector))
        out.append([ids[j] for j in np.argsort(-sims, kind="stable")[:DEPTH]])
    return out


class Lexical:
    """In-memory BM25 indexes of a corpus, one per way of tokenizing documents."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.indexes: dict[tuple, sqlite3.Connection] = {}
        self.build_seconds: dict[tuple, float] = {}

    def index(self, analyzer: Analyzer) -> sqlite3.Connection:
        key = doc_side(analyzer)
        if key not in self.indexes:
            start = time.perf_counter()
            conn = sqlite3.connect(":memory:")
            conn.execute(f"CREATE VIRTUAL TABLE {store.LEXICAL} USING fts5{store.LEXICAL_COLUMNS}")
            rows = []
            for i, (path, heading, text) in self.corpus.chunks.items():
                f = analyzer.fields(heading, text, path)
                rows.append((i, f.head, f.body, f.stems))
            store.insert_lexical(conn, rows)
            self.build_seconds[key] = time.perf_counter() - start
            self.indexes[key] = conn
        return self.indexes[key]

    def lists(self, analyzer: Analyzer) -> list[list[int]]:
        conn = self.index(analyzer)
        return [[i for i, _ in store.bm25_search(conn, analyzer.query_terms(q.text), DEPTH,
                                                   analyzer.weights)]
                for q in self.corpus.questions]

    def file_ranks(self, analyzer: Analyzer) -> list[dict[int, int]]:
        """Per question, the rank of each file (corpus.file_of's number) in the BM25 search
        of whole files, as ragchat searches them (store.FILE_LEXICAL)."""
        key = ("files", *doc_side(analyzer))
        if key not in self.indexes:
            by_file: dict[int, list[tuple[str | None, Fields]]] = {}
            for i in sorted(self.corpus.chunks):  # a file's chunks in order
                path, heading, text = self.corpus.chunks[i]
                by_file.setdefault(self.corpus.file_of[i], []).append(
                    (heading, analyzer.fields(heading, text, path)))
            conn = sqlite3.connect(":memory:")
            conn.execute(f"CREATE VIRTUAL TABLE {store.FILE_LEXICAL} "
                         f"USING fts5{store.LEXICAL_COLUMNS}")
            rows = []
            for number, parts in by_file.items():
                f = analyzer.file_fields(parts)
                rows.append((number, f.head, f.body, f.stems))
            store.insert_lexical(conn, rows, store.FILE_LEXICAL)
            self.indexes[key] = conn
        conn = self.indexes[key]
        return [{f: rank for rank, (f, _) in enumerate(
                    store.bm25_search(conn, analyzer.query_terms(q.text), FILE_DEPTH * DEPTH,
                                      analyzer.weights, store.FILE_LEXICAL), start=1)}
                for q in self.corpus.questions]


def doc_side(analyzer: Analyzer) -> tuple:
    """What decides the documents' tokens (the query side and the weights do not)."""
    return (analyzer.stem, analyzer.heading_field, analyzer.identifiers, analyzer.korean,
            analyzer.file_titles)


Fusion = Callable[[str, str], float]  # (model, query) -> dense weight; -1: dense alone


def old_gate(model: str, query: str) -> float:
    """The fusion before: no dense vote for a mostly CJK query when the model is English-only."""
    if not any(name in model for name in ENGLISH_ONLY):
        return 1.0
    letters = [c for c in query if c.isalpha()]
    cjk = sum(len(run) for run in CJK_RUN.findall(query))
    return 0.0 if letters and cjk / len(letters) > 0.5 else 1.0


def weighted(read: float, unread: float) -> Fusion:
    return lambda model, query: dense_weight(model, query, read, unread)


@dataclass(frozen=True)
class Variant:
    name: str
    analyzer: Analyzer
    fusion: Fusion | str  # "bm25" or "dense": that list alone
    embedded: str = "heading path + text"
    per_file: bool = False  # the best chunk of each file only (search --files)
    file_weight: float = 0.0  # of a third list: the chunk's file in a BM25 search of files


def tops(corpus: Corpus, lexical: Lexical, variant: Variant) -> list[list[str]]:
    """The files of the top k chunks of each question."""
    bm25 = lexical.lists(variant.analyzer) if variant.fusion != "dense" else None
    files = lexical.file_ranks(variant.analyzer) if variant.file_weight else None
    dense = corpus.dense[variant.embedded]
    out = []
    for n, q in enumerate(corpus.questions):
        if variant.fusion == "bm25":
            fused = fuse(None, bm25[n] if bm25 else [], 1.0, 2 * DEPTH)
        elif variant.fusion == "dense":
            fused = fuse(dense[n], None, 1.0, 2 * DEPTH)
        else:
            assert bm25 is not None and not isinstance(variant.fusion, str)
            weight = variant.fusion(corpus.model, q.text)
            fused = fuse(dense[n] if weight > 0 else None, bm25[n], weight, 2 * DEPTH)
        if files is not None:  # each candidate's score plus its file's reciprocal rank
            fused = with_files(fused, corpus.file_of, files[n], variant.file_weight)
        if variant.per_file:
            fused = best_per_file(fused, corpus.file_of)
        top = [item[0] for item in fused]
        out.append([corpus.chunks[i][0] for i in top[:K]])
    return out


def ranks(corpus: Corpus, lexical: Lexical, variant: Variant) -> list[int | None]:
    return [first_hit(paths, lambda p, q=q: any(same_source(p, g) for g in q.gold))
            for q, paths in zip(corpus.questions, tops(corpus, lexical, variant))]


def cli_agreement(corpus: Corpus, lexical: Lexical, folder: Path, work: Path) -> dict:
    """How many questions `ragchat search - --json` answers with the same top k files, in
    the same order, as the "after" variant computed here (and `--files` as its variant)."""
    home = work / corpus.name / "home"
    stdin = "".join(q.text + "\n" for q in corpus.questions)
    out = {"questions": len(corpus.questions)}
    for key, flags, per_file in (("same_top_k", [], False),
                                 ("files_same_top_k", ["--files"], True)):
        run = run_ragchat(["search", "-", "--json", "-k", str(K), *flags], home, stdin,
                          embedding_env("minilm"))
        cli = [[os.path.relpath(r["path"], folder.resolve()) for r in line["results"]]
               for line in json_lines(run.stdout)]
        here = tops(corpus, lexical, Variant("", ANALYZER, weighted(*_shipped_fusion()),
                                             per_file=per_file,
                                             file_weight=_shipped_file_weight()))
        out[key] = sum(a == b for a, b in zip(cli, here))
    return out


def scores(corpus: Corpus, found: list[int | None]) -> dict:
    out = {}
    for part, keep in (("dev", False), ("held", True)):
        part_ranks = [r for q, r in zip(corpus.questions, found) if q.held == keep]
        out[part] = {"questions": len(part_ranks), **rank_scores(part_ranks, K)}
    out["all"] = {"questions": len(found), **rank_scores(found, K)}
    out["misses"] = [q.qid for q, r in zip(corpus.questions, found) if r is None]
    out["not_first"] = [q.qid for q, r in zip(corpus.questions, found) if r != 1]
    return out


def evaluate(corpora: list[Corpus], lexicals: dict[str, Lexical], variant: Variant) -> dict:
    return {c.name: scores(c, ranks(c, lexicals[c.name], variant)) for c in corpora}


def dev_mrr(result: dict) -> float:
    """The choosing score: mean over the sets of MRR@k on their dev parts."""
    return statistics.fmean(r["dev"][f"mrr@{K}"] for r in result.values())


def calibrate(corpora, lexicals, base: Analyzer) -> tuple[dict, Analyzer, Fusion, dict]:
    """Column weights, then dense weights, each the best by dev MRR@k; a value replaces the
    one before only when it is better by more than MARGIN (what one question moving one rank
    down in the smallest set's dev part changes the mean by is about 0.008). Returns the
    sweep (weights -> dev MRR), the chosen analyzer and fusion, and the chosen values."""
    sweep: dict[str, float] = {}
    columns = {}
    for head in HEAD_WEIGHTS:
        for stem in STEM_WEIGHTS:
            analyzer = replace(base, weights=(head, 1.0, stem))
            got = dev_mrr(evaluate(corpora, lexicals, Variant("", analyzer, weighted(1, 0))))
            sweep[f"head {head:g}, stems {stem:g}"] = columns[(head, stem)] = got
    head, stem = best_beyond_margin(columns, (base.weights[0], base.weights[2]))
    analyzer = replace(base, weights=(head, 1.0, stem))
    fusions = {}
    for read in READ_WEIGHTS:
        for unread in UNREAD_WEIGHTS:
            got = dev_mrr(evaluate(corpora, lexicals, Variant("", analyzer,
                                                              weighted(read, unread))))
            sweep[f"dense read {read:g}, unread {unread:g}"] = fusions[(read, unread)] = got
    read, unread = best_beyond_margin(fusions, (1.0, 0.0))
    files = {}
    for weight in FILE_WEIGHTS:
        got = dev_mrr(evaluate(corpora, lexicals, Variant("", analyzer, weighted(read, unread),
                                                          file_weight=weight)))
        sweep[f"whole files {weight:g}"] = files[(weight,)] = got
    (file_weight,) = best_beyond_margin(files, (0.0,))
    chosen = {"head_weight": head, "stem_weight": stem, "dense_weight_read": read,
              "dense_weight_unread": unread, "file_weight": file_weight, "margin": MARGIN}
    return sweep, analyzer, weighted(read, unread), chosen


def best_beyond_margin(scores: dict[tuple, float], default: tuple) -> tuple:
    best = max(scores, key=lambda key: scores[key])
    return best if scores[best] > scores[default] + MARGIN else default


def variants(calibrated: Analyzer, fusion: Fusion, file_weight: float) -> list[Variant]:
    """The steps from the tokens before to ragchat's now, each kept, then the alternatives
    measured against the last step and not kept."""
    gate = old_gate
    stems = replace(BEFORE, stem=True, weights=(1.0, 1.0, 0.5))
    head = replace(stems, heading_field=True, weights=(2.0, 1.0, 0.5))
    clean = replace(head, cleanup=True, english_cleanup=False)
    steps = [
        Variant("before: BM25 alone", BEFORE, "bm25"),
        Variant("before: dense alone (MiniLM)", BEFORE, "dense"),
        Variant("before (hybrid)", BEFORE, gate),
        Variant("+ English stems (stems column, weight 0.5)", stems, gate),
        Variant("+ heading column (weight 2)", head, gate),
        Variant("+ question cleanup (Korean)", clean, gate),
        Variant("+ calibrated column weights", calibrated, gate),
        Variant("+ fusion by language coverage, calibrated", calibrated, fusion),
        Variant(f"+ whole files in BM25 as a third list ({file_weight:g}), calibrated",
                calibrated, fusion, file_weight=file_weight),
    ]
    tried = [
        Variant("alt: identifiers also whole", replace(calibrated, identifiers=True), fusion),
        Variant("alt: file names as titles", replace(calibrated, file_titles=True), fusion),
        Variant("alt: no question cleanup", replace(calibrated, cleanup=False), fusion),
        Variant("alt: English question cleanup too",
                replace(calibrated, english_cleanup=True), fusion),
    ]
    if kiwi_installed():
        tried += [Variant(f"alt: Korean {label}", replace(calibrated, korean=mode), fusion)
                  for mode, label in (("kiwi", "Kiwi morphemes"),
                                      ("kiwi+bigram", "Kiwi morphemes + bigrams"),
                                      ("kiwi/bigram", "Kiwi morphemes, bigrams as stems"))]
        tried.append(Variant("alt: Korean Kiwi morphemes, no question cleanup",
                             replace(calibrated, korean="kiwi", cleanup=False), fusion))
    tried += [Variant(f"alt: embedded {label}", calibrated, fusion, label)
              for label in EMBEDDED if EMBEDDED[label] is not None]
    tried = [replace(variant, file_weight=file_weight) for variant in tried]
    now = _shipped_file_weight()
    shipped = [Variant("after: BM25 alone", ANALYZER, "bm25", file_weight=now),
               Variant("after (ragchat now)", ANALYZER, weighted(*_shipped_fusion()),
                       file_weight=now),
               Variant("after, one passage per file (search --files)", ANALYZER,
                       weighted(*_shipped_fusion()), per_file=True, file_weight=now)]
    return steps + tried + shipped


def kiwi_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("kiwipiepy") is not None


def _shipped_file_weight() -> float:
    from ragchat.index.search import FILE_WEIGHT

    return FILE_WEIGHT


def _shipped_fusion() -> tuple[float, float]:
    from ragchat.index.search import DENSE_WEIGHT_READ, DENSE_WEIGHT_UNREAD

    return DENSE_WEIGHT_READ, DENSE_WEIGHT_UNREAD


def main() -> None:
    ap = script_parser(__doc__, name="default")
    ap.add_argument("--set", nargs=3, action="append", required=True,
                    metavar=("NAME", "QA", "FOLDER"), help="a question set and its folder")
    ap.add_argument("--work-dir", type=Path, required=True, help="indexes and vectors (reused)")
    args = ap.parse_args()
    corpora = [prepare(name, Path(qa), Path(folder), args.work_dir)
               for name, qa, folder in args.set]
    lexicals = {c.name: Lexical(c) for c in corpora}
    sweep, calibrated, fusion, chosen = calibrate(corpora, lexicals, ANALYZER)
    results = {}
    for variant in variants(calibrated, fusion, chosen["file_weight"]):
        results[variant.name] = evaluate(corpora, lexicals, variant)
        print(f"{variant.name}: dev MRR@{K} {dev_mrr(results[variant.name]):.3f}")
    agreement = {c.name: cli_agreement(c, lexicals[c.name], Path(folder), args.work_dir)
                 for c, (_, _, folder) in zip(corpora, args.set)}
    print(f"ragchat search agrees: {agreement}")
    build = {c.name: {str(key): round(s, 2) for key, s in lexicals[c.name].build_seconds.items()}
             for c in corpora}
    sets = {c.name: {"qa_file": shown_path(qa), "folder": shown_path(folder),
                     "chunks": len(c.chunks), "questions": len(c.questions),
                     "held_aside": sum(q.held for q in c.questions), "model": c.model}
            for c, (_, qa, folder) in zip(corpora, args.set)}
    print(overview(results, list(sets)))
    path = save_results(f"retrieval-variants-{args.name}", {
        "k": K, "depth": DEPTH, "sets": sets, "chosen": chosen, "sweep": sweep,
        "index_build_seconds": build, "cli_agreement": agreement,
        "variants": results}, args.out_dir)
    print(f"\nwrote {path}")


def overview(results: dict, sets: list[str]) -> str:
    rows = [[name, *(r[s][part][f"mrr@{K}"] for s in sets for part in ("dev", "held"))]
            for name, r in results.items()]
    return table(rows, ["variant", *(f"{s} {part} MRR" for s in sets for part in ("dev", "held"))])


def set_table(paths: list[Path], name: str) -> str:
    """One set: recall@1, recall@k and MRR@k of every variant, dev and held-aside parts."""
    [data] = [read_results(p) for p in paths]
    info = data["sets"][name]
    k = data["k"]
    headers = ["variant", f"dev ({info['questions'] - info['held_aside']}) recall@1",
               f"recall@{k}", f"MRR@{k}", f"held aside ({info['held_aside']}) recall@1",
               f"recall@{k}", f"MRR@{k}"]
    rows = [[variant, *(number(r[name][part][key], 3) for part in ("dev", "held")
                        for key in ("recall@1", f"recall@{k}", f"mrr@{k}"))]
            for variant, r in data["variants"].items()]
    return markdown_table(headers, rows)


def sweep_table(paths: list[Path]) -> str:
    """The calibration: mean dev MRR@k of the sets for each weight tried."""
    [data] = [read_results(p) for p in paths]
    return markdown_table(["weights", f"mean dev MRR@{data['k']}"],
                          [[name, number(value, 3)] for name, value in data["sweep"].items()])


def _views() -> dict:
    views = {name: (lambda paths, name=name: set_table(paths, name))
             for name in ("pip", "httpx", "vue-ko", "react-ko")}
    views["sweep"] = sweep_table
    return views


if __name__ == "__main__" and not table_mode(_views()):
    main()
