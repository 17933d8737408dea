"""One LLM call through a langchain-core chat model, streamed, with its statistics.

The backends report prompt/cached/new tokens, TTFT and decode speed on the last chunk
(`response_metadata`, `usage_metadata`); any chat model works, missing figures are
measured here or counted as zero.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ragchat.pipeline.prompts import Message
from ragchat.pipeline.result import LLMCall, TurnCancelled

_STAT_KEYS = ("backend", "prompt_tokens", "cached_tokens", "new_tokens", "ttft_s",
              "decode_tps", "total_s", "cache_known")


def to_langchain(messages: Sequence[Message]) -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[role](content=content) for role, content in messages]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
    return "".join(parts)


def _collect_stats(chunk: Any, stats: dict[str, Any]) -> None:
    meta = getattr(chunk, "response_metadata", None) or {}
    for key in _STAT_KEYS:
        if meta.get(key) is not None:
            stats[key] = meta[key]
    usage = getattr(chunk, "usage_metadata", None)
    if usage:
        stats["usage"] = usage


def build_call(node: str, stats: dict[str, Any], ttft: float, total: float,
               pieces: int) -> LLMCall:
    usage = stats.get("usage") or {}
    details = usage.get("input_token_details") or {}
    prompt = stats.get("prompt_tokens", usage.get("input_tokens", 0)) or 0
    cached = stats.get("cached_tokens", details.get("cache_read", 0)) or 0
    known = stats.get("cache_known", "cached_tokens" in stats or "cache_read" in details)
    new = stats.get("new_tokens", usage.get("output_tokens", pieces)) or 0
    ttft_s = float(stats.get("ttft_s", ttft) or 0.0)
    total_s = float(stats.get("total_s", total) or 0.0)
    tps = stats.get("decode_tps")
    if tps is None:
        decode_time = total_s - ttft_s
        tps = (new - 1) / decode_time if new > 1 and decode_time > 0 else 0.0
    return LLMCall(node=node, prompt_tokens=int(prompt), cached_tokens=int(cached),
                   new_tokens=int(new), ttft_s=ttft_s, decode_tps=float(tps),
                   total_s=total_s, backend=str(stats.get("backend", "")),
                   cache_known=bool(known))


class StopSignal:
    """What a backend sees as its `cancel` event: the turn's cancel flag (Ctrl-C) or this
    call's own stop (the answer went wrong and the rest is not wanted), whichever is set."""

    def __init__(self, turn: threading.Event | None) -> None:
        self.turn = turn
        self.own = threading.Event()

    def set(self) -> None:
        self.own.set()

    def is_set(self) -> bool:
        return self.own.is_set() or (self.turn is not None and self.turn.is_set())

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if left <= 0:
                return False
            self.own.wait(left)
        return True


def call_llm(
    llm: Any,
    messages: Sequence[Message],
    *,
    node: str,
    cancel: threading.Event | None = None,
    on_text: Callable[[str], bool | None] | None = None,
    **params: Any,
) -> tuple[str, LLMCall]:
    """Stream one completion; return its text and statistics. Raises TurnCancelled.

    `on_text` sees each piece; when it returns True the generation stops there (the
    statistics of the call are still recorded).
    """
    start = time.perf_counter()
    ttft = 0.0
    pieces: list[str] = []
    stats: dict[str, Any] = {}
    signal = StopSignal(cancel)
    for chunk in llm.stream(to_langchain(messages), cancel=signal, **params):
        text = _text(chunk.content)
        if text and not signal.own.is_set():
            if not pieces:
                ttft = time.perf_counter() - start
            pieces.append(text)
            if on_text is not None and on_text(text):
                signal.set()
        _collect_stats(chunk, stats)
        if cancel is not None and cancel.is_set():
            break
    if cancel is not None and cancel.is_set():
        raise TurnCancelled()
    total = time.perf_counter() - start
    return "".join(pieces), build_call(node, stats, ttft, total, len(pieces))
