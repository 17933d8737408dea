"""`ragchat eval`: retrieval (recall@k, MRR) and, with answers, the full pipeline per question.

A retrieved chunk is a hit when it comes from the expected source file, or when it
contains the expected answer text (case- and whitespace-insensitive). The rank of the
first hit gives recall@c (hit within the first c) and the reciprocal rank (1/rank, 0 when
none of the k results is a hit). With answers, each question is a fresh conversation (after
its `context` questions, asked first in the same conversation): the reply should contain
the expected answer, at least one of its citations should point at a chunk that holds it
(or, without an answer text, at the expected source), the sources shown should hold it, and
the reply should be clean: no prompt scaffolding, every [n] a listed source, no runaway.
For a question the documents do not cover, the reply should say so and list no source.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ragchat.bench.qa import QAItem, contains, same_source
from ragchat.bench.scoring import first_hit, mean_reciprocal_rank, recall_at
from ragchat.bench.stats import percentile
from ragchat.errors import BackendError
from ragchat.progress import Progress

if TYPE_CHECKING:
    from ragchat.bench.answer_pool import Throughput
    from ragchat.config import Settings


@dataclass(frozen=True)
class Retrieval:
    rank: int | None  # 1-based rank of the first hit among the k results; None = no hit
    matched_by: str | None  # "source", "answer" or "source+answer"
    hits: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Answer:
    text: str
    latency_s: float
    route: str
    cited: tuple[int, ...]
    contains_answer: bool | None  # None when the item has no expected answer
    citation_hit: bool | None  # None when the item has neither answer nor source
    problems: tuple[str, ...] = ()  # why the reply is not clean (empty: it is)
    sources_hit: bool | None = None  # a source shown under the reply holds the answer
    search_hit: bool | None = None  # the turn's own search (after any rewrite) found it
    said_not_covered: bool | None = None  # for "covered": false: it said so, no sources
    searched: str = ""
    sources_kind: str = ""
    answer_kind: str = ""  # pipeline.nodes.ANSWER_KINDS ("" from an older ragchat)
    # what the item's turns (its context questions too) cost: for throughput, not per question
    new_tokens: int = 0
    prompt_tokens: int = 0
    cached_tokens: int | None = 0  # of the calls that report it; None: none does
    cache_reported: int = 0  # prompt tokens of the calls that report their cache


@dataclass(frozen=True)
class QuestionResult:
    item: QAItem
    retrieval: Retrieval
    answer: Answer | None = None

    def to_json(self) -> dict[str, Any]:
        item = self.item
        out: dict[str, Any] = {
            "line": item.line, "id": item.id, "question": item.question,
            "expected_answer": item.answer, "expected_source": item.source,
            "rank": self.retrieval.rank, "matched_by": self.retrieval.matched_by,
            "results": list(self.retrieval.hits),
        }
        if item.context:
            out["context"] = list(item.context)
        if not item.covered:
            out["covered"] = False
        if self.answer is not None:
            a = self.answer
            out.update({"answer": a.text, "latency_s": round(a.latency_s, 4), "route": a.route,
                        "searched": a.searched, "cited": list(a.cited),
                        "sources_kind": a.sources_kind, "answer_kind": a.answer_kind,
                        "answer_contains": a.contains_answer,
                        "citation_hit": a.citation_hit, "sources_hit": a.sources_hit,
                        "search_hit": a.search_hit, "clean": not a.problems,
                        "problems": list(a.problems), "said_not_covered": a.said_not_covered})
        return out


def hit_matches(path: str, text: str, item: QAItem) -> str | None:
    """How a chunk matches the item: "source", "answer", both, or None."""
    by = []
    if item.source and same_source(path, item.source):
        by.append("source")
    if item.answer and contains(text, item.answer):
        by.append("answer")
    return "+".join(by) or None


def judge_retrieval(item: QAItem, hits: list[Any]) -> Retrieval:
    rank = first_hit(hits, lambda hit: hit_matches(hit.path, hit.text, item))
    matched = hit_matches(hits[rank - 1].path, hits[rank - 1].text, item) if rank else None
    shown = tuple({"rank": i, "path": h.path, "location": h.location,
                   "score": round(float(h.score), 6)} for i, h in enumerate(hits, start=1))
    return Retrieval(rank if item.judged else None, matched, shown)


def answer_problems(result: Any, max_new_tokens: int | None = None) -> tuple[str, ...]:
    """Why a reply is not clean: prompt scaffolding in it, a [n] that is no listed source,
    a runaway (the generation ran to its token budget or was stopped for repeating)."""
    import re

    from ragchat.pipeline.cleaning import REPEAT_NOTE, SCAFFOLD_INLINE, SCAFFOLD_LINE
    from ragchat.pipeline.parsing import cited_numbers

    text, problems = result.answer, []
    if any(SCAFFOLD_LINE.match(line) for line in text.splitlines()) or \
            SCAFFOLD_INLINE.search(text) or re.search(r"\bQuestion\s*:", text):
        problems.append("scaffolding")
    listed = {c.n for c in result.sources}
    if any(n not in listed for n in cited_numbers(text)):
        problems.append("citation of an unlisted source")
    answer_calls = [c for c in result.llm_calls if c.node == "llm_answer"]
    if REPEAT_NOTE.strip() in text or (max_new_tokens and answer_calls
                                         and answer_calls[-1].new_tokens >= max_new_tokens):
        problems.append("runaway")
    if not text.strip():
        problems.append("empty")
    return tuple(problems)


def judge_answer(item: QAItem, result: Any, latency_s: float,
                 max_new_tokens: int | None = None) -> Answer:
    from ragchat.pipeline.parsing import cited_numbers

    cited = tuple(cited_numbers(result.answer))
    chunks = [c for c in (result.source(n) for n in cited) if c is not None]
    citation_hit = sources_hit = search_hit = not_covered = None
    if item.judged:
        citation_hit = any(hit_matches(c.path, c.text, item) for c in chunks)
        sources_hit = any(hit_matches(c.path, c.text, item) for c in result.sources)
        search_hit = any(hit_matches(c.path, c.text, item) for c in result.retrieved)
    if not item.covered:
        from ragchat.pipeline.nodes import NOT_COVERED

        not_covered = result.answer.startswith(NOT_COVERED) and not result.sources
    return Answer(
        text=result.answer, latency_s=latency_s, route=result.route, cited=cited,
        contains_answer=contains(result.answer, item.answer) if item.answer else None,
        citation_hit=citation_hit, problems=answer_problems(result, max_new_tokens),
        sources_hit=sources_hit, search_hit=search_hit, said_not_covered=not_covered,
        searched=result.standalone_question, sources_kind=result.sources_kind,
        answer_kind=getattr(result, "answer_kind", ""),
    )


def run_retrieval(searcher: Any, items: list[QAItem], k: int, mode: str,
                  progress: Progress) -> list[Retrieval]:
    progress.stage("retrieval", len(items))
    out = []
    for item in items:
        out.append(judge_retrieval(item, searcher.search(item.question, k, mode)))
        progress.advance()
    return out


def answer_item(ask: Any, pipeline: Any, item: QAItem) -> Answer:
    """One item in its own conversation, after its context questions; `ask(question)` runs
    a turn of `pipeline`."""
    budget = getattr(getattr(pipeline, "params", None), "max_new_tokens", None)
    pipeline.switch(f"eval-line-{item.line}")
    turns = [ask(earlier) for earlier in item.context]
    start = time.perf_counter()
    result = ask(item.question)
    answer = judge_answer(item, result, time.perf_counter() - start, budget)
    return with_usage(answer, [*turns, result])


def with_usage(answer: Answer, turns: list[Any]) -> Answer:
    """What the item's turns cost. A call cut short by the client (a runaway stopped) or
    served by an engine that does not say, has no cache figure: it is left out of it."""
    calls = [c for turn in turns for c in turn.llm_calls]
    known = [c for c in calls if getattr(c, "cache_known", True)]
    return replace(answer, new_tokens=sum(c.new_tokens for c in calls),
                   prompt_tokens=sum(c.prompt_tokens for c in calls),
                   cached_tokens=sum(c.cached_tokens for c in known) if known else None,
                   cache_reported=sum(c.prompt_tokens for c in known))


def evaluate(settings: Settings, items: list[QAItem], *, k: int, mode: str = "hybrid",
             collection: str | None = None, answers: bool = False, concurrency: int = 1,
             progress: Progress | None = None) -> tuple[list[QuestionResult], Throughput | None]:
    """Score every item; open the LLM only when `answers` is asked for, and answer up to
    `concurrency` questions at once where the backend can serve them so."""
    from ragchat.index.search import open_searcher

    progress = progress or Progress()
    searcher = open_searcher(settings, collection)
    speed = None
    try:
        retrieved = run_retrieval(searcher, items, k, mode, progress)
        replies: list[Answer | None] = [None] * len(items)
        if answers:
            got, speed = _answers(settings, searcher, items, k, collection, progress,
                                  concurrency)
            replies = list(got)
    finally:
        searcher.close()
    return [QuestionResult(i, r, a) for i, r, a in zip(items, retrieved, replies)], speed


def _answers(settings: Settings, searcher: Any, items: list[QAItem], k: int, collection: str | None,
             progress: Progress, concurrency: int) -> tuple[list[Answer], Throughput]:
    from ragchat.bench.answer_pool import measure, plan_concurrency
    from ragchat.pipeline.factory import load_chat_model

    model, choice = load_chat_model(settings)
    mode, at_once, note = plan_concurrency(model.backend, concurrency, len(items))

    def open_one(chat_model: Any, shared: Any) -> Any:
        from ragchat.pipeline.factory import open_pipeline

        return open_pipeline(settings, collection=collection, persistent=False, k=k,
                             opener=lambda _settings, _name: shared, chat_model=chat_model)

    try:
        start = time.perf_counter()
        got = _answer_all(model, choice, open_one, searcher, items, at_once, mode, progress)
        wall = time.perf_counter() - start
    finally:
        model.backend.close()
    return got, measure(got, wall, concurrency, mode, at_once, note)


def _answer_all(model: Any, choice: Any, open_one: Any, searcher: Any, items: list[QAItem],
                at_once: int, mode: str, progress: Progress) -> list[Answer]:
    """Each question in its own conversation (after its context questions), so no answer
    depends on another item's; `at_once` pipelines over one backend, whose calls overlap
    (parallel, batched) when there are several."""
    from ragchat.bench.answer_pool import SharedSearcher, answer_all

    shared = SharedSearcher(searcher)
    pipelines = [open_one((model, choice), shared) for _ in range(at_once)]
    progress.stage("answers" if at_once == 1 else f"answers, {at_once} at once", len(items))
    try:
        return answer_all(pipelines, items, answer_item, progress)
    except BackendError as exc:
        if mode != "parallel":
            raise
        from ragchat.bench.concurrency import PARALLEL_HINT

        raise BackendError(f"{at_once} questions at once: {exc.message}",
                           hint=f"{exc.hint}; {PARALLEL_HINT}" if exc.hint else PARALLEL_HINT
                           ) from exc
    finally:
        for pipeline in pipelines:
            pipeline.close()


def _fraction(values: list[bool | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def summarize(results: list[QuestionResult], k: int,
              speed: Throughput | None = None) -> dict[str, Any]:
    """recall@c for c in 1, 3, 5, 10 up to k (and k), MRR@k; answer scores, latency and
    throughput."""
    judged = [r for r in results if r.item.judged]
    ranks = [r.retrieval.rank for r in judged]
    cutoffs = sorted({c for c in (1, 3, 5, 10) if c <= k} | {k})
    summary: dict[str, Any] = {
        "questions": len(results), "judged": len(judged), "k": k,
        "recall": {str(c): recall_at(ranks, c) for c in cutoffs},
        "mrr": mean_reciprocal_rank(ranks),
    }
    replies = [r.answer for r in results if r.answer is not None]
    if replies:
        latencies = sorted(a.latency_s for a in replies)
        follow_ups = [r.answer for r in results if r.answer is not None and r.item.context]
        summary["answers"] = {
            "answered": len(replies),
            "clean": sum(1 for a in replies if not a.problems) / len(replies),
            "contains_answer": _fraction([a.contains_answer for a in replies]),
            "with_citations": sum(1 for a in replies if a.cited) / len(replies),
            "citation_hit": _fraction([a.citation_hit for a in replies]),
            "sources_hit": _fraction([a.sources_hit for a in replies]),
            "search_hit": _fraction([a.search_hit for a in replies]),
            "follow_up_search_hit": _fraction([a.search_hit for a in follow_ups]),
            "said_not_covered": _fraction([a.said_not_covered for a in replies]),
            "kinds": {kind: sum(1 for a in replies if a.answer_kind == kind) / len(replies)
                      for kind in sorted({a.answer_kind for a in replies if a.answer_kind})},
            "latency_median_s": statistics.median(latencies),
            "latency_p90_s": percentile(latencies, 0.9),
            "latency_max_s": latencies[-1],
        }
        if speed is not None:
            summary["answers"]["throughput"] = speed.to_json()
    return summary
