"""Several calls at once, and one call whose blocking reads must not hide a cancel.

`run_calls(work, items, at_once=N)` is the one way ragchat runs several calls together:
`eval --answers --concurrency N` (N questions), `bench`'s concurrent row and
`Backend.complete_many` (N requests). At most N calls run at a time, each on its own worker
thread; a worker takes the next item only when it is free (the rest wait, untouched), and
the results come back in the items' order, each as an `Outcome` that keeps its call's value
or exception. The first exception (every exception, unless `fatal` says otherwise) stops the
run: no further call starts (those items get `NotRun`) and the shared `Cancel` is set, which
the running calls see (a backend stops at its next token; a pipeline turn is cancelled).
Ctrl-C in the calling thread does the same, waits for the running calls to return and
raises KeyboardInterrupt.

How a backend serves overlapping calls is its own business: an API server schedules them, a
local engine that serves one call at a time takes them in turn (its lock), and ExLlamaV2 in
paged mode decodes the jobs in flight together (exl2_jobs.py).

`iterate_cancellable(start, cancel)` is the other helper: it reads a blocking iterator (an
HTTP stream) on a worker thread so that a cancel is seen while the network is silent.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

WAIT_S = 0.1  # how often the waiting thread wakes (Ctrl-C is seen then at the latest)


class Cancel(threading.Event):
    """An Event that also runs hooks when it is set: how a cancel reaches something that
    does not poll (a pipeline turn running on its own thread)."""

    def __init__(self) -> None:
        super().__init__()
        self._hooks: list[Callable[[], None]] = []
        self._hooks_lock = threading.Lock()

    def set(self) -> None:
        with self._hooks_lock:
            if self.is_set():
                return
            super().set()
            hooks = list(self._hooks)
        for hook in hooks:
            hook()

    @contextlib.contextmanager
    def hook(self, on_cancel: Callable[[], None]) -> Iterator[None]:
        """Run `on_cancel` once when this is set while the block runs (at once if it
        already is)."""
        with self._hooks_lock:
            already = self.is_set()
            if not already:
                self._hooks.append(on_cancel)
        try:
            if already:
                on_cancel()
            yield
        finally:
            with self._hooks_lock:
                if on_cancel in self._hooks:
                    self._hooks.remove(on_cancel)


class NotRun(Exception):
    """The call never started: an earlier failure or a cancel stopped the run."""


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """One call's value or exception, and when it ran (seconds from the start of the run)."""

    value: R | None = None
    error: BaseException | None = None
    started_s: float = 0.0
    finished_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def result(self) -> R:
        """The value, or the call's exception raised."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # R may itself allow None


def always(_exc: BaseException) -> bool:
    return True


def run_calls(work: Callable[[T, Cancel], R], items: Iterable[T], *, at_once: int,
              cancel: Cancel | None = None, fatal: Callable[[BaseException], bool] = always,
              on_done: Callable[[Outcome[R]], None] | None = None) -> list[Outcome[R]]:
    """`work(item, cancel)` for every item, at most `at_once` at a time; outcomes in order.

    `on_done(outcome)` runs as each call ends (one at a time: it may count progress).
    """
    count = max(int(at_once), 1)
    if isinstance(items, Sized):
        count = min(count, len(items))
    run = _Run(work, iter(items), cancel or Cancel(), fatal, on_done)
    workers = [threading.Thread(target=run.work, name=f"ragchat-call-{n}", daemon=True)
               for n in range(count)]
    try:
        for worker in workers:
            worker.start()
        run.wait(len(workers))
    except KeyboardInterrupt:
        run.cancel.set()  # a worker not started yet finds it set and takes nothing
        for worker in workers:
            if worker.ident is not None:
                worker.join()
        raise
    return run.outcomes()


def first_error(outcomes: Iterable[Outcome[Any]]) -> BaseException | None:
    """The exception that stopped the run: the first to happen, calls never started aside."""
    failed = [o for o in outcomes if o.error is not None and not isinstance(o.error, NotRun)]
    return min(failed, key=lambda o: o.finished_s).error if failed else None


def results(outcomes: list[Outcome[R]]) -> list[R]:
    """Every value in order, or the exception that stopped the run raised (NotRun when a
    cancel from outside stopped it)."""
    error = first_error(outcomes) or next((o.error for o in outcomes if o.error), None)
    if error is not None:
        raise error
    return [o.result() for o in outcomes]


class _Run(Generic[T, R]):
    """The shared state of one `run_calls`: the next item, the outcomes, who is still busy."""

    def __init__(self, work: Callable[[T, Cancel], R], items: Iterator[T], cancel: Cancel,
                 fatal: Callable[[BaseException], bool],
                 on_done: Callable[[Outcome[R]], None] | None) -> None:
        self.call, self.items, self.cancel = work, items, cancel
        self.fatal, self.on_done = fatal, on_done
        self.start = time.perf_counter()
        self.lock = threading.Lock()
        self.done: dict[int, Outcome[R]] = {}
        self.taken = 0
        self.exhausted = False
        self.finished = threading.Semaphore(0)  # one release per worker that has ended

    def take(self) -> tuple[int, T] | None:
        """The next item and its index; None when none is left, or the run was stopped
        (every remaining item is then recorded as not run)."""
        with self.lock:
            if self.exhausted:
                return None
            for item in self.items:
                index, self.taken = self.taken, self.taken + 1
                if not self.cancel.is_set():
                    return index, item
                self.done[index] = Outcome(error=NotRun("the run was stopped before this call"))
            self.exhausted = True
            return None

    def work(self) -> None:
        try:
            while (taken := self.take()) is not None:
                self.one(*taken)
        finally:
            self.finished.release()

    def one(self, index: int, item: T) -> None:
        started = time.perf_counter() - self.start
        value: R | None = None
        error: BaseException | None = None
        try:
            value = self.call(item, self.cancel)
        except BaseException as exc:  # kept with its call; the caller decides
            error = exc
        outcome = Outcome(value, error, started, time.perf_counter() - self.start)
        with self.lock:
            self.done[index] = outcome
            if self.on_done is not None:
                self.on_done(outcome)
        if error is not None and self.fatal(error):
            self.cancel.set()

    def wait(self, workers: int) -> None:
        """Until every worker has ended; wakes often so that Ctrl-C is seen."""
        ended = 0
        while ended < workers:
            if self.finished.acquire(timeout=WAIT_S):
                ended += 1

    def outcomes(self) -> list[Outcome[R]]:
        return [self.done[i] for i in range(self.taken)]


def iterate_cancellable(start: Callable[[], Iterable[T]], cancel: threading.Event | None,
                        poll_s: float = 0.1) -> Iterator[T]:
    """Iterate `start()` on a worker thread, so that a cancel is seen while it blocks.

    On cancel this returns at once; the caller closes what the iterator reads from (an HTTP
    client), which ends the worker.
    """
    items: queue.SimpleQueue = queue.SimpleQueue()

    def read() -> None:
        try:
            for item in start():
                items.put((True, item))
            items.put((False, None))
        except BaseException as exc:  # handed to the consumer
            items.put((False, exc))

    threading.Thread(target=read, name="ragchat-stream-reader", daemon=True).start()
    while True:
        try:
            more, value = items.get(timeout=poll_s)
        except queue.Empty:
            if cancel is not None and cancel.is_set():
                return
            continue
        if not more:
            if value is not None:
                raise value
            return
        yield value
