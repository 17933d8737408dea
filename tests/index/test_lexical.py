"""BM25 tokens and fields (ragchat.index.tokenize) in a real FTS5 table, the fusion weight by
the query's language, and an index written with the tokens of an earlier version (1: one
column; 2: no rows of whole files): refused by search with the command that updates it, then
updated by ingest without embedding anything."""

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from ragchat.embeddings import BUNDLED, PREFERRED
from ragchat.errors import IndexMismatchError
from ragchat.index import health, store
from ragchat.index.collection import get_collection
from ragchat.index.search import (
    DENSE_WEIGHT_READ,
    DENSE_WEIGHT_UNREAD,
    FILE_WEIGHT,
    dense_weight,
    open_searcher,
)
from ragchat.index.tokenize import ANALYZER, HEAD_WEIGHT, STEM_WEIGHT, VERSION, Analyzer, tokens
from ragchat.ingest.ingester import ingest_paths

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
# The tokens of before version 2: one column of words and bigrams, the heading in the text.
BEFORE = Analyzer(stem=False, heading_field=False, identifiers=False, cleanup=False,
                  korean="bigram", weights=(1.0, 1.0, 1.0))


# Other chunks, so that the words of a test are rare (BM25 gives a word in most chunks no
# weight at all).
FILLER = {100 + n: (title, f"{title} is about something else entirely, in a few words.")
          for n, title in enumerate(["Gardening", "Travel", "Cooking", "Music", "Weather",
                                     "History", "Football", "Chemistry"])}


def bm25_index(chunks: dict[int, tuple[str | None, str]], analyzer: Analyzer = ANALYZER):
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE {store.LEXICAL} USING fts5{store.LEXICAL_COLUMNS}")
    rows = []
    for i, (heading, text) in {**chunks, **FILLER}.items():
        f = analyzer.fields(heading, text)
        rows.append((i, f.head, f.body, f.stems))
    store.insert_lexical(conn, rows)
    return conn


def ranked(chunks: dict[int, tuple[str | None, str]], query: str,
           analyzer: Analyzer = ANALYZER) -> list[int]:
    conn = bm25_index(chunks, analyzer)
    return [i for i, _ in store.bm25_search(conn, analyzer.query_terms(query), 10,
                                            analyzer.weights)]


def test_plurals_and_verb_forms_find_each_other():
    chunks = {1: (None, "Installing plugins from a private index needs credentials."),
              2: (None, "The cache folder keeps every wheel that was built.")}
    assert ranked(chunks, "how do I install a plugin?") == [1]
    assert ranked(chunks, "where are built wheels cached") == [2]
    assert ranked(chunks, "how do I install a plugin?", BEFORE) == []  # exact words only


def test_an_exact_word_outranks_another_form_of_it():
    chunks = {1: (None, "Set the timeouts of the client here."),
              2: (None, "Set the timeout of the client here.")}
    assert ranked(chunks, "timeout") == [2, 1]
    assert ranked(chunks, "timeouts") == [1, 2]
    installing = {1: (None, "Install the package."), 2: (None, "Installing the package.")}
    assert ranked(installing, "installing") == [2, 1]
    assert ranked(installing, "install") == [1, 2]


def test_identifiers_whole_an_exact_identifier_outranks_its_words_elsewhere():
    """The measured variant `identifiers` (not ragchat's default: it did not help on the
    user-worded sets, benchmarks/results/retrieval-variants-default.json)."""
    whole = replace(ANALYZER, identifiers=True)
    chunks = {1: (None, "Redirects: the client can follow redirects, and you can follow them."),
              2: (None, "Pass follow_redirects=True to the request.")}
    assert ranked(chunks, "follow_redirects", whole)[0] == 2
    assert ranked(chunks, "follow_redirects", BEFORE)[0] == 1
    assert not ANALYZER.identifiers and ranked(chunks, "follow_redirects")[0] == 1
    assert ranked({1: (None, "Use v-model on the input."), 2: (None, "A model of v2.")},
                  "v-model", whole)[0] == 1


