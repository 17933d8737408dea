"""Single inference: one request of N new tokens, timed by the backend's own statistics.

Each request starts with a different first line, so that no backend serves its prompt
from the KV cache of the previous one: TTFT includes the prefill of the whole prompt.
"""

from __future__ import annotations

import itertools
from typing import Any

from ragchat.bench.bandwidth import Bound
from ragchat.bench.plan import BenchPlan
from ragchat.bench.stats import HIGHER, LOWER, Collector, Metric
from ragchat.progress import Progress

CONTEXT = """\
Retrieval-augmented generation answers a question in two steps. First a retriever finds the \
passages of a document collection that are most likely to contain the answer; dense retrievers \
compare embedding vectors, lexical retrievers such as BM25 count matching words, and hybrid \
retrievers fuse both rankings. Then a language model reads those passages together with the \
question and writes an answer that cites them. The quality of the answer depends on both steps: \
a passage that is never retrieved cannot be cited, and a model that ignores its passages invents \
facts. The speed of the answer depends mostly on the model: it must read the prompt (prefill) \
before it writes the first token, and then it writes one token at a time (decode), each of which \
reads every weight of the model from memory once."""

TASK = ("Write a long, detailed essay that explains the text above to a new engineer, with "
        "many examples. Do not stop early.")

_counter = itertools.count(1)


def fresh_messages(context: str = CONTEXT, task: str = TASK) -> list[dict]:
    """A prompt whose first line differs from every earlier one in this process."""
    nonce = next(_counter)
    return [
        {"role": "system", "content": f"Request {nonce}. You are a helpful assistant."},
        {"role": "user", "content": f"{context}\n\n{task}"},
    ]


def generate_once(backend: Any, max_new_tokens: int) -> Any:
    """Run one request to the end; return its GenerationStats."""
    return backend.complete(fresh_messages(), max_new_tokens=max_new_tokens,
                            temperature=0.0).stats


def evict_cache(backend: Any) -> None:
    """One token of an unrelated request. Backends that keep the previous prompt in their KV
    cache (llama.cpp, its server, ExLlamaV2 unpaged) then find nothing of the next one there;
    ExLlamaV2 in paged mode keeps older pages as well."""
    generate_once(backend, 1)


def warm_up(backend: Any) -> None:
    """One short call first, so that lazy initialisation is not counted."""
    generate_once(backend, 4)


def measure_single(backend: Any, plan: BenchPlan, progress: Progress,
                   bound: Bound | None = None) -> list[Metric]:
    rows = Collector("single")
    warm_up(backend)
    for tokens in plan.tokens:
        label = f"{tokens} new tokens"
        for _ in range(plan.repeat):
            stats = generate_once(backend, tokens)
            short = stats.new_tokens < tokens
            note = "the model stopped before the budget" if short else ""
            rows.add(label, "TTFT", stats.ttft_s, "s", LOWER)
            rows.add(label, "decode", stats.decode_tps, "tok/s", HIGHER)
            rows.add(label, "total", stats.total_s, "s", LOWER, note)
            rows.add(label, "new tokens", stats.new_tokens, "tokens")
            rows.add(label, "prompt tokens", stats.prompt_tokens, "tokens")
            if bound is not None and bound.tokens_per_s:
                rows.add(label, "decode bound", bound.tokens_per_s, "tok/s")
                rows.add(label, "of bound", 100.0 * stats.decode_tps / bound.tokens_per_s, "%",
                         HIGHER)
                rows.add(label, "fastest possible total", stats.ttft_s
                         + bound.min_seconds(stats.new_tokens), "s")
            progress.advance()
    return rows.metrics()
