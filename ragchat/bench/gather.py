"""Calls from several conversations gathered into batches for an engine that batches.

`ragchat eval --answers --concurrency N` runs N pipeline turns at once. Against a server the
turns' calls simply overlap (the server schedules them). ExLlamaV2 in paged mode decodes
several sequences in one forward pass, but only for jobs submitted together: its
`complete_many`. `GatheringBackend` stands between the N turns and such an engine: a call
waits until every running turn has one waiting (or a short window passed), then the waiting
calls with the same settings go to `complete_many` as one batch. Each call still gets its
own statistics; its text arrives whole, when the batch is done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ragchat.llm.base import Backend, CallStats, Completion, Request


@dataclass(eq=False)
class _Waiting:
    request: Request
    submitted: float = field(default_factory=time.perf_counter)
    done: threading.Event = field(default_factory=threading.Event)
    result: Completion | None = None
    error: BaseException | None = None
    flushed: float = 0.0

    @property
    def key(self) -> tuple:
        r = self.request
        return (r.max_new_tokens, r.temperature, r.stop)


class GatheringBackend(Backend):
    """Batches overlapping calls of `workers` conversations through `inner.complete_many`."""

    concurrent = True

    def __init__(self, inner: Backend, workers: int, window_s: float = 0.25) -> None:
        self.inner = inner
        self.name = inner.name
        self.window_s = window_s
        self.batches: list[int] = []  # size of every batch sent, for reports and tests
        self._active = max(workers, 1)
        self._waiting: list[_Waiting] = []
        self._cond = threading.Condition()
        self._flushing = False

    def describe(self) -> str:
        return self.inner.describe()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    @property
    def concurrency(self) -> str:
        return "batched"

    def worker_done(self) -> None:
        """One conversation has no more calls to make: stop waiting for it."""
        with self._cond:
            self._active = max(self._active - 1, 1)
            self._cond.notify_all()

    def _generate(self, request: Request, call: CallStats) -> Iterator[str]:
        slot = _Waiting(request)
        with self._cond:
            self._waiting.append(slot)
            self._cond.notify_all()
        while not slot.done.is_set():
            if request.cancelled:
                self._withdraw(slot)
                return
            self._flush_when_ready(slot)
        if slot.error is not None:
            raise slot.error
        assert slot.result is not None
        _fill(call, slot)
        if slot.result.text:
            yield slot.result.text

    def _withdraw(self, slot: _Waiting) -> None:
        with self._cond:
            if slot in self._waiting:
                self._waiting.remove(slot)

    def _flush_when_ready(self, slot: _Waiting) -> None:
        """Wait a little; flush the waiting calls when all workers wait or the window ends."""
        with self._cond:
            if slot.done.is_set():
                return
            full = len(self._waiting) >= self._active
            due = time.perf_counter() - self._waiting[0].submitted >= self.window_s \
                if self._waiting else False
            if self._flushing or not (full or due):
                self._cond.wait(0.01)
                return
            batch, self._waiting, self._flushing = self._waiting, [], True
        try:
            self._send(batch)
        finally:
            with self._cond:
                self._flushing = False
                self._cond.notify_all()

    def _send(self, batch: list[_Waiting]) -> None:
        groups: dict[tuple, list[_Waiting]] = {}
        for slot in batch:
            groups.setdefault(slot.key, []).append(slot)
        for (max_new, temperature, stop), slots in groups.items():
            self.batches.append(len(slots))
            started = time.perf_counter()
            done: list[Any]
            try:
                done = self.inner.complete_many([s.request.messages for s in slots],
                                                max_new_tokens=max_new, temperature=temperature,
                                                stop=stop)
            except BaseException as exc:  # every caller of the batch sees the failure
                done = [exc] * len(slots)
            for slot, result in zip(slots, done):
                slot.flushed = started
                if isinstance(result, BaseException):
                    slot.error = result
                else:
                    slot.result = result
                slot.done.set()

    def close(self) -> None:
        self.inner.close()


def _fill(call: CallStats, slot: _Waiting) -> None:
    """The engine's statistics, with the time the call waited for its batch in its TTFT."""
    stats: Any = slot.result.stats if slot.result is not None else None
    call.prompt_tokens = stats.prompt_tokens
    call.cached_tokens = stats.cached_tokens
    call.new_tokens = stats.new_tokens
    call.estimated = stats.estimated
    call.cache_known = stats.cache_known
    call.engine_ttft_s = (slot.flushed - slot.submitted) + stats.ttft_s
    call.engine_decode_tps = stats.decode_tps
    call.token()
