"""Answer quality of `ragchat repl` as a user runs it, judged by `ragchat eval`'s own rules.

Ingests a folder into a throwaway home, feeds the QA file's conversations to one
`ragchat repl --json` process (each item: its context questions, its question, `/reset`),
and judges every reply with ragchat.bench.evaluate.judge_answer: clean (no scaffolding, no
[n] outside the sources shown, no runaway), contains the expected answer, a citation / a
shown source holds it, the turn's own search found it (after any rewrite), and for
questions the documents do not cover, whether the reply said so. It treats the ragchat it
runs as a black box (only its `--json` output), so an older checkout can be measured the
same way (`--ragchat-path`), side by side.

  python benchmarks/answer_quality.py --qa benchmarks/qa/httpx-docs.jsonl \\
      --docs ~/src/httpx/docs --label httpx --out benchmarks/results/answers-httpx.json \\
      [--set relevance_check=llm ...] [--ragchat-path OLD_CHECKOUT]
  python benchmarks/answer_quality.py --table benchmarks/results/answers-*.json

Settings are passed as RAGCHAT_<KEY> variables; results are written as JSON (summary and
every reply) by common.save_results: `commit` is this repository's, `ragchat_commit` the
checkout measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import REPO_DIR as REPO
from common import git_commit, save_results, shown_path
from tables import markdown_table, number, read_results, table_mode

sys.path.insert(0, str(REPO))


def run_ragchat(args: list[str], env: dict[str, str], stdin: str | None = None,
                timeout: int = 3600) -> str:
    """`python -m ragchat ARGS`, started in the checkout it must import (`-m` puts the working
    folder first on the import path, before PYTHONPATH)."""
    proc = subprocess.run([sys.executable, "-m", "ragchat", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          cwd=env.get("PYTHONPATH") or str(REPO))
    if proc.returncode != 0:
        raise SystemExit(f"ragchat {' '.join(args)} failed ({proc.returncode}):\n"
                         f"{proc.stderr[-3000:]}")
    return proc.stdout


def _imported_from(env: dict[str, str]) -> str:
    """The ragchat package file that `run_ragchat` would import."""
    return subprocess.run([sys.executable, "-c", "import ragchat; print(ragchat.__file__)"],
                          env=env, cwd=env["PYTHONPATH"], capture_output=True, text=True,
                          check=True).stdout.strip()


def conversation_lines(items: list[Any]) -> tuple[str, list[int]]:
    """stdin for one repl: per item its context, its question, /reset; and which reply
    (0-based, counting replies) is each item's judged one."""
    lines, judged, replies = [], [], 0
    for item in items:
        lines += [*item.context, item.question, "/reset"]
        replies += len(item.context) + 1
        judged.append(replies - 1)
    return "\n".join(lines) + "\n", judged


def as_result(data: dict, retrieved: list[Any]) -> Any:
    """A TurnResult from a `--json` reply (any ragchat version); `retrieved` from a search
    of its standalone question when the reply does not list what it retrieved."""
    from ragchat.pipeline.result import Chunk, LLMCall, TurnResult

    sources = tuple(Chunk(n=s["n"], path=s["path"], location=s.get("location") or "",
                          text=s.get("text") or "", score=0.0, kept=True)
                    for s in data.get("sources") or [])
    return TurnResult(
        question="", standalone_question=data.get("standalone_question") or "",
        route=data.get("route") or "retrieve", answer=data.get("answer") or "",
        sources=sources, retrieved=tuple(retrieved), grades_parsed=True,
        timings=data.get("timings") or {},
        llm_calls=tuple(LLMCall.from_dict(c) for c in data.get("llm_calls") or []),
        backend=data.get("backend") or "", sources_kind=data.get("sources_kind") or "",
        answer_kind=data.get("answer_kind") or "")


def searched_chunks(searcher: Any, query: str, k: int) -> list[Any]:
    from ragchat.pipeline.result import Chunk

    return [Chunk(n=i, path=h.path, location=h.location, text=h.text, score=h.score)
            for i, h in enumerate(searcher.search(query, k), start=1)] if query else []


