"""Full pipeline turns: a first question and a follow-up, timed per node.

The follow-up shows what KV-cache reuse saves: its prompts start with the first turn
(system prompt, question, answer), which the backend still holds, so only the new part is
prefilled. Each repetition's first turn starts after an unrelated request, so that it does
not find the previous repetition's identical prompt in the cache. Without `--collection` the turns run on a small built-in sample collection, so
that results are comparable between machines; it is removed afterwards.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragchat.bench.conversation import cache_totals, call_json, chat_model, run_turns
from ragchat.bench.inference import evict_cache
from ragchat.bench.plan import BenchPlan
from ragchat.bench.stats import LOWER, Collector, Metric
from ragchat.progress import Progress

if TYPE_CHECKING:
    from ragchat.config import Settings

SAMPLE_DOCS = {
    "garden.md": (
        "# Garden notes\n\n## Tomatoes\n\nTomatoes need at least six hours of direct sun a day. "
        "Water them deeply twice a week, in the morning, and mulch the soil to keep it moist. "
        "Pinch out the side shoots of cordon varieties every week.\n\n## Roses\n\nPrune roses "
        "in late winter, just above an outward-facing bud. Feed them in spring with a balanced "
        "fertiliser and water at the base, never on the leaves.\n"),
    "travel.md": (
        "# Travel\n\nThe night train to Vienna leaves Munich at 23:10 from platform 11 and "
        "arrives at 06:40. Book a couchette at least two weeks ahead; the sleeper cars sell out "
        "first. Bring your own water: the dining car closes at 22:00.\n"),
    "kitchen.md": (
        "# Kitchen\n\n## Bread\n\nThe sourdough starter is fed every twelve hours with equal "
        "weights of flour and water. Bake at 240 °C for twenty minutes with the lid on, then "
        "fifteen minutes without it.\n\n## Coffee\n\nGrind 15 g of beans for 250 ml of water "
        "at 94 °C and let it steep for four minutes.\n"),
}
SAMPLE_QUESTION = "How often should I water the tomatoes?"
SAMPLE_FOLLOW_UP = "And how much sun do they need?"
GENERIC_QUESTION = "What are these documents about?"
GENERIC_FOLLOW_UP = "Tell me more about the first point."
SAMPLE_NAME = "bench-sample"


def _free_name() -> str:
    from ragchat.index.collection import get_collection

    name, i = SAMPLE_NAME, 1
    while get_collection(name).exists():
        i += 1
        name = f"{SAMPLE_NAME}-{i}"
    return name


@contextmanager
def sample_collection(settings: Settings) -> Iterator[str]:
    """Ingest the sample documents into a new collection; remove it when done."""
    from ragchat.index.collection import remove_collection
    from ragchat.ingest.ingester import ingest_paths

    name = _free_name()
    ingest_settings = settings.with_values(embedding_model="minilm", embedding_provider="local")
    with tempfile.TemporaryDirectory(prefix="ragchat-bench-") as tmp:
        for file_name, text in SAMPLE_DOCS.items():
            (Path(tmp) / file_name).write_text(text, encoding="utf-8")
        try:
            ingest_paths(ingest_settings, [Path(tmp)], collection=name)
            yield name
        finally:
            if _exists(name):
                remove_collection(name)


def _exists(name: str) -> bool:
    from ragchat.index.collection import get_collection

    return get_collection(name).exists()


def questions(plan: BenchPlan) -> tuple[str, str]:
    """The two questions: given, else the sample's (or generic ones for a user collection)."""
    if plan.collection is None:
        return plan.question or SAMPLE_QUESTION, plan.follow_up or SAMPLE_FOLLOW_UP
    return plan.question or GENERIC_QUESTION, plan.follow_up or GENERIC_FOLLOW_UP


def open_bench_pipeline(backend: Any, choice: Any, settings: Settings, plan: BenchPlan,
                        collection: str) -> Any:
    from ragchat.pipeline.factory import open_pipeline

    tokens = plan.answer_tokens or settings.max_new_tokens
    settings = settings.with_values(max_new_tokens=tokens)
    model = chat_model(backend, tokens, settings.temperature)
    return open_pipeline(settings, collection=collection, persistent=False,
                         chat_model=(model, choice))


UNKNOWN_CACHE = ("cached prompt tokens unknown: the server does not report them (see "
                 "docs/how-to/api-setup.md for servers that do)")


def record_turn(rows: Collector, label: str, wall: float, result: Any) -> None:
    rows.add(label, "total", wall, "s", LOWER)
    for node, seconds in result.timings.items():
        rows.add(label, node, seconds, "s", LOWER)
    totals = cache_totals(call_json(c) for c in result.llm_calls)
    known = totals["cached_tokens"] is not None
    rows.add(label, "LLM calls", len(result.llm_calls), "calls")
    rows.add(label, "prompt tokens", totals["prompt_tokens"], "tokens",
             note="" if known else UNKNOWN_CACHE)
    if known:  # where the server does not say, the cells stay empty, not 0
        rows.add(label, "prefilled tokens", totals["prefilled_tokens"], "tokens")
        rows.add(label, "cached", 100.0 * totals["cached_share"], "%")


def prefill_rate(results: list[Any]) -> float:
    """Prompt tokens per second of prefill, from the calls that prefilled enough to tell."""
    calls = [c for r in results for c in r.llm_calls if c.cache_known
             and c.prompt_tokens - c.cached_tokens >= 32 and c.ttft_s > 0]
    seconds = sum(c.ttft_s for c in calls)
    return sum(c.prompt_tokens - c.cached_tokens for c in calls) / seconds if seconds else 0.0


def measure_turns(backend: Any, choice: Any, settings: Settings, plan: BenchPlan,
                  progress: Progress, collection: str) -> list[Metric]:
    asked = questions(plan)
    rows = Collector("pipeline")
    results: list[tuple[str, Any]] = []
    pipeline = open_bench_pipeline(backend, choice, settings, plan, collection)
    try:
        pipeline.retriever.search(asked[0], 1)  # load the embedding model before timing
        for rep in range(plan.repeat):
            evict_cache(backend)  # turn 1 must not reuse the previous repetition's turn 1
            for label, turn in zip(("turn 1", "follow-up"),
                                   run_turns(pipeline, asked, session=f"bench-{rep + 1}")):
                record_turn(rows, label, turn.wall_s, turn.result)
                results.append((label, turn.result))
                progress.advance()
    finally:
        pipeline.close()
    rate = prefill_rate([r for _, r in results])
    for label, result in results:
        if rate and all(c.cache_known for c in result.llm_calls):
            cached = sum(c.cached_tokens for c in result.llm_calls)
            rows.add(label, "prefill saved by cache (est.)", cached / rate, "s")
    return rows.metrics()
