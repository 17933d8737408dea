"""The one interface every LLM backend implements, and the statistics each call carries.

A call returns a `Stream`: iterate it for text pieces; once the iteration has ended (the
answer is complete, a stop string or the token budget ended it, the caller cancelled it or
stopped reading), `stream.stats` holds what the call cost. The statistics travel with the
call, not with the backend, so one backend can serve several calls at once where the engine
allows it (an API server) and no caller reads another call's figures.

The lock, the clock and the bookkeeping that every engine needs live here once: an engine
implements `_generate(request, call)`, yields text, and reports token counts and token
events on `call`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from ragchat.llm.concurrency import Cancel, results, run_calls
from ragchat.models.capabilities import DEFAULT, Capabilities


@dataclass(frozen=True)
class GenerationStats:
    """What one call cost.

    `cached_tokens` are prompt tokens served from the KV cache (not prefilled again);
    `ttft_s` is the time from the call to the first new token; `decode_tps` counts the
    tokens after the first over the time after the first. `new_tokens` does not count the
    end-of-turn token. `estimated` is True when the engine did not report token counts and
    they were estimated (some API servers); `cache_known` is False when the engine does not
    say how many prompt tokens it served from its cache.
    """

    prompt_tokens: int
    cached_tokens: int
    new_tokens: int
    ttft_s: float
    decode_tps: float
    total_s: float
    estimated: bool = False
    cache_known: bool = True

    @property
    def prefilled_tokens(self) -> int:
        return max(self.prompt_tokens - self.cached_tokens, 0)


@dataclass(frozen=True)
class Request:
    """One call's arguments, as the engine receives them."""

    messages: list[dict]
    max_new_tokens: int = 512
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    cancel: threading.Event | None = None

    @property
    def cancelled(self) -> bool:
        return is_cancelled(self.cancel)


class CallStats:
    """Filled in by an engine during one call; `finish()` turns it into GenerationStats.

    `token()` marks each new token as the engine produces it (also tokens whose text is held
    back, and the end-of-turn token), which gives TTFT and the decode rate. An engine that
    times itself (ExLlamaV2's final result) sets `engine_ttft_s` / `engine_decode_tps`.
    """

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None
        self.events = 0
        self.prompt_tokens = 0
        self.cached_tokens = 0
        self.new_tokens = 0
        self.estimated = False
        self.cache_known = True
        self.engine_ttft_s: float | None = None
        self.engine_decode_tps: float | None = None

    def token(self, count: int = 1) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now
        self.events += count

    def finish(self) -> GenerationStats:
        end = time.perf_counter()
        ttft = (self.first - self.start) if self.first is not None else end - self.start
        decode_s = (self.last - self.first) if self.first is not None and self.last else 0.0
        tps = (self.events - 1) / decode_s if self.events > 1 and decode_s > 0 else 0.0
        prompt = max(int(self.prompt_tokens), 0)
        return GenerationStats(
            prompt_tokens=prompt,
            cached_tokens=min(max(int(self.cached_tokens), 0), prompt),
            new_tokens=max(int(self.new_tokens), 0),
            ttft_s=self.engine_ttft_s if self.engine_ttft_s is not None else ttft,
            decode_tps=self.engine_decode_tps if self.engine_decode_tps is not None else tps,
            total_s=end - self.start,
            estimated=self.estimated,
            cache_known=self.cache_known,
        )


class Stream:
    """One call's output. Iterate it (once) for the text; then read `stats`.

    `stats` is set when the iteration ends for any reason: the answer is complete, the
    caller cancelled it, the caller stopped reading and closed it, or an error ended it.
    """

    def __init__(self, start: Callable[[Callable[[GenerationStats], None]], Iterator[str]]):
        self.stats: GenerationStats | None = None
        self._pieces = start(self._record)

    def _record(self, stats: GenerationStats) -> None:
        self.stats = stats

    def __iter__(self) -> Iterator[str]:
        return self._pieces

    def text(self) -> str:
        """Everything, joined (reads the rest of the stream)."""
        return "".join(self._pieces)

    def close(self) -> None:
        """Stop the call now (the engine is told at once); `stats` is set."""
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class Completion:
    """A whole answer and its statistics (what `complete_many` returns per request)."""

    text: str
    stats: GenerationStats
    started_s: float = 0.0  # when it was submitted, relative to the batch start
    finished_s: float = 0.0  # when its last token came, relative to the batch start


