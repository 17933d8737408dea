"""Korean BM25 tokens: ragchat's character bigrams against Kiwi morphemes (kiwipiepy), and
both together, measured on a KorQuAD-format file with ragchat's own BM25 (SQLite FTS5).

    pip install kiwipiepy            # its model ships on PyPI as kiwipiepy-model
    python benchmarks/korean_bm25.py benchmarks/data/KorQuAD_v1.0_dev.json

Quality: every passage is chunked as `ragchat ingest` chunks a markdown file (title heading,
800 characters, 15 % overlap, as with the bundled model), each tokenizer builds an FTS5 index
of the chunks, and every question is searched with BM25; a passage's rank is that of its
first chunk (the passage layout of retrieval_quality.py, which this reproduces for bigrams).
Reports recall@1, recall@5 and MRR@5.

Latency: an index of --chunks chunks (default 100,000) made of the file's sentences drawn at
random (seeded), as an FTS5 index on disk; --queries questions are searched one by one as
`ragchat search --mode bm25` does (OR of the query's tokens, 40 results), and each query's
tokenization is timed apart from the search. Kiwi tokenizes each distinct sentence once and
chunks reuse its tokens, so the index build is not what is timed there; Kiwi's throughput
(characters per second) is measured on the passages instead.

Writes benchmarks/results/korean-bm25-NAME.json.
"""

from __future__ import annotations

import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import REPO_DIR, load_squad, save_results, script_parser
from tables import markdown_table, number, read_results, table, table_mode

sys.path.insert(0, str(REPO_DIR))

from ragchat.bench.scoring import first_hit, rank_scores  # noqa: E402
from ragchat.bench.stats import percentile  # noqa: E402
from ragchat.index import store  # noqa: E402
from ragchat.index.tokenize import QUERY_STOPWORDS  # noqa: E402
from ragchat.index.tokenize import tokens as bigram_tokens
from ragchat.ingest.chunking import chunk_sections  # noqa: E402
from ragchat.ingest.document import Section  # noqa: E402

K = 5
DEPTH = 40  # what ragchat search asks BM25 for (max(k * 4, 40))
CONTENT_TAGS = ("NN", "NP", "NR", "VV", "VA", "MAG", "XR", "SL", "SH", "SN")
PUNCT_TAGS = ("SF", "SP", "SS", "SE", "SO", "SW", "SB")

_kiwi = None


def kiwi():
    global _kiwi
    if _kiwi is None:
        from kiwipiepy import Kiwi

        _kiwi = Kiwi()
    return _kiwi


def kiwi_all(text: str) -> list[str]:
    """Every morpheme (particles and endings too), punctuation dropped."""
    return [t.form.lower() for t in kiwi().tokenize(text) if not t.tag.startswith(PUNCT_TAGS)]


def kiwi_content(text: str) -> list[str]:
    """Nouns, verb and adjective stems, adverbs, roots, foreign words, hanja and numbers."""
    return [t.form.lower() for t in kiwi().tokenize(text) if t.tag.startswith(CONTENT_TAGS)]


def kiwi_and_bigrams(text: str) -> list[str]:
    return kiwi_content(text) + bigram_tokens(text)


TOKENIZERS = {"bigram (ragchat)": bigram_tokens, "kiwi, all morphemes": kiwi_all,
              "kiwi, content morphemes": kiwi_content, "kiwi content + bigram": kiwi_and_bigrams}


def query_tokens(tokenize, text: str) -> list[str]:
    """As ragchat.index.tokenize.query_tokens, with another tokenizer."""
    seen = dict.fromkeys(t for t in tokenize(text) if t not in QUERY_STOPWORDS)
    return list(seen or dict.fromkeys(tokenize(text)))


def chunk_passages(articles) -> tuple[list[str], list[int], list[tuple[str, int]]]:
    """(chunk index texts, passage of each chunk, (question, gold passage) pairs)."""
    texts, owner, questions = [], [], []
    passage = 0
    for article in articles:
        for par in article.paragraphs:
            body = f"# {article.title}\n\n{par.context.strip()}\n"
            for chunk in chunk_sections([Section(body, "markdown")], 800, 120):
                texts.append(chunk.index_text)
                owner.append(passage)
            questions.extend((q.text, passage) for q in par.questions)
            passage += 1
    return texts, owner, questions


def fts_index(path: Path, token_strings: list[str]) -> sqlite3.Connection:
    conn = store.connect(path)
    conn.execute("BEGIN")
    # the tokens in the body column, heading and stems empty: one column, as before version 2
    store.insert_lexical(conn, ((i, "", tokens, "") for i, tokens in
                                enumerate(token_strings, start=1)))
    conn.execute("COMMIT")
    return conn


def quality(name: str, tokenize, texts, owner, questions, work: Path) -> dict:
    start = time.perf_counter()
    conn = fts_index(work / f"quality-{list(TOKENIZERS).index(name)}.db",
                     [" ".join(tokenize(t)) for t in texts])
    build = time.perf_counter() - start
    ranks = []
    for question, gold in questions:
        hits = store.bm25_search(conn, query_tokens(tokenize, question), DEPTH)
        passages = list(dict.fromkeys(owner[rowid - 1] for rowid, _ in hits))[:K]
        ranks.append(first_hit(passages, lambda passage, gold=gold: passage == gold))
    conn.close()
    return {"questions": len(ranks), **rank_scores(ranks, K),
            "index_build_seconds": round(build, 2)}


def sentences_of(articles) -> list[str]:
    out = []
    for article in articles:
        for par in article.paragraphs:
            out.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", par.context) if s.strip())
    return out


