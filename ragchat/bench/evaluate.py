"""`ragchat eval`: retrieval (recall@k, MRR) and, with answers, the full pipeline per question.

A retrieved chunk is a hit when it comes from the expected source file, or when it
contains the expected answer text (case- and whitespace-insensitive). The rank of the
first hit gives recall@c (hit within the first c) and the reciprocal rank (1/rank, 0 when
none of the k results is a hit). With answers, each question is a fresh conversation:
the reply should contain the expected answer, and at least one of its citations should
point at a chunk that holds it (or, without an answer text, at the expected source).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

from ragchat.bench.plan import Progress
from ragchat.bench.qa import QAItem, contains, same_source


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
        if self.answer is not None:
            a = self.answer
            out.update({"answer": a.text, "latency_s": round(a.latency_s, 4), "route": a.route,
                        "cited": list(a.cited), "answer_contains": a.contains_answer,
                        "citation_hit": a.citation_hit})
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
    rank = matched = None
    for position, hit in enumerate(hits, start=1):
        how = hit_matches(hit.path, hit.text, item)
        if how and rank is None:
            rank, matched = position, how
    shown = tuple({"rank": i, "path": h.path, "location": h.location,
                   "score": round(float(h.score), 6)} for i, h in enumerate(hits, start=1))
    return Retrieval(rank if item.judged else None, matched, shown)


def judge_answer(item: QAItem, result: Any, latency_s: float) -> Answer:
    from ragchat.pipeline.parsing import cited_numbers

    cited = tuple(cited_numbers(result.answer))
    chunks = [c for c in (result.source(n) for n in cited) if c is not None]
    citation_hit = None
    if item.judged:
        citation_hit = any(hit_matches(c.path, c.text, item) for c in chunks)
    return Answer(
        text=result.answer, latency_s=latency_s, route=result.route, cited=cited,
        contains_answer=contains(result.answer, item.answer) if item.answer else None,
        citation_hit=citation_hit,
    )


def run_retrieval(searcher: Any, items: list[QAItem], k: int, mode: str,
                  progress: Progress) -> list[Retrieval]:
    progress.stage("retrieval", len(items))
    out = []
    for item in items:
        out.append(judge_retrieval(item, searcher.search(item.question, k, mode)))
        progress.advance()
    return out


def run_answers(pipeline: Any, items: list[QAItem], progress: Progress) -> list[Answer]:
    """Each question in its own conversation, so no answer depends on the one before."""
    progress.stage("answers", len(items))
    out = []
    for item in items:
        pipeline.switch(f"eval-line-{item.line}")
        start = time.perf_counter()
        result = pipeline.ask(item.question)
        out.append(judge_answer(item, result, time.perf_counter() - start))
        progress.advance()
    return out


def evaluate(settings: Any, items: list[QAItem], *, k: int, mode: str = "hybrid",
             collection: str | None = None, answers: bool = False,
             progress: Progress | None = None) -> list[QuestionResult]:
    """Score every item; open the LLM only when `answers` is asked for."""
    from ragchat.index.search import open_searcher

    progress = progress or Progress()
    searcher = open_searcher(settings, collection)
    try:
        retrieved = run_retrieval(searcher, items, k, mode, progress)
        replies: list[Answer | None] = [None] * len(items)
        if answers:
            replies = list(_answers(settings, searcher, items, k, collection, progress))
    finally:
        searcher.close()
    return [QuestionResult(i, r, a) for i, r, a in zip(items, retrieved, replies)]


def _answers(settings: Any, searcher: Any, items: list[QAItem], k: int,
             collection: str | None, progress: Progress) -> list[Answer]:
    from ragchat.pipeline.factory import open_pipeline

    pipeline = open_pipeline(settings, collection=collection, persistent=False, k=k,
                             opener=lambda _settings, _name: searcher)
    try:
        return run_answers(pipeline, items, progress)
    finally:
        pipeline.close()


def _fraction(values: list[bool | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def summarize(results: list[QuestionResult], k: int) -> dict[str, Any]:
    """recall@c for c in 1, 3, 5, 10 up to k (and k), MRR@k; answer scores and latency."""
    judged = [r for r in results if r.item.judged]
    ranks = [r.retrieval.rank for r in judged]
    cutoffs = sorted({c for c in (1, 3, 5, 10) if c <= k} | {k})
    summary: dict[str, Any] = {
        "questions": len(results), "judged": len(judged), "k": k,
        "recall": {str(c): (sum(1 for x in ranks if x and x <= c) / len(ranks)) if ranks
                   else None for c in cutoffs},
        "mrr": (sum(1 / x for x in ranks if x) / len(ranks)) if ranks else None,
    }
    replies = [r.answer for r in results if r.answer is not None]
    if replies:
        latencies = sorted(a.latency_s for a in replies)
        summary["answers"] = {
            "answered": len(replies),
            "contains_answer": _fraction([a.contains_answer for a in replies]),
            "with_citations": sum(1 for a in replies if a.cited) / len(replies),
            "citation_hit": _fraction([a.citation_hit for a in replies]),
            "latency_median_s": statistics.median(latencies),
            "latency_p90_s": latencies[math.ceil(0.9 * len(latencies)) - 1],
            "latency_max_s": latencies[-1],
        }
    return summary
