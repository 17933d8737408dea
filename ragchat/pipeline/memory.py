"""Bounds on the conversation in the prompt.

Two budgets, each applied in bulk so that the prompt prefix (and the KV cache) changes
rarely: when the questions and answers pass `memory_token_budget`, the older turns fold
into a summary (one LLM call); when the turns with the passages they showed pass
`context_token_budget`, the older turns drop their passages (no LLM call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ragchat.pipeline.state import PastTurn

TokenCounter = Callable[[str], int]


def approx_tokens(text: str) -> int:
    """A rough count (about 4 characters a token) for chat models that cannot count."""
    return max(1, len(text) // 4) if text else 0


def token_counter(llm: Any) -> TokenCounter:
    """The backend's own tokenizer when it has one, else the approximation."""
    count = getattr(llm, "count_tokens", None) or getattr(
        getattr(llm, "backend", None), "count_tokens", None)
    if not callable(count):
        return approx_tokens

    def counted(text: str) -> int:
        try:
            return int(count(text))
        except Exception:  # a tokenizer failure must not break a turn
            return approx_tokens(text)

    return counted


def turn_tokens(turn: PastTurn, count: TokenCounter) -> int:
    return count(turn.question) + count(turn.answer or "")


def turns_to_fold(turns: Sequence[PastTurn], budget: int, count: TokenCounter) -> int:
    """How many of the oldest turns to fold; 0 while the history fits the budget.

    Once over budget, the newest turns that fit in half the budget stay verbatim, so
    the next fold is several turns away (each fold changes the prompt prefix).
    """
    sizes = [turn_tokens(t, count) for t in turns]
    if sum(sizes) <= budget:
        return 0
    kept, room = 0, budget // 2
    for size in reversed(sizes):
        if size > room:
            break
        room -= size
        kept += 1
    return len(turns) - kept


def fallback_summary(previous: str, turns: Sequence[PastTurn]) -> str:
    """A mechanical summary when the model returns nothing usable."""
    asked = "; ".join(t.question.strip()[:200] for t in turns)
    text = f"Earlier the user asked: {asked}."
    return f"{previous.strip()}\n{text}" if previous.strip() else text


def transcript_tokens(turns: Sequence[PastTurn], count: TokenCounter) -> int:
    """Tokens the turns take in the prompt, with the passages they showed."""
    from ragchat.pipeline.prompts import said

    return sum(count(t.prompt or t.question) + count(said(t)) for t in turns)


def drop_old_passages(turns: Sequence[PastTurn]) -> list[PastTurn]:
    """Every turn but the newest keeps only its question and answer."""
    return [t.without_passages() for t in turns[:-1]] + list(turns[-1:])
