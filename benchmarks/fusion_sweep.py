"""Compare ways of fusing the dense and BM25 lists, offline, on one ingested QA corpus.

    python benchmarks/fusion_sweep.py benchmarks/data/KorQuAD_v1.0_dev.json --work-dir /tmp/kq

Ingests the passages the way retrieval_quality.py does (reusing --work-dir's index when it
is there), fetches every question's dense and BM25 candidate lists ONCE through ragchat's
Searcher, then scores several fusion rules on the same lists: reciprocal rank fusion with
different weights for the dense list, a dense weight that drops for Hangul queries, a dense
weight that follows how confident the dense list is, and a convex combination of scores.
Writes benchmarks/results/fusion-NAME.json.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path

from common import embedding_env, ingest_folder, load_squad, save_results, script_parser
from retrieval_quality import build_corpus, gold_rank, sample
from tables import markdown_table, number, read_results, run_name, table, table_mode

from ragchat.bench.scoring import rank_scores
from ragchat.index.search import rrf_fuse

HANGUL = re.compile(r"[\uac00-\ud7a3]")
LETTER = re.compile(r"[^\W\d_]")

Lists = tuple[list[tuple[int, float]], list[tuple[int, float]]]  # (dense, bm25), best first


def rrf(dense_w: float) -> Callable[[str, Lists], list[int]]:
    def fuse(query: str, lists: Lists) -> list[int]:
        return _rrf(lists, dense_w)
    return fuse


def _rrf(lists: Lists, dense_w: float) -> list[int]:
    """ragchat's own fusion (rrf_fuse), with this weight for the dense list."""
    ranked = [[item for item, _ in found] for found in lists]
    every = len(set(ranked[0]) | set(ranked[1]))
    return [item for item, _, _ in rrf_fuse(ranked, every, weights=[dense_w, 1.0])]


def hangul_share(query: str) -> float:
    letters = LETTER.findall(query)
    return len(HANGUL.findall(query)) / len(letters) if letters else 0.0


def hangul_gated(dense_w_hangul: float) -> Callable[[str, Lists], list[int]]:
    """Equal RRF, except that a mostly-Hangul query gives the dense list a lower weight."""
    def fuse(query: str, lists: Lists) -> list[int]:
        return _rrf(lists, dense_w_hangul if hangul_share(query) >= 0.5 else 1.0)
    return fuse


def confidence_weighted(tau: float, at: int = 10) -> Callable[[str, Lists], list[int]]:
    """Dense weight = (cos@1 - cos@at) / tau, clipped to [0, 1]: a flat dense list counts less."""
    def fuse(query: str, lists: Lists) -> list[int]:
        dense = lists[0]
        if len(dense) < 2:
            return _rrf(lists, 1.0)
        spread = dense[0][1] - dense[min(at, len(dense)) - 1][1]
        return _rrf(lists, min(1.0, max(0.0, spread / tau)))
    return fuse


def convex(alpha: float) -> Callable[[str, Lists], list[int]]:
    """alpha * cosine + (1 - alpha) * BM25 / best BM25 of the query."""
    def fuse(query: str, lists: Lists) -> list[int]:
        dense, bm25 = dict(lists[0]), dict(lists[1])
        top = max(bm25.values(), default=0.0) or 1.0
        scores = {i: alpha * dense.get(i, 0.0) + (1 - alpha) * bm25.get(i, 0.0) / top
                  for i in set(dense) | set(bm25)}
        return sorted(scores, key=lambda i: (-scores[i], i))
    return fuse