@pytest.mark.timeout(60)
def test_identifiers_are_found_in_linear_time_on_a_line_of_letters():
    """Unanchored, the identifier pattern was tried again from every letter of a run without
    a separator: 40,000 letters took half a minute, 300,000 would take half an hour."""
    from ragchat.index.tokenize import identifiers

    assert identifiers("a" * 300_000 + " x") == []
    assert identifiers("a-" * 150_000) == ["_".join(["a"] * 150_000)]
    assert identifiers("가v-if다 foo__bar. app.config.x-y") == ["v_if", "foo_bar", "app_config_x_y"]


def test_a_word_in_the_heading_outranks_the_same_word_in_passing():
    chunks = {1: ("Caching", "Pip keeps the files it downloaded and the wheels it built."),
              2: ("Installing", "Caching of the files is explained on another page.")}
    assert HEAD_WEIGHT > 1
    assert ranked(chunks, "caching") == [1, 2]
    assert ranked(chunks, "caching", BEFORE) == [2, 1]  # the shorter chunk, heading or not


def test_the_stems_column_weighs_less_than_the_words():
    assert ANALYZER.weights == (HEAD_WEIGHT, 1.0, STEM_WEIGHT) and STEM_WEIGHT < 1


def test_korean_questions_lose_particles_endings_and_question_words():
    terms = ANALYZER.query_terms("부모 컴포넌트에서 자식 컴포넌트로 데이터를 넘기려면 어떻게 해야 하나요?")
    assert {"부모", "자식", "넘기"} <= set(terms) and {"컴포", "데이", "이터"} <= set(terms)
    for junk in ("에서", "트로", "터를", "기려", "려면", "어떻", "떻게", "해야", "하나", "나요"):
        assert junk not in terms
    before = BEFORE.query_terms("데이터를 넘기려면 어떻게 해야 하나요?")
    assert {"터를", "려면", "어떻", "나요"} <= set(before)


def test_english_queries_lose_only_the_common_words():
    """A longer list of English question words is a measured variant, not the default."""
    query = "should I pin versions if there is no way to reach the index?"
    assert ANALYZER.query_terms(query)[:5] == ["should", "pin", "versions", "if", "there"]
    cleaned = replace(ANALYZER, english_cleanup=True).query_terms(query)
    assert cleaned[:4] == ["pin", "versions", "no", "reach"]


def test_korean_documents_keep_their_content_and_find_a_question():
    chunks = {1: ("컴포넌트 등록", "전역 등록을 하면 어느 컴포넌트에서나 쓸 수 있습니다."),
              2: ("Props", "부모는 props로 자식 컴포넌트에 데이터를 전달합니다.")}
    body = ANALYZER.fields(*chunks[2]).body.split()
    assert {"부모", "자식", "데이", "이터", "전달"} <= set(body)
    assert ranked(chunks, "부모 컴포넌트에서 자식에게 데이터를 넘기려면 어떻게 해야 하나요?")[0] == 2


def test_plain_tokens_are_unchanged_for_relevance():
    assert tokens("서울에서 살아요") == ["서울", "울에", "에서", "살아", "아요"]
    assert tokens("Seoul 서울 API v2") == ["seoul", "서울", "api", "v2"]


def test_dense_weight_follows_the_language_the_model_reads():
    korean, english = "경주에 있는 절은 무엇인가?", "Where is Bulguksa temple?"
    assert dense_weight(BUNDLED, korean) == DENSE_WEIGHT_UNREAD
    assert dense_weight(BUNDLED, english) == DENSE_WEIGHT_READ
    assert dense_weight(PREFERRED, korean) == DENSE_WEIGHT_READ  # bge-m3 is multilingual
    mixed = dense_weight(BUNDLED, "v-model 쓰는 법")
    assert min(DENSE_WEIGHT_READ, DENSE_WEIGHT_UNREAD) < mixed < max(DENSE_WEIGHT_READ,
                                                                      DENSE_WEIGHT_UNREAD)
    assert DENSE_WEIGHT_UNREAD < DENSE_WEIGHT_READ


