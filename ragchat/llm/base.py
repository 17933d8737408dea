"""The one interface every LLM backend implements, and the statistics each call leaves behind."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GenerationStats:
    """What one call cost.

    `cached_tokens` are prompt tokens served from the KV cache (not prefilled again);
    `ttft_s` is the time from the call to the first new token; `decode_tps` counts the
    tokens after the first over the time after the first. `estimated` is True when the
    engine did not report token counts and they were estimated (some API servers).
    """

    prompt_tokens: int
    cached_tokens: int
    new_tokens: int
    ttft_s: float
    decode_tps: float
    total_s: float
    estimated: bool = False

    @property
    def prefilled_tokens(self) -> int:
        return max(self.prompt_tokens - self.cached_tokens, 0)


class Backend(ABC):
    """Streams text for a list of chat messages (dicts with `role` and `content`)."""

    name: str = ""
    last_stats: GenerationStats | None = None

    @abstractmethod
    def describe(self) -> str:
        """Short label: "llamacpp", "exllamav2", or "api:<model or url>"."""

    @abstractmethod
    def stream(
        self,
        messages: list[dict],
        *,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield text pieces; set `last_stats` when the stream ends (also when cancelled)."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this backend's tokenizer (an estimate where none is at hand)."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to free by default
        """Free the model or connection. Safe to call twice."""

    def generate(self, messages: list[dict], **kwargs) -> str:
        """The whole answer as one string (joins `stream`)."""
        return "".join(self.stream(messages, **kwargs))


class StatsClock:
    """Measures one call: start, first token, last token; turns them into GenerationStats."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None

    def token(self) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now

    def stats(self, prompt_tokens: int, cached_tokens: int, new_tokens: int,
              *, estimated: bool = False) -> GenerationStats:
        end = time.perf_counter()
        ttft = (self.first - self.start) if self.first is not None else end - self.start
        decode_s = (self.last - self.first) if self.first is not None and self.last else 0.0
        tps = (new_tokens - 1) / decode_s if new_tokens > 1 and decode_s > 0 else 0.0
        return GenerationStats(
            prompt_tokens=prompt_tokens, cached_tokens=cached_tokens, new_tokens=new_tokens,
            ttft_s=ttft, decode_tps=tps, total_s=end - self.start, estimated=estimated,
        )


def is_cancelled(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()
