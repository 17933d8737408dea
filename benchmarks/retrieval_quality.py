"""Retrieval quality of `ragchat search` on a SQuAD-format QA file: recall@k and MRR per mode.

    python benchmarks/retrieval_quality.py benchmarks/data/KorQuAD_v1.0_dev.json --name korquad

Builds a folder of documents from the QA file's passages (one markdown file per passage,
titled with its article's title; or one file per article with --layout article), ingests it
with `ragchat ingest` into a throwaway RAGCHAT_HOME, asks every question through
`ragchat search - --json -k K --mode MODE` (one question per line on stdin), and scores:

- recall@k: a result is the gold passage: its file (passage layout), or a chunk of the gold
  article's file that contains an answer (article layout), is among the top k;
- MRR@k: mean of 1/rank of the first gold result (0 when it is not in the top k);
- answer@k: some top-k chunk contains an answer text, in whatever file (lenient).

Prints a table, a few misses per mode, and writes benchmarks/results/retrieval-NAME.json.

    python benchmarks/retrieval_quality.py benchmarks/qa/pip-docs.jsonl --docs FOLDER --name pip-docs

scores a real documentation folder instead: QA is a `ragchat eval` file (question + the
page that answers it), FOLDER is ingested as it is, and `ragchat eval --json` scores each
mode (a hit is a chunk of the expected page). --env KEY=VALUE (repeatable) sets ragchat
settings for the run, to compare variants on the same questions.
"""

from __future__ import annotations

import argparse
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from common import (
    Article,
    Question,
    embedding_env,
    ingest_folder,
    json_lines,
    last_json,
    load_squad,
    run_ragchat,
    save_results,
    script_parser,
    work_folder,
)
from tables import markdown_table, number, read_results, run_name, table, table_mode

from ragchat.bench.scoring import first_hit, rank_scores

MODES = ("hybrid", "dense", "bm25")


@dataclass(frozen=True)
class Item:
    """One question and where its answer lives in the built corpus."""

    question: Question
    gold_file: Path
    title: str


def build_corpus(articles: list[Article], root: Path, layout: str,
                 write: bool = True) -> list[Item]:
    """Write the passages as markdown files under root (unless write is False: they are
    there already); return every question with its gold file."""
    root.mkdir(parents=True, exist_ok=True)
    items = []
    for a, article in enumerate(articles):
        if layout == "article":
            path = root / f"a{a:04d}.md"
        if layout == "article" and write:
            body = "\n\n".join(p.context.strip() for p in article.paragraphs)
            path.write_text(f"# {article.title}\n\n{body}\n", encoding="utf-8")
        for p, par in enumerate(article.paragraphs):
            if layout == "passage":
                path = root / f"a{a:04d}" / f"p{p:03d}.md"
            if layout == "passage" and write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"# {article.title}\n\n{par.context.strip()}\n", encoding="utf-8")
            items.extend(Item(q, path.resolve(), article.title) for q in par.questions)
    return items


def _norm(text: str) -> str:
    return " ".join(text.split())


def gold_rank(item: Item, results: list[dict], layout: str) -> int | None:
    """1-based rank of the first result that is the gold passage, or None."""
    answers = [_norm(a) for a in item.question.answers]

    def is_gold(res: dict) -> bool:
        return Path(res["path"]).resolve() == item.gold_file and (
            layout == "passage" or any(a in _norm(res.get("text", "")) for a in answers))

    return first_hit(results, is_gold)


def answer_found(item: Item, results: list[dict]) -> bool:
    texts = [_norm(r.get("text", "")) for r in results]
    return any(_norm(a) in t for a in item.question.answers for t in texts)


def score(items: list[Item], outputs: list[dict], layout: str, k: int) -> dict:
    ranks = [gold_rank(it, out["results"][:k], layout) for it, out in zip(items, outputs)]
    n = len(items)
    return {
        "questions": n, **rank_scores(ranks, k),
        f"answer@{k}": sum(answer_found(it, o["results"][:k]) for it, o in zip(items, outputs)) / n,
        "misses": [it.question.qid for it, r in zip(items, ranks) if r is None],
    }


