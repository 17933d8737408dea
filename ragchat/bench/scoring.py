"""Retrieval scores from ranks: recall@c and the mean reciprocal rank.

A rank is the 1-based position of the first right result among those a search returned, None
when none of them is right. What counts as right is the caller's: `ragchat eval` matches a
QA item's source file or answer text, the benchmark scripts their data set's gold passage.
Every recall and MRR that ragchat reports, and that docs/performance.md quotes, comes from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")
Rank = int | None


def first_hit(results: Iterable[T], is_hit: Callable[[T], object]) -> Rank:
    """1-based rank of the first result that `is_hit` accepts; None when none is."""
    return next((rank for rank, result in enumerate(results, start=1) if is_hit(result)), None)


def recall_at(ranks: Sequence[Rank], cutoff: int) -> float | None:
    """Share of the questions whose first right result is within the first `cutoff`."""
    if not ranks:
        return None
    return sum(1 for rank in ranks if rank is not None and rank <= cutoff) / len(ranks)


def mean_reciprocal_rank(ranks: Sequence[Rank]) -> float | None:
    """Mean of 1/rank over the questions, 0 for a question with no right result."""
    if not ranks:
        return None
    return sum(1 / rank for rank in ranks if rank) / len(ranks)


def rank_scores(ranks: Sequence[Rank], k: int) -> dict[str, float | None]:
    """recall@1, recall@k and MRR@k of ranks found among k results, under those names."""
    return {"recall@1": recall_at(ranks, 1), f"recall@{k}": recall_at(ranks, k),
            f"mrr@{k}": mean_reciprocal_rank(ranks)}