def test_the_weights_are_the_calibrated_ones():
    """The column and fusion weights in the code are those the calibration chose."""
    chosen = json.loads((RESULTS / "retrieval-variants-default.json").read_text())["chosen"]
    assert (HEAD_WEIGHT, STEM_WEIGHT) == (chosen["head_weight"], chosen["stem_weight"])
    assert (DENSE_WEIGHT_READ, DENSE_WEIGHT_UNREAD) == (chosen["dense_weight_read"],
                                                        chosen["dense_weight_unread"])
    assert FILE_WEIGHT == chosen["file_weight"]


def test_the_index_tokens_of_this_version():
    """What a chunk's BM25 row holds under tokenizer VERSION. When this changes, VERSION must
    change too: indexes written before are then refused and updated, never searched with
    other tokens (an unchanged VERSION would let them match wrongly, silently)."""
    fields = ANALYZER.fields("Guide > Installing plugins",
                             "Pass follow_redirects=True when installing 플러그인을 설치하려면 v-model.")
    assert VERSION == "3"
    assert fields.head == "guide installing plugins"
    assert fields.body == ("플러 러그 그인 인을 설치 치하 하려 려면 "
                           "pass follow redirects true when installing v model")
    assert fields.stems == "guid instal plugin redirect instal"
    # a whole file: each heading path once, every text in order
    whole = ANALYZER.file_fields([(h, ANALYZER.fields(h, t)) for h, t in (
        ("Guide > Installing", "Run pip."), (None, "Then wait."), ("Guide > Installing", "Done."))])
    assert (whole.head, whole.body, whole.stems) == ("guide installing",
                                                     "run pip then wait done", "guid instal")


def test_a_whole_files_row_holds_the_tokens_of_all_its_text():
    """Made from its chunks' tokens (nothing tokenized twice), the file's row holds the same
    bag of tokens as its text tokenized at once: BM25 scores it the same."""
    from collections import Counter

    chunks = [("설치 > 플러그인", "플러그인을 설치하려면 installing plugins 명령을 씁니다."),
              (None, "Redirects are followed: follow_redirects=True, 서울에서."),
              ("설치 > 플러그인", "v-model 과 CSS 모듈, 3.2 버전.")]
    whole = ANALYZER.file_fields([(h, ANALYZER.fields(h, t)) for h, t in chunks])
    at_once = ANALYZER.fields("설치 > 플러그인", "\n".join(t for _, t in chunks))
    for column in ("head", "body", "stems"):
        assert Counter(getattr(whole, column).split()) == \
            Counter(getattr(at_once, column).split()), column


def make_version_1(db: Path) -> None:
    """Turn a collection's BM25 index into what ragchat wrote before tokenizer version 2."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(f"DROP TABLE {store.LEXICAL}")
        conn.execute('CREATE VIRTUAL TABLE chunks_fts USING fts5(tokens, tokenize="unicode61 '
                     'remove_diacritics 0")')
        rows = conn.execute("SELECT id, heading, text FROM chunks").fetchall()
        conn.executemany("INSERT INTO chunks_fts (rowid, tokens) VALUES (?, ?)",
                         [(i, " ".join(tokens(f"{h}\n{t}" if h else t))) for i, h, t in rows])
        conn.execute("DELETE FROM meta WHERE key = 'tokenizer'")
    conn.close()


def make_version_2(db: Path) -> None:
    """Turn a collection's BM25 index into what ragchat wrote at tokenizer version 2: the
    same chunk rows, no rows of whole files."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(f"DROP TABLE {store.FILE_LEXICAL}")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'tokenizer'")
    conn.close()


def search(settings, query: str, mode: str = "hybrid"):
    searcher = open_searcher(settings)
    try:
        return searcher.search(query, 3, mode)
    finally:
        searcher.close()


