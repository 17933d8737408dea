"""What KV-cache reuse saves, turn by turn, with a real model.

    python benchmarks/cache_reuse.py --turns 4                      # the embedded CPU model
    python benchmarks/cache_reuse.py --backend exllamav2 --turns 6  # the GPU model
    python benchmarks/cache_reuse.py --api-base http://127.0.0.1:8080/v1

Runs the same conversation twice through the real pipeline (real retrieval on a small
sample collection, or --collection with --questions):
- "warm": as ragchat always runs, so each LLM call finds the previous call's prompt in
  the backend's KV cache and prefills only the new part;
- "cold": before each LLM call, one token of an unrelated prompt is generated, which
  replaces the cached prompt, so each call prefills its whole prompt.
For every turn and LLM call it prints prompt tokens, tokens served from the cache, and the
time to first token in both runs; the difference is what reuse saves. (The cold run
defeats reuse for backends that cache the previous prompt: llama.cpp, its server, ExLlamaV2
unpaged. ExLlamaV2 in paged mode keeps earlier pages too, so there it measures less.)
Writes benchmarks/results/cache-reuse-<backend>.json (--name another name);
`--table FILE...` prints results files as the markdown table the docs show.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from common import save_results
from tables import markdown_table, number, read_results, run_name, table, table_mode

QUESTIONS = ("How often should I water the tomatoes?", "And how much sun do they need?",
             "What about the roses?", "When should I prune them?", "When does the night train "
             "to Vienna leave?", "How early should I book it?")


def conversation(backend: Any, choice: Any, settings: Any, collection: str,
                 questions: list[str], answer_tokens: int, cold: bool = False) -> list[dict]:
    """One conversation (`cold`: every call misses the cache); per turn: wall time and every
    LLM call's cache figures."""
    from ragchat.bench.conversation import chat_model, run_turns
    from ragchat.pipeline.factory import open_pipeline

    model = chat_model(backend, answer_tokens, cold=cold)
    pipeline = open_pipeline(settings, collection=collection, persistent=False,
                             chat_model=(model, choice))
    try:
        pipeline.retriever.search(questions[0], 1)  # load the embedding model first
        return [turn.to_json() for turn in run_turns(pipeline, questions)]
    finally:
        pipeline.close()


def compare(warm: list[dict], cold: list[dict]) -> tuple[list[list], dict]:
    from ragchat.bench.conversation import cache_totals

    rows, saved = [], []
    for w, c in zip(warm, cold):
        for wc, cc in zip(w["calls"], c["calls"]):
            rows.append([w["turn"], wc["node"], wc["prompt_tokens"], wc["cached_tokens"],
                         cc["cached_tokens"], wc["ttft_s"], cc["ttft_s"]])
            saved.append(cc["ttft_s"] - wc["ttft_s"])
    warm_totals = [cache_totals(t["calls"]) for t in warm]
    summary = {
        "turn_wall_s_warm": [round(t["wall_s"], 4) for t in warm],
        "turn_wall_s_cold": [round(t["wall_s"], 4) for t in cold],
        "ttft_saved_s_median": statistics.median(saved) if saved else None,
        "ttft_saved_s_total": sum(saved),
        "cached_share_warm": _share(warm), "cached_share_cold": _share(cold),
        "turn_cached_share_warm": [_round(t["cached_share"]) for t in warm_totals],
        "turn_prefilled_tokens_warm": [t["prefilled_tokens"] for t in warm_totals],
    }
    return rows, summary


def _share(turns: list[dict]) -> float | None:
    from ragchat.bench.conversation import cache_totals

    return cache_totals(c for t in turns for c in t["calls"])["cached_share"]


def _percent(share: float | None) -> str:
    return "unknown" if share is None else f"{share:.0%}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def markdown(paths: list[Path]) -> str:
    """Per turn of each results file: its LLM calls (cached / prompt tokens), the share of
    the turn's prompt tokens served from the cache, and the tokens prefilled (warm run)."""
    from ragchat.bench.conversation import cache_totals

    rows = []
    for path in paths:
        for turn in read_results(path)["warm"]:
            calls = ", ".join(f"{c['node']} {c['cached_tokens']} / {c['prompt_tokens']}"
                              for c in turn["calls"])
            totals = cache_totals(turn["calls"])
            rows.append([run_name(path, "cache-reuse-"), turn["turn"], calls,
                         number(totals["cached_share"]), totals["prefilled_tokens"]])
    return markdown_table(["run", "turn", "calls (cached / prompt tokens)", "cached share",
                           "prefilled tokens"], rows)


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="llamacpp", help="exllamav2, llamacpp or api")
    parser.add_argument("--api-base", default=None, help="OpenAI-compatible server (api)")
    parser.add_argument("--api-model", default=None)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--answer-tokens", type=int, default=48)
    parser.add_argument("--collection", default=None, help="your collection (else a sample)")
    parser.add_argument("--questions", type=Path, default=None, help="one question per line")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--name", default=None,
                        help="results file name [cache-reuse-<backend>]")
    args = parser.parse_args()
    run(args)


def run(args: argparse.Namespace) -> None:
    import contextlib

    from ragchat.bench.turns import sample_collection
    from ragchat.config import load_settings
    from ragchat.llm import load_backend

    backend_name = "api" if args.api_base else args.backend
    settings = load_settings({"backend": backend_name, "api_base": args.api_base,
                              "api_model": args.api_model})
    questions = _questions(args)
    backend, choice = load_backend(settings)
    try:
        with contextlib.ExitStack() as stack:
            collection = args.collection or stack.enter_context(sample_collection(settings))
            warm, cold = (conversation(backend, choice, settings, collection, questions,
                                       args.answer_tokens, cold=cold) for cold in (False, True))
    finally:
        backend.close()
    rows, summary = compare(warm, cold)
    print(table(rows, ["turn", "node", "prompt", "cached warm", "cached cold",
                       "TTFT warm s", "TTFT cold s"]))
    warm_share, cold_share = (_percent(summary[f"cached_share_{run}"]) for run in ("warm", "cold"))
    print(f"\nshare of prompt tokens from the cache: warm {warm_share}, "
          f"cold {cold_share}; TTFT saved per call (median) "
          f"{summary['ttft_saved_s_median'] or 0:.3f} s, "
          f"in all {summary['ttft_saved_s_total']:.2f} s")
    path = save_results(args.name or f"cache-reuse-{choice.name}", {
        "backend": backend.describe(), "reason": choice.reason, "questions": questions,
        "answer_tokens": args.answer_tokens, "warm": warm, "cold": cold, "summary": summary},
        args.out_dir)
    print(f"written to {path}")


def _questions(args: argparse.Namespace) -> list[str]:
    if args.questions:
        lines = args.questions.read_text(encoding="utf-8").splitlines()
        found = [q.strip() for q in lines if q.strip()]
    else:
        found = list(QUESTIONS)
    if args.collection and not args.questions:
        raise SystemExit("--collection needs --questions (one question per line about it)")
    return found[: max(args.turns, 1)]


TABLES = {"turns": markdown}


if __name__ == "__main__" and not table_mode(TABLES):
    main()
