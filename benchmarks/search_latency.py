"""Search latency (p50/p99) at 10k and 100k chunks, in process, models loaded once.

    python benchmarks/search_latency.py --sizes 10000,100000

Embedding 100k chunks on a laptop CPU takes hours, so the index is built by ragchat's own
ingest code with one substitution: the embedding model used while INGESTING returns
deterministic random unit vectors (same dimension as the bundled all-MiniLM-L6-v2). Files,
chunking, SQLite, the BM25 (FTS5) table and the hnswlib index are all real, and queries go
through the real search path with the real model embedding each query. Random vectors are a
hard case for an HNSW graph, so the dense timings are, if anything, pessimistic.

The corpus is markdown notes with one ~600-character paragraph per section (so one chunk per
section), made of sentences from Python's own documentation (`pydoc_data`), optionally mixed
with Korean from a KorQuAD-format file (--korean). Queries are phrases taken from the corpus
(or the questions of --queries QA_FILE). For each size it reports p50/p99/mean of:
query embedding alone, the hnswlib lookup alone, BM25 alone, and the full `search()` in each
mode. Writes benchmarks/results/search-latency-NAME.json.

    python benchmarks/search_latency.py --one-shot FOLDER --name one-shot

measures what a user waits for instead: FOLDER is ingested with the real model, then fresh
`ragchat search` processes run one query each, hybrid and BM25-only in turn (so a busy
machine slows both alike), once with each embedding runtime (torch = sentence-transformers,
as before the NumPy encoder; numpy = the NumPy encoder), and `ragchat ask --json` reports
the time of its retrieve step. The result is the median of --repeat runs and the ratio
hybrid / BM25-only. Writes benchmarks/results/search-latency-NAME.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np
from common import (
    ingest_folder,
    last_json,
    load_squad,
    run_ragchat,
    save_results,
    script_parser,
    shown_path,
    work_folder,
)
from ingest_throughput import NoteWriter, english_sentences, korean_sentences
from tables import markdown_table, number, read_results, run_name, table, table_mode

from ragchat.bench.stats import percentile

SECTIONS_PER_FILE = 10


class RandomEmbedder:
    """Stands in for the real model while building a large index: text -> fixed random unit vector."""

    def __init__(self, name: str, dim: int, max_chars: int) -> None:
        self.name, self.dim, self.max_chars = name, dim, max_chars

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            out[i] = np.random.default_rng(seed).standard_normal(self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def section_text(writer: NoteWriter, rng: random.Random) -> str:
    """One paragraph of 300-750 characters (the bundled model's chunks are up to 800)."""
    text = ""
    while len(text) < rng.randint(300, 600):
        text = (text + " " + rng.choice(writer.sentences)).strip()
    return text[:750]


def write_notes(root: Path, first: int, count: int, writers: list[tuple[NoteWriter, float]],
                rng: random.Random) -> None:
    """Files number first..first+count-1, each with SECTIONS_PER_FILE one-chunk sections."""
    for i in range(first, first + count):
        writer = _pick(writers, rng)
        parts = [f"# {writer.title()}"]
        for _ in range(SECTIONS_PER_FILE):
            parts += [f"## {writer.title()}", section_text(writer, rng)]
        path = root / f"part{i // 1000:03d}" / f"note{i:06d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def _pick(writers: list[tuple[NoteWriter, float]], rng: random.Random) -> NoteWriter:
    roll = rng.random()
    for writer, upto in writers:
        if roll < upto:
            return writer
    return writers[-1][0]


def build_index(corpus: Path, settings) -> dict:
    """Run the real ingest with the random stand-in embedder; return its report."""
    import ragchat.embeddings as emb
    from ragchat.ingest.ingester import ingest_paths

    real = emb.load_embedder
    emb.load_embedder = lambda name, s, texts=1: RandomEmbedder(name, 384, 768)
    try:
        return ingest_paths(settings, [corpus]).as_dict()
    finally:
        emb.load_embedder = real


def make_queries(count: int, writers, qa_files: list[Path], rng: random.Random) -> list[str]:
    if qa_files:
        questions = [q for path in qa_files for q in file_questions(path)]
        return rng.sample(questions, min(count, len(questions)))
    out = []
    for _ in range(count):
        words = rng.choice(writers[int(rng.random() * len(writers))][0].sentences).split()
        start = rng.randrange(max(1, len(words) - 6))
        out.append(" ".join(words[start:start + rng.randint(3, 8)]))
    return out


def file_questions(path: Path) -> list[str]:
    """The questions of a SQuAD-format file, or of a `ragchat eval` file (.jsonl: those with
    a `source`, follow-ups left out)."""
    if path.suffix == ".jsonl":
        items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        return [i["question"] for i in items if i.get("source") and not i.get("context")]
    return [q.text for a in load_squad(path) for p in a.paragraphs for q in p.questions]


def write_squad(path: Path, questions: list[str]) -> None:
    """The questions as one SQuAD-format article (a placeholder answer each)."""
    qas = [{"id": str(n), "question": q, "answers": [{"text": "-", "answer_start": 0}]}
           for n, q in enumerate(questions)]
    data = {"version": "1.1", "data": [{"title": "questions",
                                        "paragraphs": [{"context": "-", "qas": qas}]}]}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {len(questions)} questions to {path}")


def timed(fn, *args) -> float:
    """Milliseconds that fn(*args) takes."""
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def stats_ms(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50": statistics.median(ordered),
            "p99": percentile(ordered, 0.99),
            "mean": statistics.fmean(ordered), "n": len(ordered)}


def measure_latency(searcher, queries: list[str], k: int) -> dict[str, dict]:
    from ragchat.index import vectors

    depth = max(k * 4, 40)
    for q in queries[:5]:  # warm up: model, index, SQLite pages
        searcher.search(q, k, "hybrid")
    index, live = searcher._vector_index()
    samples: dict[str, list[float]] = {n: [] for n in
                                       ("embed", "hnsw", "bm25", "hybrid", "dense", "bm25_mode")}
    for q in queries:
        vec = searcher.embedder().embed([q])[0]
        samples["embed"].append(timed(searcher.embedder().embed, [q]))
        samples["hnsw"].append(timed(vectors.query, index, vec, depth, live))
        samples["bm25"].append(timed(searcher.bm25, q, depth))
        samples["hybrid"].append(timed(searcher.search, q, k, "hybrid"))
        samples["dense"].append(timed(searcher.search, q, k, "dense"))
        samples["bm25_mode"].append(timed(searcher.search, q, k, "bm25"))
    return {name: stats_ms(values) for name, values in samples.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = script_parser(__doc__, work_dir=True)
    ap.add_argument("--sizes", default="10000,100000", help="chunk counts, ascending")
    ap.add_argument("--queries", type=int, default=300, help="queries timed per size")
    ap.add_argument("--qa-file", type=Path, action="append", default=[],
                    help="take queries from this SQuAD-format or eval (.jsonl) file "
                         "(repeatable: the questions of all of them)")
    ap.add_argument("--korean", type=Path, help="KorQuAD-format file to mix Korean notes from")
    ap.add_argument("--korean-share", type=float, default=0.3)
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--threads", type=int, help="torch threads for the query embedding")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write-squad", type=Path, metavar="FILE",
                    help="only write the questions of --qa-file to FILE in SQuAD form (for "
                         "an older checkout of this script, which reads only that form)")
    ap.add_argument("--one-shot", type=Path, metavar="FOLDER",
                    help="time one-query `ragchat search` processes on this folder instead")
    ap.add_argument("--repeat", type=int, default=7, help="processes per mode (--one-shot)")
    ap.add_argument("--runtimes", default="torch,numpy", help="embedding runtimes (--one-shot)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.write_squad:
        write_squad(args.write_squad, [q for p in args.qa_file for q in file_questions(p)])
        return
    with work_folder(args.work_dir) as work:
        os.environ["RAGCHAT_HOME"] = str(work / "home")
        os.environ["RAGCHAT_EMBEDDING_MODEL"] = "minilm"
        report = run_one_shot(args, work) if args.one_shot else run(args, work)
    path = save_results(f"search-latency-{args.name}", report, args.out_dir)
    print(f"\nwrote {path}")


def run(args: argparse.Namespace, work: Path) -> dict:
    from ragchat.config import load_settings
    from ragchat.index.search import open_searcher

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    english = NoteWriter(english_sentences(), rng)
    writers = [(english, 1.0)]
    if args.korean:
        writers = [(NoteWriter(korean_sentences(args.korean), rng), args.korean_share),
                   (english, 1.0)]
    queries = make_queries(args.queries, writers, args.qa_file, rng)
    settings = load_settings({})
    corpus, files_written, sizes = work / "corpus", 0, []
    for target in sorted(int(s) for s in args.sizes.split(",")):
        files = -(-target // SECTIONS_PER_FILE)
        write_notes(corpus, files_written, files - files_written, writers, rng)
        files_written = files
        start = time.perf_counter()
        ingest = build_index(corpus, settings)
        build_s = time.perf_counter() - start
        searcher = open_searcher(settings)
        try:
            latency = measure_latency(searcher, queries, args.k)
        finally:
            searcher.close()
        sizes.append({"chunks": ingest["chunks_total"], "files": files, "build_seconds": build_s,
                      "ingest_timings": ingest["timings"], "latency_ms": latency})
        _print_size(sizes[-1])
    return {"queries": len(queries), "k": args.k, "threads": args.threads,
            "qa_file": ", ".join(shown_path(path) for path in args.qa_file),
            "korean": bool(args.korean), "sizes": sizes}


ONE_SHOT_QUERIES = ("how do I install it", "what does the search command print",
                    "which settings change the chunk size", "how are Korean documents searched")


def run_one_shot(args: argparse.Namespace, work: Path) -> dict:
    """Fresh processes, one query each: hybrid and BM25-only interleaved, per runtime."""
    home = work / "home"
    _, ingest = ingest_folder(args.one_shot.resolve(), home)
    report: dict = {"folder_files": ingest["files_seen"],
                    "chunks": ingest["chunks_total"], "repeat": args.repeat, "runtimes": {}}
    for runtime in args.runtimes.split(","):
        env = {"RAGCHAT_EMBEDDING_RUNTIME": runtime}
        seconds: dict[str, list[float]] = {"hybrid": [], "bm25": [], "ask_retrieve": []}
        for i in range(args.repeat):
            query = ONE_SHOT_QUERIES[i % len(ONE_SHOT_QUERIES)]
            for mode in ("hybrid", "bm25"):
                run = run_ragchat(["search", query, "--mode", mode], home, env=env)
                seconds[mode].append(run.seconds)
        for i in range(max(1, args.repeat // 3)):  # an ask loads the LLM too: fewer of them
            run = run_ragchat(["ask", ONE_SHOT_QUERIES[i % 4], "--json"], home, env=env)
            seconds["ask_retrieve"].append(last_json(run.stdout)["timings"]["retrieve"])
        medians = {name: statistics.median(values) for name, values in seconds.items()}
        report["runtimes"][runtime] = {
            "seconds": seconds, "median_s": medians,
            "hybrid_over_bm25": medians["hybrid"] / medians["bm25"]}
        print(f"{runtime}: hybrid {medians['hybrid']:.2f} s, BM25-only {medians['bm25']:.2f} s "
              f"(x{medians['hybrid'] / medians['bm25']:.1f}); ask's retrieve step "
              f"{medians['ask_retrieve']:.2f} s")
    return report


LATENCY_ROWS = (("hybrid", "hybrid search (total)"), ("dense", "dense search (total)"),
                ("bm25_mode", "BM25 search (total)"),
                ("embed", "of which: query embedding"), ("hnsw", "of which: hnswlib lookup"),
                ("bm25", "of which: FTS5 BM25"))


def latency_table(paths: list[Path]) -> str:
    """Milliseconds per query, p50 and p99 at each size, of one results file."""
    [data] = [read_results(p) for p in paths]
    headers = ["ms per query"]
    for size in data["sizes"]:
        headers += [f"{size['chunks'] / 1000:g}k chunks p50", "p99"]
    rows = [[title, *(number(s["latency_ms"][key][q], 1) for s in data["sizes"]
                      for q in ("p50", "p99"))] for key, title in LATENCY_ROWS]
    return markdown_table(headers, rows)


def one_shot_table(paths: list[Path]) -> str:
    """--one-shot: median seconds of a one-query process, per embedding runtime."""
    rows = []
    for path in paths:
        for runtime, run in read_results(path)["runtimes"].items():
            median = run["median_s"]
            rows.append([runtime, number(median["hybrid"]), number(median["bm25"]),
                         number(run["hybrid_over_bm25"], 1), number(median["ask_retrieve"])])
    return markdown_table(["embedding runtime", "hybrid search s", "BM25-only search s",
                           "hybrid / BM25", "`ask`: retrieve step s"], rows)


def compare_table(paths: list[Path]) -> str:
    """Runs side by side (e.g. before and after a change), one row per run and size: the
    ingest that built the index and the BM25 latencies."""
    rows = []
    for path in paths:
        data = read_results(path)
        for size in data["sizes"]:
            ms = size["latency_ms"]
            rows.append([run_name(path, "search-latency-"), f"{size['chunks']:,}",
                         number(size["build_seconds"], 0), number(ms["bm25"]["p50"], 1),
                         number(ms["bm25"]["p99"], 1), number(ms["bm25_mode"]["p50"], 1),
                         number(ms["hybrid"]["p50"], 1),
                         number(data["machine"].get("load_average_1m"), 1)])
    return markdown_table(["run", "chunks", "ingest s", "FTS5 BM25 ms p50", "p99",
                           "`search --mode bm25` ms p50", "hybrid ms p50",
                           "load average at the end"], rows)


def _print_size(entry: dict) -> None:
    print(f"\n{entry['chunks']} chunks in {entry['files']} files "
          f"(index built in {entry['build_seconds']:.0f} s, random vectors)")
    rows = [[name, s["p50"], s["p99"], s["mean"]] for name, s in entry["latency_ms"].items()]
    print(table(rows, ["ms per query", "p50", "p99", "mean"]))


TABLES = {"latency": latency_table, "one-shot": one_shot_table, "compare": compare_table}


if __name__ == "__main__" and not table_mode(TABLES):
    main()
