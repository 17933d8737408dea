"""`ragchat eval --answers --concurrency N`: N questions answered at once over one backend.

Each question is its own conversation, so N of them can run side by side: N pipelines (one
session each) over one loaded backend and one shared searcher, the questions run through
`ragchat.llm.concurrency.run_calls` N at a time. How the backend serves their overlapping
calls decides what "at once" means:
- "parallel": an API server gets N requests at a time and schedules them itself;
- "batched": ExLlamaV2 in paged mode decodes the jobs of the N turns' calls that are in
  flight together (its JobDriver), in one forward pass;
- "sequential": a local engine that serves one call at a time (llama.cpp, ExLlamaV2 without
  flash-attn) answers the questions one after another, as with --concurrency 1; it says so.
Throughput counts every answered question and every new token of every turn (the context
questions of follow-ups too) over the wall time of the whole answering stage.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ragchat.progress import Progress


@dataclass(frozen=True)
class Throughput:
    """How fast the answers came: answers per minute and new tokens per second."""

    asked: int  # --concurrency
    mode: str  # "sequential", "parallel" or "batched"
    at_once: int  # questions actually in flight together
    wall_s: float
    answers: int
    new_tokens: int
    prompt_tokens: int
    cached_tokens: int | None  # of the calls that report it; None: no call does
    cache_reported: int = 0  # prompt tokens of the calls that report their cache
    note: str = ""

    @property
    def answers_per_min(self) -> float:
        return 60.0 * self.answers / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.wall_s if self.wall_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"concurrency": self.asked, "mode": self.mode, "at_once": self.at_once,
                "wall_s": round(self.wall_s, 4), "answers": self.answers,
                "answers_per_min": round(self.answers_per_min, 3),
                "tokens_per_s": round(self.tokens_per_s, 3), "new_tokens": self.new_tokens,
                "prompt_tokens": self.prompt_tokens, "cached_tokens": self.cached_tokens,
                "cache_reported_prompt_tokens": self.cache_reported, "note": self.note or None}


def plan_concurrency(backend: Any, asked: int, questions: int) -> tuple[str, int, str]:
    """(mode, questions at once, note) for `asked` at once on this backend."""
    if asked <= 1 or questions <= 1:
        return "sequential", 1, ""
    mode = backend.concurrency
    if mode == "sequential":
        return mode, 1, (f"{backend.describe()} serves one call at a time: the questions ran "
                         "one after another")
    return mode, min(asked, questions), ""


def measure(answers: list[Any], wall_s: float, asked: int, mode: str, at_once: int,
            note: str = "") -> Throughput:
    cached = [a.cached_tokens for a in answers if a.cached_tokens is not None]
    return Throughput(asked=asked, mode=mode, at_once=at_once, wall_s=wall_s,
                      answers=len(answers), new_tokens=sum(a.new_tokens for a in answers),
                      prompt_tokens=sum(a.prompt_tokens for a in answers),
                      cached_tokens=sum(cached) if cached else None,
                      cache_reported=sum(a.cache_reported for a in answers), note=note)


class SharedSearcher:
    """One searcher for several pipelines: one search at a time; its owner closes it."""

    def __init__(self, searcher: Any) -> None:
        self._searcher = searcher
        self._lock = threading.Lock()

    def search(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._searcher.search(*args, **kwargs)

    def close(self) -> None:
        """Not the pipelines' to close."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._searcher, name)


AnswerOne = Callable[[Callable[[str], Any], Any, Any], Any]


def answer_all(pipelines: list[Any], items: list[Any], answer_one: AnswerOne,
               progress: Progress) -> list[Any]:
    """Answer `items`, as many at once as there are pipelines (each call in flight has one
    to itself: its own conversation); results in the items' order.

    `answer_one(ask, pipeline, item)` answers one item, asking through `ask(question)`.
    Ctrl-C cancels every running turn and raises TurnCancelled; the first error cancels
    the others and is raised.
    """
    from ragchat.llm.concurrency import Cancel, Outcome, results, run_calls
    from ragchat.pipeline.result import TurnCancelled

    free: queue.SimpleQueue = queue.SimpleQueue()
    for pipeline in pipelines:
        free.put(pipeline)

    def one(item: Any, cancel: Cancel) -> Any:
        pipeline = free.get()
        try:
            return answer_one(asker(pipeline, cancel), pipeline, item)
        finally:
            free.put(pipeline)

    def done(outcome: Outcome[Any]) -> None:
        if outcome.ok:
            progress.advance()

    try:
        outcomes = run_calls(one, items, at_once=len(pipelines), on_done=done)
    except KeyboardInterrupt:
        raise TurnCancelled() from None
    return results(outcomes)


def asker(pipeline: Any, cancel: Any) -> Callable[[str], Any]:
    """`ask(question)`: one turn of `pipeline`, cancelled when `cancel` (a Cancel) is set."""

    def ask(question: str) -> Any:
        handle = pipeline.start_turn(question)
        with cancel.hook(handle.cancel):
            return handle.wait()

    return ask
