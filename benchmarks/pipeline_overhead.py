"""The pipeline's own overhead: what a turn costs when the model and the search cost nothing.

    python benchmarks/pipeline_overhead.py --sessions 5 --turns 10

Runs the real LangGraph turn graph (contextualize, retrieve, relevance_check, llm_answer,
save_memory), with its real checkpointers (in memory, and SQLite as `--session` uses), but
with a chat model that answers instantly (a canned reply per task, streamed word by word)
and a searcher that returns fixed passages instantly. Whatever time a turn takes is then
ragchat's and LangGraph's own: prompt rendering, parsing, state copies, checkpoint writes.
Compare it with the seconds a real model takes per turn (`ragchat bench --rows pipeline`).

Reports, per checkpointer and for first turns and follow-ups: the median and p90 of the
turn's wall time, the sum of the node timings, and the rest (graph and checkpoint overhead
outside the nodes). Writes benchmarks/results/pipeline-overhead.json.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any

from common import save_results
from tables import table

from ragchat.bench.stats import percentile

NODES = ("contextualize", "retrieve", "relevance_check", "llm_answer", "save_memory")


def make_model(answer_words: int) -> Any:
    """A langchain-core chat model that replies instantly, by the prompt's TASK line."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

    answer = " ".join(["The passages say so [1] and agree [2]."] * max(answer_words // 7, 1))
    replies = {"REWRITE": '{"question": "What do the passages say about it?", "search": true}',
               "GRADE": "1, 2", "ANSWER": answer, "GENERAL": answer, "CHAT": "Hello.",
               "SUMMARY": "The user asked about the passages."}

    def reply(messages: list[Any]) -> str:
        match = re.search(r"TASK: (\w+)", str(messages[-1].content))
        return replies.get(match.group(1) if match else "", "OK.")

    class InstantChatModel(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "instant"

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            return ChatResult(generations=[ChatGeneration(message=AIMessage(
                content=reply(messages)))])

        def _stream(self, messages, stop=None, run_manager=None, **kwargs):
            for piece in re.split(r"(\s)", reply(messages)):
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece))

    return InstantChatModel()


class InstantSearcher:
    """Returns the same k passages for every query, at once."""

    def __init__(self) -> None:
        from ragchat.index.search import SearchHit

        text = ("Tomatoes need six hours of sun and deep watering twice a week. " * 8).strip()
        self.hits = [SearchHit(i, f"/notes/note{i}.md", f"lines {i}-{i + 9}", "Garden",
                               text, 1.0 / i, i, i + 9, None) for i in range(1, 11)]

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Any]:
        return self.hits[:k]

    def close(self) -> None:
        pass


def time_turns(persistent: bool, sessions: int, turns: int, answer_words: int,
              prefix: str = "overhead") -> list[dict]:
    """Every turn's wall time and node timings, through `open_pipeline` as the CLI uses it."""
    from ragchat.bench.conversation import run_turns
    from ragchat.config import load_settings
    from ragchat.pipeline.factory import open_pipeline

    settings = load_settings()
    searcher = InstantSearcher()
    pipeline = open_pipeline(settings, persistent=persistent, require_index=False,
                             chat_model=(make_model(answer_words), None),
                             opener=lambda _s, _c: searcher)
    questions = [f"Question {t + 1}: what about the tomatoes?" for t in range(turns)]
    try:  # each session a new conversation
        asked = [turn for s in range(sessions)
                 for turn in run_turns(pipeline, questions, session=f"{prefix}-{s}")]
    finally:
        pipeline.close()
    return [{"turn": t.number, "wall_s": t.wall_s, "nodes": dict(t.result.timings),
             "calls": len(t.result.llm_calls)} for t in asked]


def summarize(records: list[dict]) -> dict:
    walls = [r["wall_s"] for r in records]
    in_nodes = [sum(r["nodes"].values()) for r in records]
    rest = [w - n for w, n in zip(walls, in_nodes)]
    nodes = {name: statistics.median(r["nodes"].get(name, 0.0) for r in records)
             for name in NODES}
    return {"turns": len(records), "wall_ms_median": 1e3 * statistics.median(walls),
            "wall_ms_p90": 1e3 * percentile(walls, 0.9), "nodes_ms_median": 1e3 * statistics.median(in_nodes),
            "outside_nodes_ms_median": 1e3 * statistics.median(rest),
            "node_ms_median": {k: 1e3 * v for k, v in nodes.items()},
            "llm_calls_median": statistics.median(r["calls"] for r in records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=5, help="conversations per checkpointer")
    parser.add_argument("--turns", type=int, default=10, help="turns per conversation")
    parser.add_argument("--answer-words", type=int, default=70, help="words per canned answer")
    parser.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ragchat-overhead-") as home:
        os.environ["RAGCHAT_HOME"] = home  # the SQLite sessions file goes here
        results: dict[str, dict] = {}
        for name, persistent in (("memory", False), ("sqlite", True)):
            time_turns(persistent, 1, 2, args.answer_words, "warm-up")  # imports, graph compile
            records = time_turns(persistent, args.sessions, args.turns, args.answer_words)
            results[name] = {"first": summarize([r for r in records if r["turn"] == 1]),
                             "follow_up": summarize([r for r in records if r["turn"] > 1])}
    rows = []
    for name, parts in results.items():
        for part, s in parts.items():
            rows.append([name, part, s["turns"], s["wall_ms_median"], s["wall_ms_p90"],
                         s["nodes_ms_median"], s["outside_nodes_ms_median"],
                         s["node_ms_median"]["llm_answer"]])
    print(table(rows, ["checkpointer", "turns", "n", "wall ms p50", "wall ms p90",
                       "in nodes ms", "outside ms", "llm_answer ms"]))
    path = save_results("pipeline-overhead", {
        "sessions": args.sessions, "turns_per_session": args.turns,
        "answer_words": args.answer_words, "results": results}, args.out_dir)
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