def test_an_index_of_older_tokens_is_refused_then_updated_by_ingest(settings, corpus):
    ingest_paths(settings, [corpus])
    collection = get_collection("default")
    make_version_1(collection.db_path)
    command = f"ragchat ingest {corpus}"
    for mode in ("bm25", "hybrid"):
        with pytest.raises(IndexMismatchError) as refused:
            search(settings, "watering tomatoes", mode)
        assert "tokenizer version 1" in refused.value.message
        assert command in (refused.value.hint or "")
    problem = health.check(collection)
    assert problem is not None and problem.fix == command and not problem.unreadable

    report = ingest_paths(settings, [corpus])
    assert report.vectors_embedded == 0 and report.unchanged == report.files_seen - 1
    [notice] = [n for n in report.notices if "BM25" in n]
    assert f"updated to tokenizer version {VERSION}: {report.chunks_total} chunks" in notice
    again = ingest_paths(settings, [corpus])
    assert not [n for n in again.notices if "BM25" in n]
    assert search(settings, "watering tomatoes", "bm25")[0].path == str(corpus / "garden.md")
    assert health.check(collection) is None
    conn = store.connect(collection.db_path, readonly=True)
    try:
        assert store.get_meta(conn)["tokenizer"] == VERSION
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'chunks_fts'"
                            ).fetchone()[0] == 0
        assert conn.execute(f"SELECT count(*) FROM {store.LEXICAL}").fetchone()[0] == \
            store.counts(conn)[1]
        assert conn.execute(f"SELECT count(*) FROM {store.FILE_LEXICAL}").fetchone()[0] == \
            conn.execute("SELECT count(DISTINCT file_id) FROM chunks").fetchone()[0]
    finally:
        conn.close()


def test_an_index_without_whole_files_is_refused_then_given_them_by_ingest(settings, corpus):
    ingest_paths(settings, [corpus])
    collection = get_collection("default")
    expected = store.connect(collection.db_path, readonly=True)
    try:
        rows = expected.execute(f"SELECT rowid, head, body, stems FROM {store.FILE_LEXICAL} "
                                "ORDER BY rowid").fetchall()
    finally:
        expected.close()
    make_version_2(collection.db_path)
    with pytest.raises(IndexMismatchError) as refused:
        search(settings, "watering tomatoes", "bm25")
    assert "tokenizer version 2" in refused.value.message
    report = ingest_paths(settings, [corpus])
    assert report.vectors_embedded == 0
    assert [n for n in report.notices if f"updated to tokenizer version {VERSION}" in n]
    conn = store.connect(collection.db_path, readonly=True)
    try:  # the rows made from the stored chunks are those a first ingest writes
        assert conn.execute(f"SELECT rowid, head, body, stems FROM {store.FILE_LEXICAL} "
                            "ORDER BY rowid").fetchall() == rows
    finally:
        conn.close()
    assert search(settings, "watering tomatoes", "bm25")[0].path == str(corpus / "garden.md")


def test_a_new_index_records_its_tokenizer_version(settings, corpus):
    ingest_paths(settings, [corpus])
    conn = store.connect(get_collection("default").db_path, readonly=True)
    try:
        assert store.get_meta(conn)["tokenizer"] == VERSION
    finally:
        conn.close()


def test_each_mode_searches_only_its_own_lists(settings, corpus):
    ingest_paths(settings, [corpus])
    for mode in ("bm25", "dense", "hybrid"):
        hits = search(settings, "watering tomatoes", mode)
        assert hits and hits[0].path == str(corpus / "garden.md")
        words = {h.bm25_rank is not None for h in hits}
        meaning = {h.dense_rank is not None for h in hits}
        if mode == "bm25":
            assert words == {True} and meaning == {False}
            assert all(h.dense_similarity is None for h in hits)
        elif mode == "dense":
            assert words == {False} and meaning == {True}
        else:
            assert hits[0].bm25_rank is not None and hits[0].dense_rank is not None