def latency(name: str, tokenize, sentences: list[str], n_chunks: int, queries: list[str],
            work: Path, seed: int) -> dict:
    rng = random.Random(seed)
    sentence_tokens = [" ".join(tokenize(s)) for s in sentences]
    per_chunk = min(6, len(sentences))
    chunk_strings = (" ".join(sentence_tokens[i] for i in rng.sample(range(len(sentences)),
                                                                     per_chunk))
                     for _ in range(n_chunks))
    conn = fts_index(work / f"latency-{list(TOKENIZERS).index(name)}.db", list(chunk_strings))
    tokenize_ms, search_ms = [], []
    for query in queries:
        t0 = time.perf_counter()
        toks = query_tokens(tokenize, query)
        t1 = time.perf_counter()
        store.bm25_search(conn, toks, DEPTH)
        t2 = time.perf_counter()
        tokenize_ms.append((t1 - t0) * 1000)
        search_ms.append((t2 - t1) * 1000)
    conn.close()
    return {"chunks": n_chunks, "queries": len(queries),
            "search_ms_p50": round(statistics.median(search_ms), 2),
            "search_ms_p99": round(percentile(search_ms, 0.99), 2),
            "tokenize_ms_p50": round(statistics.median(tokenize_ms), 3),
            "total_ms_p50": round(statistics.median(a + b for a, b in zip(tokenize_ms,
                                                                          search_ms)), 2)}


def kiwi_throughput(passages: list[str]) -> dict:
    kiwi().tokenize("준비")  # load the model before timing
    start = time.perf_counter()
    for text in passages:
        kiwi().tokenize(text)
    seconds = time.perf_counter() - start
    chars = sum(map(len, passages))
    return {"characters": chars, "seconds": round(seconds, 2),
            "chars_per_second": round(chars / seconds)}


def main() -> None:
    ap = script_parser(__doc__, name="korquad-dev")
    ap.add_argument("qa_file", type=Path)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    articles = load_squad(args.qa_file)
    texts, owner, questions = chunk_passages(articles)
    sentences = sentences_of(articles)
    rng = random.Random(args.seed)
    latency_queries = [q for q, _ in rng.sample(questions, min(args.queries, len(questions)))]
    results, rows = {}, []
    try:
        import kiwipiepy

        kiwi_version = kiwipiepy.__version__
    except ImportError:
        kiwi_version = None
        print("kiwipiepy is not installed (pip install kiwipiepy): bigrams only", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        for name, tokenize in TOKENIZERS.items():
            if kiwi_version is None and name.startswith("kiwi"):
                continue
            q = quality(name, tokenize, texts, owner, questions, Path(tmp))
            lat = latency(name, tokenize, sentences, args.chunks, latency_queries, Path(tmp),
                          args.seed)
            results[name] = {"quality": q, "latency": lat}
            rows.append([name, q["recall@1"], q[f"recall@{K}"], q[f"mrr@{K}"],
                         lat["search_ms_p50"], lat["search_ms_p99"], lat["tokenize_ms_p50"]])
            print(f"{name}: done", file=sys.stderr)
    passages = [par.context for a in articles for par in a.paragraphs]
    throughput = kiwi_throughput(passages) if kiwi_version else None
    print(table(rows, ["tokens", "recall@1", f"recall@{K}", f"MRR@{K}",
                       f"BM25 p50 ms ({args.chunks // 1000}k)", "p99 ms",
                       "query tokenize ms"]))
    if throughput:
        print(f"Kiwi: {throughput['chars_per_second']:,} characters/s on one core "
              f"({throughput['characters']:,} characters of passages)")
    path = save_results(f"korean-bm25-{args.name}", {
        "qa_file": args.qa_file.name, "passages": len(passages), "chunks": len(texts),
        "questions": len(questions), "kiwipiepy": kiwi_version,
        "tokenizers": results, "kiwi_throughput": throughput}, args.out_dir)
    print(f"wrote {path}")


LABELS = {"bigram (ragchat)": "**character bigrams (ragchat)**",
          "kiwi, all morphemes": "Kiwi, every morpheme",
          "kiwi, content morphemes": "Kiwi, content morphemes (nouns, stems, adverbs, foreign "
                                     "words, numbers)",
          "kiwi content + bigram": "Kiwi content morphemes + bigrams"}


def markdown(paths: list[Path]) -> str:
    """Quality and latency per tokenizer, the best of each quality column in bold."""
    [data] = [read_results(p) for p in paths]
    runs = data["tokenizers"]
    columns = ["recall@1", f"recall@{K}", f"mrr@{K}"]
    best = {c: max(round(r["quality"][c], 3) for r in runs.values()) for c in columns}
    rows = []
    for name, run in runs.items():
        q, lat = run["quality"], run["latency"]
        cells = [number(q[c], 3) for c in columns]
        cells = [f"**{cell}**" if round(q[c], 3) == best[c] else cell
                 for c, cell in zip(columns, cells)]
        rows.append([LABELS.get(name, name), *cells,
                     f"{lat['search_ms_p50']:.0f} / {lat['search_ms_p99']:.0f} ms",
                     f"{lat['tokenize_ms_p50']:.2g} ms"])
    chunks = next(iter(runs.values()))["latency"]["chunks"]
    return markdown_table(["BM25 tokens", "recall@1", f"recall@{K}", f"MRR@{K}",
                           f"BM25 p50 / p99 at {chunks // 1000}k chunks", "query tokenizing"],
                          rows)


TABLES = {"quality": markdown}


if __name__ == "__main__" and not table_mode(TABLES):
    main()
