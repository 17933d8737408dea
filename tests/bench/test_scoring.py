"""Recall@c and MRR from ranks: the one scoring that `ragchat eval` and the benchmark scripts
share."""

from __future__ import annotations

import pytest

from ragchat.bench.scoring import first_hit, mean_reciprocal_rank, rank_scores, recall_at


def test_first_hit_is_the_rank_of_the_first_accepted_result():
    assert first_hit(["a", "b", "c", "b"], lambda r: r == "b") == 2
    assert first_hit(["a", "c"], lambda r: r == "b") is None
    assert first_hit([], bool) is None


def test_recall_counts_ranks_within_the_cutoff():
    ranks = [1, 3, None, 2]
    assert recall_at(ranks, 1) == 0.25
    assert recall_at(ranks, 2) == 0.5
    assert recall_at(ranks, 5) == 0.75
    assert recall_at([], 5) is None


def test_mrr_counts_a_miss_as_zero():
    assert mean_reciprocal_rank([1, 3, None, 2]) == pytest.approx((1 + 1 / 3 + 1 / 2) / 4)
    assert mean_reciprocal_rank([None, None]) == 0.0
    assert mean_reciprocal_rank([]) is None


def test_rank_scores_name_their_cutoff():
    assert rank_scores([1, 2, None, 4], 5) == {"recall@1": 0.25, "recall@5": 0.75,
                                               "mrr@5": pytest.approx(1.75 / 4)}
