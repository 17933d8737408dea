from ragchat.embeddings import BUNDLED, PREFERRED
from ragchat.index.search import best_per_file, dense_weight, rrf_fuse
from ragchat.index.tokenize import query_tokens, tokens


def test_rrf_rewards_agreement_between_lists():
    fused = rrf_fuse([[1, 2, 3], [3, 4, 1]], k=4)
    assert [i for i, _, _ in fused][:2] == [1, 3]  # in both lists beats first in one
    ranks = {i: r for i, _, r in fused}
    assert ranks[1] == [1, 3] and ranks[2] == [2, None] and ranks[4] == [None, 2]
    assert fused[0][1] == 1 / 61 + 1 / 63


def test_rrf_weights_and_k():
    fused = rrf_fuse([[1], [2]], k=1, weights=[0.5, 1.0])
    assert [i for i, _, _ in fused] == [2]


def test_best_per_file_keeps_each_files_first_item_in_order():
    # chunks 1, 2, 3 of file 10, chunk 4 of file 20, chunk 5 of file 30 (fused, best first)
    fused = [(1, 0.030, 1, 1), (2, 0.029, 2, 2), (3, 0.028, 3, 3), (4, 0.025, 4, None),
             (5, 0.010, None, 5)]
    files = {1: 10, 2: 10, 3: 10, 4: 20, 5: 30}
    assert best_per_file(fused, files) == [fused[0], fused[3], fused[4]]  # items unchanged
    # a chunk whose file is unknown (deleted meanwhile) counts as a file of its own
    assert best_per_file(fused[:2], {}) == fused[:2]


def test_korean_is_indexed_as_character_bigrams():
    assert tokens("서울에서 살아요") == ["서울", "울에", "에서", "살아", "아요"]
    assert tokens("Seoul 서울 API v2") == ["seoul", "서울", "api", "v2"]
    assert tokens("물") == ["물"]


def test_query_tokens_drop_english_stopwords_but_never_everything():
    # the words, then their Snowball stems (searched in the stems column)
    assert query_tokens("What is the capital of France") == ["capital", "france", "capit", "franc"]
    assert query_tokens("what is it") == ["what", "is", "it"]


def test_english_only_models_do_not_vote_on_korean_queries():
    assert dense_weight(BUNDLED, "경주에 있는 절은 무엇인가?") == 0.0
    assert dense_weight(BUNDLED, "Where is Bulguksa temple?") == 1.0
    # mostly Latin letters: the dense vote by the share of letters the model reads
    assert dense_weight(BUNDLED, "Bulguksa 불국사") == 8 / 11
    assert dense_weight(PREFERRED, "경주에 있는 절은 무엇인가?") == 1.0  # bge-m3 is multilingual
