"""GatheringBackend: overlapping calls of several conversations reach a batching engine as one
`complete_many`. The engine here is a fake that batches (the real one, ExLlamaV2 in paged
mode, needs a CUDA GPU); it records every batch it was given."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from ragchat.bench.gather import GatheringBackend
from ragchat.errors import BackendError
from ragchat.llm.base import Backend, CallStats, Completion, GenerationStats, Request


class BatchingEngine(Backend):
    """Answers "echo: <last message>"; `complete_many` records each batch."""

    name = "fake-batched"

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[tuple[int, int]] = []  # (size, max_new_tokens)
        self.fail = fail

    def describe(self) -> str:
        return "fake-batched"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    @property
    def concurrency(self) -> str:
        return "batched"

    def _generate(self, request: Request, call: CallStats) -> Iterator[str]:
        raise AssertionError("a batching engine is reached through complete_many")

    def complete_many(self, conversations, *, max_new_tokens=512, temperature=0.0, stop=()):
        self.batches.append((len(conversations), max_new_tokens))
        if self.fail:
            raise BackendError("the engine ran out of memory", hint="use a smaller batch")
        stats = GenerationStats(prompt_tokens=10, cached_tokens=4, new_tokens=2, ttft_s=0.01,
                                decode_tps=50.0, total_s=0.05)
        return [Completion(f"echo: {m[-1]['content']}", stats) for m in conversations]


def ask_at_once(backend: Backend, questions: list[str], **kwargs) -> list[tuple[str, object]]:
    out: list = [None] * len(questions)

    def one(i: int) -> None:
        stream = backend.stream([{"role": "user", "content": questions[i]}], **kwargs)
        out[i] = ("".join(stream), stream.stats)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return out


def test_calls_of_all_workers_go_to_the_engine_as_one_batch():
    engine = BatchingEngine()
    gather = GatheringBackend(engine, workers=3, window_s=5.0)
    got = ask_at_once(gather, ["a", "b", "c"], max_new_tokens=7)
    assert engine.batches == [(3, 7)]  # all three waited: no need for the window
    assert [text for text, _ in got] == ["echo: a", "echo: b", "echo: c"]
    for _, stats in got:
        assert (stats.prompt_tokens, stats.cached_tokens, stats.new_tokens) == (10, 4, 2)
        assert stats.ttft_s >= 0.01 and stats.cache_known


def test_calls_with_different_settings_are_separate_batches():
    engine = BatchingEngine()
    gather = GatheringBackend(engine, workers=2, window_s=5.0)
    out: list = []
    threads = [threading.Thread(target=lambda n=n: out.append(
        gather.generate([{"role": "user", "content": "x"}], max_new_tokens=n)))
        for n in (5, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(engine.batches) == [(1, 5), (1, 9)] and len(out) == 2


def test_a_lone_call_goes_after_the_window_when_the_others_are_busy():
    engine = BatchingEngine()
    gather = GatheringBackend(engine, workers=4, window_s=0.05)
    assert gather.generate([{"role": "user", "content": "solo"}]) == "echo: solo"
    assert engine.batches == [(1, 512)]


def test_finished_workers_are_not_waited_for():
    engine = BatchingEngine()
    gather = GatheringBackend(engine, workers=3, window_s=60.0)
    gather.worker_done()
    gather.worker_done()
    assert gather.generate([{"role": "user", "content": "last"}]) == "echo: last"


def test_an_engine_failure_reaches_every_call_of_the_batch():
    gather = GatheringBackend(BatchingEngine(fail=True), workers=2, window_s=5.0)
    errors: list = []

    def one() -> None:
        try:
            gather.generate([{"role": "user", "content": "x"}])
        except BackendError as exc:
            errors.append(exc.message)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == ["the engine ran out of memory"] * 2


def test_a_cancelled_call_leaves_the_queue():
    engine = BatchingEngine()
    gather = GatheringBackend(engine, workers=2, window_s=60.0)
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    stream = gather.stream([{"role": "user", "content": "x"}], cancel=cancel)
    assert list(stream) == [] and engine.batches == []
    gather.worker_done()  # the cancelled conversation makes no more calls
    assert gather.generate([{"role": "user", "content": "y"}]) == "echo: y"
    assert engine.batches == [(1, 512)]  # the cancelled call was not sent


def test_it_speaks_for_the_engine():
    gather = GatheringBackend(BatchingEngine(), workers=2)
    assert gather.concurrency == "batched" and gather.name == "fake-batched"
    assert gather.describe() == "fake-batched" and gather.count_tokens("a b c") == 3
