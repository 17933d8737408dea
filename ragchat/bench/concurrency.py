"""Concurrent requests: N requests arrive at once; how long until all are answered?

How they run is the backend's own `complete_many`, and the table says which:
- "batched": ExLlamaV2's dynamic generator in paged mode decodes the requests together,
  one forward pass for all of them (up to its max batch size; the rest queue);
- "parallel": the API backend sends N HTTP requests at once (the server decides);
- "sequential": a local engine that serves one request at a time answers them in turn.
Latency is from the moment all N were submitted to the moment each is complete.
Throughput is all new tokens over the wall time: batching shows up there.
"""

from __future__ import annotations

import statistics
from typing import Any

from ragchat.bench.inference import fresh_messages
from ragchat.bench.plan import BenchPlan
from ragchat.bench.stats import HIGHER, LOWER, Collector, Metric
from ragchat.errors import BackendError
from ragchat.llm.base import Completion
from ragchat.progress import Progress

PARALLEL_HINT = ("some servers end a stream when another request arrives; llama-cpp-python's "
                 "server does unless started with --interrupt_requests False")


def run_batch(backend: Any, n: int, tokens: int) -> list[Completion]:
    """N requests submitted at once through the backend's own way of serving them."""
    conversations = [fresh_messages() for _ in range(n)]
    try:
        return backend.complete_many(conversations, max_new_tokens=tokens, temperature=0.0)
    except BackendError as exc:
        if n < 2 or backend.concurrency != "parallel":
            raise
        raise BackendError(f"{n} requests at once: {exc.message}", hint=PARALLEL_HINT) from exc


def measure_concurrent(backend: Any, plan: BenchPlan, progress: Progress) -> list[Metric]:
    mode = backend.concurrency
    rows = Collector("concurrent")
    for n in plan.concurrency:
        label = f"{n} at once"
        for _ in range(plan.repeat):
            finished = run_batch(backend, n, plan.concurrent_tokens)
            wall = max(f.finished_s for f in finished)
            tokens = sum(f.stats.new_tokens for f in finished)
            rows.add(label, "all done", wall, "s", LOWER, mode)
            rows.add(label, "median latency", statistics.median(f.finished_s for f in finished), "s", LOWER)
            rows.add(label, "throughput", tokens / wall if wall > 0 else 0.0, "tok/s", HIGHER)
            progress.advance()
    return rows.metrics()