def search_all(items: list[Item], home: Path, mode: str, k: int, env: dict) -> tuple[list, float]:
    stdin = "".join(it.question.text + "\n" for it in items)
    run = run_ragchat(["search", "-", "--json", "-k", str(k), "--mode", mode], home, stdin, env)
    outputs = json_lines(run.stdout)
    if len(outputs) != len(items):
        raise SystemExit(f"search --mode {mode} answered {len(outputs)} of {len(items)} queries")
    for it, out in zip(items, outputs):
        if _norm(out.get("query", "")) != it.question.text:
            raise SystemExit(f"search answered out of order: {out.get('query')!r}")
    return outputs, run.seconds


def miss_examples(items: list[Item], outputs: list[dict], misses: set[str], root: Path,
                  count: int) -> list[dict]:
    examples = []
    for it, out in zip(items, outputs):
        if it.question.qid not in misses or len(examples) >= count:
            continue
        top = [{"file": _rel(r["path"], root), "location": r.get("location"),
                "snippet": _norm(r.get("text", ""))[:100]} for r in out["results"][:3]]
        examples.append({"qid": it.question.qid, "gold_file": _rel(str(it.gold_file), root),
                         "question": it.question.text, "answers": list(it.question.answers),
                         "gold": f"{_rel(str(it.gold_file), root)} ({it.title})", "top3": top})
    return examples


