"""What is shown when an answer says nothing or too little: the best passage's lines, quoted."""

from __future__ import annotations

import pytest

from ragchat.pipeline.quoting import best_passage, best_sentences, quote_fallback, thin, usable
from ragchat.pipeline.result import Chunk


@pytest.mark.parametrize("text, ok", [
    ("", False), ("   ", False), ("[1].", False), ("[1] [2]", False), (":", False),
    ("[2, 3;", False),
    ("Yes.", True), ("42 [1]", True), ("Use timeout=None.", True), ("네, 됩니다.", True),
])
def test_usable(text, ok):
    assert usable(text) is ok


def test_the_quote_is_the_passages_most_relevant_sentences_cited():
    passage = ("HTTPX is careful to enforce timeouts everywhere by default. The default behavior "
               "is to raise a TimeoutException after 5 seconds of network inactivity. You can "
               "also set timeouts for a client.")
    assert best_sentences("Which exception after 5 seconds?", passage, limit=1) == (
        "The default behavior is to raise a TimeoutException after 5 seconds of network "
        "inactivity.")
    quote = quote_fallback("Which exception?", Chunk(n=4, path="/docs/timeouts.md",
                                                     location="", text=passage, score=0.0))
    assert quote.startswith("The model gave no usable answer. The most relevant lines of [4] "
                            "timeouts.md:")
    assert "\n\n> " in quote


PROXIES = ("To route all traffic to a proxy, pass the proxy URL to the client...\n\n"
           "```python\nwith httpx.Client(proxy=\"http://localhost:8030\") as client:\n"
           "    ...\n```\n\nFor detailed information about routing, see the Routing section.")


def test_a_quoted_code_block_stays_whole_with_the_sentence_that_introduces_it():
    quote = best_sentences("How do I use a proxy with httpx?", PROXIES, limit=1)
    assert quote == ("To route all traffic to a proxy, pass the proxy URL to the client...\n\n"
                     "```python\nwith httpx.Client(proxy=\"http://localhost:8030\") as client:"
                     "\n    ...\n```")


def test_sentences_of_different_paragraphs_are_quoted_as_paragraphs():
    quote = best_sentences("proxy routing client", PROXIES, limit=2)
    assert quote.endswith("```\n\nFor detailed information about routing, see the Routing "
                          "section.")


def test_list_items_stay_on_their_lines_and_a_gap_is_marked():
    passage = ("* The connect timeout limits the wait for a connection.\n"
               "* The read timeout limits the wait for a chunk of data.\n"
               "* The pool timeout is about the connection pool. Pools are shared. "
               "A pool timeout raises PoolTimeout.")
    assert best_sentences("connect and read timeout", passage) == (
        "* The connect timeout limits the wait for a connection.\n"
        "* The read timeout limits the wait for a chunk of data.")
    assert best_sentences("connection pool timeout PoolTimeout", passage) == (
        "* The pool timeout is about the connection pool. … A pool timeout raises PoolTimeout.")


def test_korean_sentences_are_matched_by_character_bigrams():
    passage = ("행사는 10월 12일 토요일에 열린다. 올해 행사 예산은 총 1,200만 원으로 확정되었다. "
               "홍보는 김민지 팀장이 맡는다.")
    assert best_sentences("예산이 얼마야?", passage, limit=1) == (
        "올해 행사 예산은 총 1,200만 원으로 확정되었다.")  # "예산이" and "예산은" share 예산


def test_a_code_block_cut_short_is_closed():
    code = "Call it like this:\n\n```python\n" + "\n".join(
        f"client.get('/page/{i}')  # fetch page {i}" for i in range(60)) + "\n```"
    quote = best_sentences("How do I call it to fetch a page?", code, limit=1, chars=300)
    assert len(quote) <= 2 * 300 + 4 and quote.endswith(" …\n```")
    assert quote.count("```") == 2 and "\n" in quote.split("```python")[1]


@pytest.mark.parametrize(("question", "answer", "is_thin"), [
    ("How do I stream a large download?", "You can use HTTPX to stream a large download.", True),
    ("Will httpx follow a 301 redirect on its own?", "The answer is no.", True),
    ("How many KiB per token does the Q8 cache take?", "1.", False),  # a number may be it
    ("How do I delete the index of a collection?", "You can delete the index by running:", True),
    ("Which setting sets the retries?", "The answer is [2]", True),
    ("How long does httpx wait before a request times out?", "10 seconds.", False),
    ("How much memory does hnswlib need?", "1.3 GB", False),
    ("How do I turn timeouts off?", "Pass timeout=None to the client [1].", False),
])
def test_thin_answers_add_no_number_and_less_than_two_words_to_the_question(question, answer, is_thin):
    assert thin(question, answer) is is_thin


def passage(n: int, heading: str, text: str) -> Chunk:
    return Chunk(n=n, path=f"/docs/{n}.md", location="lines 1-9", text=text, score=1.0 / n,
                 heading=heading)


def test_the_quoted_passage_answers_the_latest_question_not_the_first_ranked():
    given = [passage(2, "Plugins > Installing", "Install a plugin with `llm install NAME`, or "
                     "from a wheel: `llm install dist/plugin.whl`."),
             passage(6, "Plugins > Uninstalling", "To remove a plugin run `llm uninstall NAME`."),
             passage(7, "Changelog", "0.9: plugins can be installed from a wheel file.")]
    best = best_passage("and how do I remove it?",
                        "How do I install a plugin? and how do I remove it?", given)
    assert best.n == 6


def test_a_heading_that_names_the_question_wins_over_words_scattered_in_a_passage():
    given = [passage(1, "Developer Interface > Helper Functions",
                     "Only use these functions in a console: a Client can enable HTTP/2 and "
                     "keeps connections, see httpx.Client."),
             passage(2, "HTTP/2 > Enabling HTTP/2",
                     "When using the httpx client, HTTP/2 is not on by default: "
                     "`httpx.Client(http2=True)`.")]
    assert best_passage("How do I enable HTTP/2 in httpx?",
                        "How do I enable HTTP/2 in httpx?", given).n == 2


def test_without_words_of_its_own_the_search_decides_then_the_rank():
    given = [passage(1, "Security", "Users think about security in many ways."),
             passage(2, "Hash-checking mode", "Generate hashes with `pip hash FILE`, then "
                     "pass --require-hashes to check package hashes.")]
    assert best_passage("How do I do that?", "How do I check package hashes? How do I do that?",
                        given).n == 2
    same = [passage(4, "A", "Same words."), passage(5, "A", "Same words.")]
    assert best_passage("same words?", "same words?", same).n == 4  # the better ranked
