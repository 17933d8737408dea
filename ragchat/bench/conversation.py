"""A conversation through the real pipeline, turn by turn: per LLM call, the prompt tokens,
those served from the KV cache, those prefilled, and the time to the first token.

The one cache-reuse measurement: `ragchat bench` (its pipeline row), benchmarks/cache_reuse.py
(warm against cold) and the GPU check (benchmarks/gpu/measure.py) all run their turns here.
It imports nothing beyond the pipeline: the GPU check runs it with only the wheels it carries.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class ColdCache:
    """A Backend that evicts the cached prompt before every call: each call prefills its
    whole prompt. (Backends that keep only the previous prompt, llama.cpp, its server and
    ExLlamaV2 unpaged, lose it all; ExLlamaV2 in paged mode keeps older pages too.)"""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = getattr(inner, "capabilities", None)  # the same model's

    def describe(self) -> str:
        return self.inner.describe()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(self, messages: list[dict], **kwargs: Any) -> Any:
        from ragchat.bench.inference import evict_cache

        evict_cache(self.inner)
        return self.inner.stream(messages, **kwargs)

    def close(self) -> None:
        self.inner.close()


def chat_model(backend: Any, max_new_tokens: int, temperature: float = 0.0,
               cold: bool = False) -> Any:
    """The pipeline's chat model over `backend`; `cold`: every call misses the cache."""
    from ragchat.llm.adapter import BackendChatModel

    return BackendChatModel(backend=ColdCache(backend) if cold else backend,
                            max_new_tokens=max_new_tokens, temperature=temperature)


def call_json(call: Any) -> dict[str, Any]:
    """One LLM call's cache figures (cached and prefilled are None where the engine is silent)."""
    cached = call.cached_tokens if call.cache_known else None
    return {"node": call.node, "prompt_tokens": call.prompt_tokens, "cached_tokens": cached,
            "prefilled_tokens": None if cached is None else call.prompt_tokens - cached,
            "ttft_s": round(call.ttft_s, 4)}


def cache_totals(calls: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Prompt, cached and prefilled tokens over calls (as `call_json` writes them, or older
    results files without "prefilled_tokens"), and the share cached; cached, prefilled and
    share are None when a call does not say what it found in the cache."""
    calls = list(calls)
    prompt = sum(c["prompt_tokens"] for c in calls)
    if any(c["cached_tokens"] is None for c in calls):
        return {"prompt_tokens": prompt, "cached_tokens": None, "prefilled_tokens": None,
                "cached_share": None}
    cached = sum(c["cached_tokens"] for c in calls)
    return {"prompt_tokens": prompt, "cached_tokens": cached,
            "prefilled_tokens": prompt - cached, "cached_share": cached / prompt if prompt else 0.0}


@dataclass(frozen=True)
class Turn:
    """One asked question: its wall time and the pipeline's TurnResult."""

    number: int
    question: str
    wall_s: float
    result: Any

    @property
    def calls(self) -> list[dict[str, Any]]:
        return [call_json(c) for c in self.result.llm_calls]

    @property
    def totals(self) -> dict[str, Any]:
        return cache_totals(self.calls)

    def to_json(self) -> dict[str, Any]:
        return {"turn": self.number, "wall_s": round(self.wall_s, 4), "calls": self.calls}


def run_turns(pipeline: Any, questions: Iterable[str], session: str | None = None) -> list[Turn]:
    """Ask each question in turn in one conversation (`session`, else the pipeline's own)."""
    if session is not None:
        pipeline.switch(session)
    turns = []
    for number, question in enumerate(questions, start=1):
        start = time.perf_counter()
        result = pipeline.ask(question)
        turns.append(Turn(number, question, time.perf_counter() - start, result))
    return turns