def _rel(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return path


def sample(items: list[Item], limit: int | None, seed: int) -> list[Item]:
    if not limit or limit >= len(items):
        return items
    chosen = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in chosen]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = script_parser(__doc__, name=None, work_dir=True)
    ap.add_argument("qa_file", type=Path, help="SQuAD-format JSON (SQuAD, KorQuAD)")
    ap.add_argument("--layout", choices=("passage", "article"), default="passage")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated search modes")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--limit", type=int, help="score a seeded random sample of N questions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--embedding-model", help="sets RAGCHAT_EMBEDDING_MODEL (default: ragchat's)")
    ap.add_argument("--examples", type=int, default=5, help="misses shown per mode")
    ap.add_argument("--docs", type=Path, metavar="FOLDER",
                    help="QA is a ragchat eval JSONL file about this documentation folder")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="environment for ragchat (e.g. RAGCHAT_CHUNK_SIZE=600)")
    ap.add_argument("--reuse", action="store_true",
                    help="search the index already in --work-dir (same QA file and layout)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    name = args.name or args.qa_file.stem
    with work_folder(args.work_dir) as work:
        report = evaluate_docs(args, work) if args.docs else evaluate(args, work)
    path = save_results(f"retrieval-{name}", report, args.out_dir)
    print(f"\nwrote {path}")


def evaluate_docs(args: argparse.Namespace, work: Path) -> dict:
    """`ragchat eval` of a QA JSONL file against a documentation folder, per mode."""
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    env = {**embedding_env(args.embedding_model),
           **dict(pair.split("=", 1) for pair in args.env)}
    ingest, info = ingest_folder(args.docs.resolve(), home, env)
    print(f"ingested {info['files_seen']} files, {info['chunks_total']} chunks "
          f"in {ingest.seconds:.1f} s")
    modes, rows = {}, []
    for mode in args.modes.split(","):
        run = run_ragchat(["eval", str(args.qa_file.resolve()), "--json", "-k", str(args.k),
                           "--mode", mode], home, env=env)
        out = last_json(run.stdout)
        summary = {**out["summary"], "file": args.qa_file.name}  # not this machine's path
        misses = [{"id": q.get("id"), "found_rank": q.get("rank"),
                   "top3": [_rel(h["path"], args.docs) + ":" + str(h.get("location") or "")
                            for h in q.get("results", [])[:3]]}
                  for q in out["questions"] if q.get("rank") != 1]
        modes[mode] = {"summary": summary, "not_first": misses}
        rows.append([mode, summary["recall"]["1"], summary["recall"][str(args.k)],
                     summary["mrr"], round(run.seconds, 1)])
    print(table(rows, ["mode", "recall@1", f"recall@{args.k}", f"MRR@{args.k}", "seconds"]))
    return {"qa_file": args.qa_file.name, "docs": args.docs.name, "env": args.env,
            "k": args.k, "files": info["files_seen"], "chunks": info["chunks_total"],
            "embedding_model": info.get("model"), "modes": modes}


def evaluate(args: argparse.Namespace, work: Path) -> dict:
    corpus, home = work / "corpus", work / "home"
    reuse = args.reuse and (home / "data").is_dir()
    for folder in () if reuse else (corpus, home):
        shutil.rmtree(folder, ignore_errors=True)
    articles = load_squad(args.qa_file)
    items = sample(build_corpus(articles, corpus, args.layout, write=not reuse),
                   args.limit, args.seed)
    env = embedding_env(args.embedding_model)
    ingest, report = ingest_folder(corpus, home, env)
    print(f"ingested {sum(len(a.paragraphs) for a in articles)} passages "
          f"in {ingest.seconds:.1f} s; {len(items)} questions")
    modes, rows = {}, []
    for mode in args.modes.split(","):
        outputs, seconds = search_all(items, home, mode, args.k, env)
        result = score(items, outputs, args.layout, args.k)
        result["seconds"] = seconds
        examples = miss_examples(items, outputs, set(result["misses"]), corpus, args.examples)
        _print_examples(mode, examples)
        result["examples"] = [_without_text(ex) for ex in examples]
        modes[mode] = result
        rows.append([mode, result["recall@1"], result[f"recall@{args.k}"],
                     result[f"mrr@{args.k}"], result[f"answer@{args.k}"], round(seconds, 1)])
    print(table(rows, ["mode", "recall@1", f"recall@{args.k}", f"MRR@{args.k}",
                       f"answer@{args.k}", "search s"]))
    return {"qa_file": args.qa_file.name, "layout": args.layout, "k": args.k,
            "articles": len(articles), "passages": sum(len(a.paragraphs) for a in articles),
            "questions": len(items), "limit": args.limit, "seed": args.seed,
            "ingest": report, "ingest_seconds": ingest.seconds,
            "modes": modes}


def _print_examples(mode: str, examples: list[dict]) -> None:
    for ex in examples[:3]:
        top = ex["top3"][0] if ex["top3"] else {}
        print(f"[{mode} miss] {ex['question']}  -> answer {ex['answers'][0]!r}, "
              f"gold {ex['gold']}\n    top-1: {top.get('file')}: {top.get('snippet')}")


def _without_text(example: dict) -> dict:
    """What the results file keeps of a miss: ids and file names, not the data set's text."""
    return {"qid": example["qid"], "gold": example["gold_file"],
            "top3": [t["file"] for t in example["top3"]]}


def modes_table(paths: list[Path]) -> str:
    """A SQuAD-format run: recall@1, recall@k, MRR@k and answer@k per search mode."""
    rows, k = [], None
    for path in paths:
        data = read_results(path)
        k = data["k"]
        name = f"{run_name(path, 'retrieval-')}: " if len(paths) > 1 else ""
        for mode, got in data["modes"].items():
            rows.append([name + mode, *(number(got[key], 3) for key in
                                         ("recall@1", f"recall@{k}", f"mrr@{k}", f"answer@{k}"))])
    return markdown_table(["mode", "recall@1", f"recall@{k}", f"MRR@{k}", f"answer@{k}"], rows)


def docs_table(paths: list[Path]) -> str:
    """--docs runs side by side: chunks, hybrid recall@1, recall@k and MRR@k, and the MRR@k
    of dense and BM25 alone where the run has them."""
    rows, k = [], None
    for path in paths:
        data = read_results(path)
        k, modes = data["k"], data["modes"]
        hybrid = modes["hybrid"]["summary"]
        alone = [number(modes[m]["summary"]["mrr"], 3) if m in modes else "-"
                 for m in ("dense", "bm25")]
        rows.append([run_name(path, "retrieval-"), f"{data['chunks']:,}",
                     number(hybrid["recall"]["1"], 3), number(hybrid["recall"][str(k)], 3),
                     number(hybrid["mrr"], 3), *alone])
    return markdown_table(["run", "chunks", "hybrid recall@1", f"recall@{k}", f"MRR@{k}",
                           f"dense alone MRR@{k}", f"BM25 alone MRR@{k}"], rows)


TABLES = {"modes": modes_table, "docs": docs_table}


if __name__ == "__main__" and not table_mode(TABLES):
    main()