VARIANTS: dict[str, Callable[[str, Lists], list[int]]] = {
    "dense only": lambda q, lists: [i for i, _ in lists[0]],
    "bm25 only": lambda q, lists: [i for i, _ in lists[1]],
    "rrf dense_w=1 (equal)": rrf(1.0),
    "rrf dense_w=0.5": rrf(0.5),
    "rrf dense_w=0.3": rrf(0.3),
    "rrf dense_w=0.2": rrf(0.2),
    "rrf dense_w=0.1": rrf(0.1),
    "rrf, Hangul query: dense_w=0": hangul_gated(0.0),
    "rrf, Hangul query: dense_w=0.2": hangul_gated(0.2),
    "rrf, dense_w=spread/0.05": confidence_weighted(0.05),
    "rrf, dense_w=spread/0.1": confidence_weighted(0.1),
    "rrf, dense_w=spread/0.2": confidence_weighted(0.2),
    "convex alpha=0.3": convex(0.3),
    "convex alpha=0.5": convex(0.5),
    "convex alpha=0.7": convex(0.7),
}


def candidate_lists(items, depth: int) -> tuple[list[Lists], dict]:
    from ragchat.config import load_settings
    from ragchat.index import store
    from ragchat.index.search import open_searcher

    searcher = open_searcher(load_settings({}))
    try:
        lists = [(searcher.dense(it.question.text, depth), searcher.bm25(it.question.text, depth))
                 for it in items]
        ids = sorted({i for d, b in lists for i, _ in d + b})
        rows = {}
        for start in range(0, len(ids), 500):
            rows.update(store.chunks_by_id(searcher.conn, ids[start:start + 500]))
    finally:
        searcher.close()
    return lists, {i: {"path": r.path, "text": r.text} for i, r in rows.items()}


def evaluate(items, lists: list[Lists], chunks: dict, layout: str, k: int) -> dict:
    out = {}
    for name, fuse in VARIANTS.items():
        ranks = []
        for it, pair in zip(items, lists):
            top = [chunks[i] for i in fuse(it.question.text, pair)[:k] if i in chunks]
            ranks.append(gold_rank(it, top, layout))
        out[name] = rank_scores(ranks, k)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = script_parser(__doc__, name=None)
    ap.add_argument("qa_file", type=Path)
    ap.add_argument("--work-dir", type=Path, required=True, help="corpus and index (reused)")
    ap.add_argument("--layout", choices=("passage", "article"), default="passage")
    ap.add_argument("--depth", type=int, default=40, help="candidates taken from each list")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--embedding-model", default="minilm")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    corpus, home = args.work_dir / "corpus", args.work_dir / "home"
    env = embedding_env(args.embedding_model)
    fresh = not (home / "data").is_dir()
    items = build_corpus(load_squad(args.qa_file), corpus, args.layout, write=fresh)
    if fresh:
        ingest_folder(corpus, home, env)
    os.environ.update({"RAGCHAT_HOME": str(home), **env})
    items = sample(items, args.limit, args.seed)
    lists, chunks = candidate_lists(items, args.depth)
    result = evaluate(items, lists, chunks, args.layout, args.k)
    rows = [[name, r["recall@1"], r[f"recall@{args.k}"], r[f"mrr@{args.k}"]]
            for name, r in result.items()]
    print(table(rows, ["fusion", "recall@1", f"recall@{args.k}", f"MRR@{args.k}"]))
    path = save_results(f"fusion-{args.name or args.qa_file.stem}",
                        {"qa_file": args.qa_file.name, "layout": args.layout,
                         "depth": args.depth, "k": args.k, "questions": len(items),
                         "variants": result}, args.out_dir)
    print(f"\nwrote {path}")


def markdown(paths: list[Path]) -> str:
    """Every fusion rule (rows) on each data set (columns: recall@1, recall@k, MRR@k)."""
    runs = [(run_name(p, "fusion-"), read_results(p)) for p in paths]
    headers = ["fusion"]
    for name, data in runs:
        headers += [f"{name} recall@1", f"recall@{data['k']}", f"MRR@{data['k']}"]
    rows = [[variant, *(number(data["variants"][variant][key], 3) for _, data in runs
                        for key in ("recall@1", f"recall@{data['k']}", f"mrr@{data['k']}"))]
            for variant in runs[0][1]["variants"]]
    return markdown_table(headers, rows)


TABLES = {"variants": markdown}


if __name__ == "__main__" and not table_mode(TABLES):
    main()