@dataclass
class _Serial:
    lock: threading.Lock = field(default_factory=threading.Lock)


class Backend(ABC):
    """Streams text for a list of chat messages (dicts with `role` and `content`).

    `concurrent = False` (local engines): calls are serialised by a lock. An engine that can
    serve overlapping calls (an API server, ExLlamaV2 in paged mode) sets it True.
    """

    name: str = ""  # the engine (an `Engine`)
    concurrent: bool = False
    seed: int | None = None  # the sampling seed of every call; None: a new one each call
    capabilities: Capabilities = DEFAULT  # what its model can do; set by the engine's loader

    @abstractmethod
    def describe(self) -> str:
        """Short label: the engine's name, or "api:<model or url>"."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this backend's tokenizer (an estimate where none is at hand)."""

    @abstractmethod
    def _generate(self, request: Request, call: CallStats) -> Iterator[str]:
        """Yield the answer's text; fill in `call` (token counts, token events).

        Check `request.cancelled` between tokens and return when it is set; on an early
        close (GeneratorExit) release the engine's job. Raise BackendError for failures.
        """

    def stream(self, messages: list[dict], *, max_new_tokens: int = 512,
               temperature: float = 0.0, stop: Sequence[str] = (),
               cancel: threading.Event | None = None) -> Stream:
        """Start one call; iterate the result for text, then read its `stats`."""
        request = Request(list(messages), int(max_new_tokens), float(temperature),
                          tuple(s for s in stop if s), cancel)
        return Stream(lambda record: self._run(request, record))

    def _run(self, request: Request, record: Callable[[GenerationStats], None]) -> Iterator[str]:
        with self._serial():
            call = CallStats()
            try:
                if request.cancelled:
                    return
                for piece in self._generate(request, call):
                    if piece:
                        yield piece
            finally:
                record(call.finish())

    def _serial(self) -> contextlib.AbstractContextManager:
        if self.concurrent:
            return contextlib.nullcontext()
        state = self.__dict__.get("_serial_state")
        if state is None:
            state = self.__dict__.setdefault("_serial_state", _Serial())
        return state.lock

    def generate(self, messages: list[dict], **kwargs) -> str:
        """The whole answer as one string."""
        return self.stream(messages, **kwargs).text()

    def complete(self, messages: list[dict], **kwargs) -> Completion:
        """The whole answer and its statistics."""
        stream = self.stream(messages, **kwargs)
        text = stream.text()
        assert stream.stats is not None
        return Completion(text, stream.stats)

    @property
    def concurrency(self) -> str:
        """How the engine serves overlapping calls: sequential, parallel or batched."""
        return "parallel" if self.concurrent else "sequential"

    def complete_many(self, conversations: Sequence[list[dict]], *, max_new_tokens: int = 512,
                      temperature: float = 0.0, stop: Sequence[str] = (),
                      cancel: Cancel | None = None) -> list[Completion]:
        """Answer several conversations submitted at once: all of them together where calls
        may overlap (`concurrent`: an API server schedules them, ExLlamaV2 in paged mode
        decodes them in one batch), else one after another. The first failure cancels the
        others and is raised; so does Ctrl-C."""
        kwargs = {"max_new_tokens": max_new_tokens, "temperature": temperature, "stop": stop}

        def one(messages: list[dict], cancel: Cancel) -> Completion:
            return self.complete(messages, cancel=cancel, **kwargs)

        at_once = len(conversations) if self.concurrent else 1
        outcomes = run_calls(one, conversations, at_once=at_once, cancel=cancel)
        return [Completion(done.text, done.stats, 0.0, outcome.finished_s)
                for done, outcome in zip(results(outcomes), outcomes)]

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to free by default
        """Free the model or connection. Safe to call twice."""


def is_cancelled(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()
