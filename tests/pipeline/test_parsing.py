from __future__ import annotations

import pytest

from ragchat.pipeline.parsing import (
    CitationFilter,
    cited_numbers,
    is_small_talk,
    parse_grades,
    parse_rewrite,
)

RAW = "and the second one?"


@pytest.mark.parametrize("text, question, retrieve", [
    ('{"question": "What is part 2?", "search": true}', "What is part 2?", True),
    ('```json\n{"question": "What is part 2?", "search": false}\n```', "What is part 2?", False),
    ('Sure! Here it is: {"question": "What is part 2?", "search": "yes"} Hope it helps.',
     "What is part 2?", True),
    ("{'question': 'What is part 2?', 'search': true}", "What is part 2?", True),
    ('{question: What is part 2?, search: no}', "What is part 2?", False),
    ('"question": "What is part 2?"', "What is part 2?", True),
    ('{"standalone_question": "What is part 2?", "retrieve": 1}', "What is part 2?", True),
    ("What is part 2?\nI hope this helps.", "What is part 2?", True),
])
def test_rewrite_is_read_leniently(text, question, retrieve):
    parsed = parse_rewrite(text, RAW)
    assert (parsed.question, parsed.retrieve, parsed.parsed) == (question, retrieve, True)


@pytest.mark.parametrize("text", [
    "", "I am a small model and I like cheese.", '{"question": ""}', "{broken json",
    '{"question": "' + "x" * 2000 + '"}',
])
def test_unreadable_rewrite_retrieves_with_the_raw_question(text):
    parsed = parse_rewrite(text, RAW)
    assert (parsed.question, parsed.retrieve, parsed.parsed) == (RAW, True, False)


def test_rewrite_without_question_but_no_search_goes_direct():
    parsed = parse_rewrite('{"search": false}', "thanks!")
    assert (parsed.question, parsed.retrieve) == ("thanks!", False)


@pytest.mark.parametrize("text, kept, ok", [
    ("1, 3", [1, 3], True),
    ("Relevant passages: [2] and [4].", [2, 4], True),
    ('{"relevant": [3, 1, 3]}', [1, 3], True),
    ("NONE", [], True),
    ("None of the passages help.", [], True),
    ("7, 9", [], False),
    ("I cannot tell.", [], False),
    ("", [], False),
])
def test_grades(text, kept, ok):
    assert parse_grades(text, [1, 2, 3, 4]) == (kept, ok)


def test_grades_keep_only_candidates_in_their_order():
    assert parse_grades("9, 2", [7, 9, 12]) == ([9], True)


@pytest.mark.parametrize("message, expected", [
    ("hi", True), ("Hello!", True), ("thanks", True), ("안녕하세요", True),
    ("hi, how do I install the server?", False), ("what does the README say?", False),
])
def test_small_talk(message, expected):
    assert is_small_talk(message) is expected


def _stream(filter_: CitationFilter, pieces: list[str]) -> str:
    return "".join(filter_.feed(p) for p in pieces) + filter_.flush()


def test_citation_filter_keeps_allowed_and_drops_invented_numbers():
    pieces = ["A [", "1", "] b [", "2] c [1, ", "5] d [3", "]", " e [x] f"]
    assert _stream(CitationFilter({1, 3}), pieces) == "A [1] b  c [1] d [3] e [x] f"


def test_citation_filter_without_sources_drops_every_citation():
    assert _stream(CitationFilter(set()), ["See [1", "] and [2, 3]."]) == "See  and ."


def test_citation_filter_flushes_an_unclosed_bracket():
    assert _stream(CitationFilter({1}), ["list [1", "2"]) == "list [12"


def test_cited_numbers_in_order():
    assert cited_numbers("a [2] b [1, 2] c [3]") == [2, 1, 3]
