"""Every call in flight on one ExLlamaV2 dynamic generator, each reading its own job's results.

The dynamic generator takes jobs with `enqueue(job)` and advances all of its active jobs by
one step per `iterate()` (in paged mode up to `max_batch_size` jobs in one forward pass; the
rest wait in its queue), returning the results of all of them mixed. `JobDriver` lets several
calls share it: each call submits its job and reads its results; a call that finds none
waiting runs one `iterate()` for everyone, under the driver's lock, and hands every result to
its job's inbox. So calls that overlap in time are decoded together, with no window to wait
for, and a call alone runs exactly as before. The generator is never touched outside the lock.

Exits, each leaving no job of ours in the generator:
- a call cancelled (its event set, Ctrl-C reaching it) or closed by its reader: `release`
  takes its job off the generator (`generator.cancel(job)`); the others go on;
- `enqueue` refusing a job (too large for the cache): that call fails, nothing was added;
- `iterate()` raising (a CUDA error, an assertion in the engine): every job in flight is
  cancelled; the call that ran it gets the exception, every other call a BackendError that
  names it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from ragchat.errors import BackendError

IDLE_S = 0.002  # an iteration that streamed nothing: let the other calls have the lock


class JobDriver:
    """Submits jobs to one generator and routes its results to the calls that own them."""

    def __init__(self, generator: Any) -> None:
        self.generator = generator
        self._lock = threading.Lock()
        self._inbox: dict[Any, queue.SimpleQueue] = {}  # every job submitted and not released
        self._live: set[Any] = set()  # those still in the generator

    def submit(self, job: Any) -> None:
        with self._lock:
            self.generator.enqueue(job)
            self._inbox[job] = queue.SimpleQueue()
            self._live.add(job)

    def results(self, job: Any, cancel: threading.Event | None) -> Iterator[dict]:
        """The job's streaming results up to its final one (`eos`); ends early when `cancel`
        is set or the job left the generator without a final result."""
        inbox = self._inbox[job]
        while cancel is None or not cancel.is_set():
            try:
                result = inbox.get_nowait()
            except queue.Empty:
                if not self._step(job, inbox):
                    return
                continue
            if isinstance(result, BaseException):
                raise result
            yield result
            if result.get("eos"):
                return

    def _step(self, job: Any, inbox: queue.SimpleQueue) -> bool:
        """One iteration for everyone, unless results came meanwhile; False when the job is
        gone from the generator and nothing is waiting for it."""
        streamed = True
        with self._lock:
            if inbox.empty():
                if job not in self._live:
                    return False
                streamed = self._iterate(job)
        if not streamed:
            time.sleep(IDLE_S)
        return True

    def _iterate(self, mine: Any) -> bool:
        """Run `iterate()` and route its streaming results; True if any came."""
        try:
            got = self.generator.iterate()
        except BaseException as exc:
            self._abandon(mine, exc)
            raise
        streamed = False
        for result in got:
            job = result.get("job")
            if result.get("stage") != "streaming" or job not in self._live:
                continue
            self._inbox[job].put(result)
            streamed = True
            if result.get("eos"):
                self._live.discard(job)
        return streamed

    def _abandon(self, mine: Any, exc: BaseException) -> None:
        """The generator failed: take every job off it; every other call gets an error."""
        for job in list(self._live):
            try:
                self.generator.cancel(job)
            except Exception:  # a broken generator may fail here too: the job is gone anyway
                pass
            if job is not mine:
                error = BackendError(f"the generator failed while decoding a batch: {exc}",
                                     hint="see the first error; ask again")
                self._inbox[job].put(error)
        self._live.clear()

    def release(self, job: Any) -> None:
        """The call is over: take its job off the generator if it is still there."""
        with self._lock:
            self._inbox.pop(job, None)
            if job in self._live:
                self._live.discard(job)
                self.generator.cancel(job)

    @property
    def in_flight(self) -> int:
        """Jobs submitted and not yet released."""
        return len(self._inbox)