def judge(items: list[Any], replies: list[dict], judged: list[int], settings: Any,
          collection: str, k: int, budget: int) -> list[Any]:
    from ragchat.bench.evaluate import QuestionResult, Retrieval, judge_answer
    from ragchat.index.search import open_searcher

    searcher = open_searcher(settings, collection)
    out = []
    try:
        for item, index in zip(items, judged, strict=True):
            data = replies[index]
            retrieved = searched_chunks(searcher, data.get("standalone_question") or "", k)
            latency = sum((data.get("timings") or {}).values())
            answer = judge_answer(item, as_result(data, retrieved), latency, budget)
            out.append(QuestionResult(item, Retrieval(None, None, ()), answer))
    finally:
        searcher.close()
    return out


def shown_setting(pair: str) -> str:
    key, _, value = pair.partition("=")
    return f"{key}={Path(value).name}" if "/" in value else pair


COLUMNS = (("clean", "clean"), ("contains_answer", "contains the answer"),
           ("citation_hit", "a citation holds it"), ("sources_hit", "a source shown holds it"),
           ("follow_up_search_hit", "follow-ups: search found it"),
           ("said_not_covered", "off-topic: said so"), ("latency_median_s", "median s"))


def markdown(paths: list[Path]) -> str:
    """The results files as the table docs/explanation/pipeline-and-cache.md shows."""
    rows = []
    for path in paths:
        data = read_results(path)
        rows.append([data["label"], data.get("ragchat_commit") or "-",
                     *(_cell(data["summary"].get(key), key) for key, _ in COLUMNS)])
    return markdown_table(["run", "commit", *(title for _, title in COLUMNS)], rows)


def _cell(value: Any, key: str) -> str:
    return number(value, 1 if key.endswith("_s") else 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--qa", required=True, help="QA file (ragchat eval's format)")
    parser.add_argument("--docs", required=True, help="folder to ingest")
    parser.add_argument("--label", required=True, help="name of this run in the results")
    parser.add_argument("--out", required=True, type=Path,
                        help="results file (NAME.json; written with save_results' header)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a ragchat setting for the repl (repeatable)")
    parser.add_argument("--ragchat-path", help="run the ragchat of this checkout instead")
    parser.add_argument("--home", help="RAGCHAT_HOME to reuse (its index is kept)")
    parser.add_argument("--budget", type=int, default=512,
                        help="the answer token budget of the ragchat under test: an answer "
                             "that reaches it counts as a runaway [512]")
    args = parser.parse_args(argv)
    if args.out.suffix != ".json":
        parser.error("--out: a results file ends in .json")
    from ragchat.bench.evaluate import summarize
    from ragchat.bench.qa import read_qa
    from ragchat.config import load_settings

    items = read_qa(Path(args.qa))
    home = args.home or tempfile.mkdtemp(prefix="ragchat-answers-")
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAGCHAT_")}
    env = {**base, "RAGCHAT_HOME": home, "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = str(Path(args.ragchat_path or REPO).resolve())
    imported = _imported_from(env)
    if Path(imported).resolve().parent.parent != Path(env["PYTHONPATH"]):
        raise SystemExit(f"would measure the ragchat in {imported}, not {env['PYTHONPATH']}")
    run_ragchat(["ingest", str(Path(args.docs).resolve()), "--collection", "qa", "-q"], env)
    for pair in args.set:
        key, _, value = pair.partition("=")
        env[f"RAGCHAT_{key.strip().upper()}"] = value.strip()
    stdin, judged = conversation_lines(items)
    started = time.perf_counter()
    out = run_ragchat(["repl", "--json", "--collection", "qa"], env, stdin)
    seconds = time.perf_counter() - started
    replies = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if len(replies) != judged[-1] + 1:
        raise SystemExit(f"expected {judged[-1] + 1} replies, got {len(replies)}")
    os.environ["RAGCHAT_HOME"] = home
    settings = load_settings()
    budget = int(env.get("RAGCHAT_MAX_NEW_TOKENS", 0)) or args.budget
    results = judge(items, replies, judged, settings, "qa", settings.search_k, budget)
    summary = summarize(results, settings.search_k)
    report = {"label": args.label, "qa": shown_path(args.qa), "docs_name": Path(args.docs).name,
              "settings": [shown_setting(s) for s in args.set],
              "ragchat_commit": git_commit(Path(args.ragchat_path) if args.ragchat_path else REPO),
              "seconds": round(seconds, 1),
              "summary": summary.get("answers"),
              "replies": [r.to_json() for r in results]}
    save_results(args.out.stem, report, args.out.parent)
    print(json.dumps({"label": args.label, **(summary.get("answers") or {})}, indent=2))
    return 0


TABLES = {"answers": markdown}


if __name__ == "__main__" and not table_mode(TABLES):
    sys.exit(main())
