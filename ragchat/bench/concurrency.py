"""Concurrent requests: N requests arrive at once; how long until all are answered?

How they run depends on the backend, and the table says which:
- "batched": ExLlamaV2's dynamic generator in paged mode decodes the requests together,
  one forward pass for all of them (up to its max batch size; the rest queue);
- "parallel": the API backend sends N HTTP requests at once (the server decides);
- "sequential": the embedded llama.cpp model answers one request after another.
Latency is from the moment all N were submitted to the moment each is complete.
Throughput is all new tokens over the wall time: batching shows up there.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ragchat.bench.inference import fresh_messages
from ragchat.bench.plan import BenchPlan, Progress
from ragchat.bench.stats import HIGHER, LOWER, Collector, Metric
from ragchat.errors import BackendError


@dataclass(frozen=True)
class Finished:
    """One request of a concurrent batch: seconds from the batch start, tokens made."""

    latency_s: float
    new_tokens: int


ClientFactory = Callable[[], Any]
PARALLEL_HINT = ("some servers end a stream when another request arrives; llama-cpp-python's "
                 "server does unless started with --interrupt_requests False")


def concurrency_mode(backend: Any, client_factory: ClientFactory | None) -> str:
    if getattr(backend, "name", "") == "exllamav2" and getattr(backend, "paged", False):
        return "batched"
    if client_factory is not None:
        return "parallel"
    return "sequential"


def run_sequential(backend: Any, n: int, tokens: int) -> list[Finished]:
    start = time.perf_counter()
    out = []
    for _ in range(n):
        for _piece in backend.stream(fresh_messages(), max_new_tokens=tokens, temperature=0.0):
            pass
        out.append(Finished(time.perf_counter() - start, backend.last_stats.new_tokens))
    return out


def run_parallel(client_factory: ClientFactory, n: int, tokens: int) -> list[Finished]:
    """N threads, each with its own client (a client's last_stats belongs to one stream)."""
    clients = [client_factory() for _ in range(n)]
    gate = threading.Barrier(n + 1)
    start = [0.0]

    def one(client: Any) -> Finished:
        messages = fresh_messages()
        gate.wait()
        for _piece in client.stream(messages, max_new_tokens=tokens, temperature=0.0):
            pass
        return Finished(time.perf_counter() - start[0], client.last_stats.new_tokens)

    try:
        with ThreadPoolExecutor(max_workers=n) as pool:
            futures = [pool.submit(one, c) for c in clients]
            start[0] = time.perf_counter()
            gate.wait()
            return [f.result() for f in futures]
    except BackendError as exc:
        if n < 2:
            raise
        raise BackendError(f"{n} requests at once: {exc.message}", hint=PARALLEL_HINT) from exc
    finally:
        for client in clients:
            client.close()


def run_batched(backend: Any, n: int, tokens: int) -> list[Finished]:
    """Enqueue N jobs in ExLlamaV2's dynamic generator and iterate until all are done."""
    from exllamav2.generator import ExLlamaV2DynamicJob, ExLlamaV2Sampler

    generator = backend.generator
    jobs = [ExLlamaV2DynamicJob(input_ids=backend.prompt_ids(fresh_messages()),
                                max_new_tokens=tokens, stop_conditions=list(backend.stop_ids),
                                gen_settings=ExLlamaV2Sampler.Settings.greedy(), identifier=i)
            for i in range(n)]
    start = time.perf_counter()
    for job in jobs:
        generator.enqueue(job)
    done: dict[int, Finished] = {}
    while len(done) < n:
        for result in generator.iterate():
            if result.get("stage") == "streaming" and result.get("eos"):
                done[result["identifier"]] = Finished(time.perf_counter() - start,
                                                      int(result.get("new_tokens", 0)))
    return [done[i] for i in range(n)]


def run_batch(backend: Any, mode: str, n: int, tokens: int,
              client_factory: ClientFactory | None) -> list[Finished]:
    if mode == "batched":
        return run_batched(backend, n, tokens)
    if mode == "parallel" and client_factory is not None:
        return run_parallel(client_factory, n, tokens)
    return run_sequential(backend, n, tokens)


def measure_concurrent(backend: Any, plan: BenchPlan, progress: Progress,
                       client_factory: ClientFactory | None = None) -> list[Metric]:
    mode = concurrency_mode(backend, client_factory)
    rows = Collector("concurrent")
    for n in plan.concurrency:
        label = f"{n} at once"
        for _ in range(plan.repeat):
            finished = run_batch(backend, mode, n, plan.concurrent_tokens, client_factory)
            wall = max(f.latency_s for f in finished)
            tokens = sum(f.new_tokens for f in finished)
            rows.add(label, "all done", wall, "s", LOWER, mode)
            rows.add(label, "median latency", statistics.median(f.latency_s for f in finished), "s", LOWER)
            rows.add(label, "throughput", tokens / wall if wall > 0 else 0.0, "tok/s", HIGHER)
            progress.advance()
    return rows.metrics()
