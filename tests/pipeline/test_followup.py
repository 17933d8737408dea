"""Follow-ups without a rewriting model (followup.py): which questions read as follow-ups,
and what a conversation searches for turn after turn."""

from __future__ import annotations

import pytest

from ragchat.pipeline.chat import ChatPipeline
from ragchat.pipeline.followup import follow_up_search, read_follow_up, without_lead
from ragchat.pipeline.nodes import PipelineParams
from ragchat.pipeline.retriever import Retriever
from ragchat.pipeline.sessions import open_checkpointer
from ragchat.pipeline.state import PastTurn

from .fakes import FakeSearcher


@pytest.mark.parametrize("question", [
    "And how do I turn it off?",
    "and how do I remove it?",
    "What about a SOCKS one?",
    "Does that work with trio too?",
    "What is the default maximum?",  # short: two words about its subject
    "hmm, and the async client?",
    "그럼 기본값은 뭐예요?",
    "그거랑 메서드는 뭐가 달라요?",
    "이벤트 이름 규칙은요?",
    "슬롯도 이름을 붙일 수 있나요?",
])
def test_follow_ups(question):
    verdict = read_follow_up(question)
    assert verdict.follows, verdict.reason


@pytest.mark.parametrize("question", [
    "How do I enable HTTP/2 in httpx?",
    "Explain in detail how templates work in the llm tool",
    "Which environment variables does httpx read for proxies?",
    "Pinia는 무엇이고 왜 쓰나요?",
    "행사는 어디서 열려?",
])
def test_questions_of_their_own(question):
    verdict = read_follow_up(question)
    assert not verdict.follows, verdict.reason


@pytest.mark.parametrize("previous, question, follows, why", [
    # a short question that names something the previous one did not: a new topic
    ("How do I set a read timeout?", "How do I use HTTP/2?", False,
     'it names something new ("HTTP/2") in a short question'),
    ("How do I configure a proxy?", "Is SOCKS supported?", False,
     'it names something new ("SOCKS") in a short question'),
    ("How do I pin versions?", "What does pip_check do?", False,
     'it names something new ("pip_check") in a short question'),
    # the name was in the previous question, or the short question names nothing: it follows
    ("How do I enable HTTP/2?", "Is HTTP/2 faster?", True,
     "it is short (2 words about its subject)"),
    ("How do I limit connections?", "What is the default maximum?", True,
     "it is short (2 words about its subject)"),
    # a cue that continues still decides first
    ("How do I set a read timeout?", "and for HTTP/2?", True, 'it starts with "and"'),
])
def test_a_short_question_that_names_something_new_is_a_question_of_its_own(
        previous, question, follows, why):
    verdict = read_follow_up(question, previous)
    assert (verdict.follows, verdict.reason) == (follows, why)


def test_the_search_says_a_new_name_started_a_new_topic():
    search = follow_up_search([turn("How do I set a read timeout?")], "How do I use HTTP/2?")
    assert search.query == "How do I use HTTP/2?"
    assert search.rewrite == ('this question alone, because it names something new '
                              '("HTTP/2") in a short question')


def turn(question: str, standalone: str | None = None, rewritten: bool = False,
         collection: str | None = "docs") -> PastTurn:
    return PastTurn(question, "an answer", standalone=standalone or question,
                    rewritten=rewritten, collection=collection)


def test_a_follow_up_goes_with_the_previous_question_as_typed_never_its_search():
    glued = "How do I install a plugin? and how do I remove it?"
    search = follow_up_search([turn("How do I install a plugin?"),
                               turn("and how do I remove it?", glued)],
                              "and how do I list them?", "docs")
    assert search.query == "and how do I remove it? and how do I list them?"
    assert search.rewrite == 'previous question + this one, because it starts with "and"'


def test_a_models_rewrite_of_the_previous_question_is_used_whole():
    search = follow_up_search([turn("and removing?", "How do I remove a plugin?", True)],
                              "and listing them?", "docs")
    assert search.query == "How do I remove a plugin? and listing them?"


@pytest.mark.parametrize("previous, collection, why", [
    ([], "docs", "this question alone: no earlier question to go with"),
    ([turn("thanks!")], "docs", "this question alone: the previous message was small talk"),
    ([turn("How do I set a timeout?", collection="other")], "docs",
     "this question alone: the previous question searched another collection (other)"),
])
def test_a_follow_up_with_nothing_to_go_with_is_searched_alone(previous, collection, why):
    search = follow_up_search(previous, "and how do I turn it off?", collection)
    assert (search.query, search.rewrite) == ("and how do I turn it off?", why)


def test_the_previous_question_is_cut_to_its_last_300_characters():
    long = "word " * 200 + "timeouts?"
    search = follow_up_search([turn(long)], "and how do I turn it off?", "docs")
    assert search.query.endswith("timeouts? and how do I turn it off?")
    assert len(search.query) <= 300 + len(" and how do I turn it off?")


class Collections:
    """A retriever over named fake collections, switched as /collection does."""

    def __init__(self, tmp_path) -> None:
        self.searchers: dict[str, FakeSearcher] = {}
        self.retriever = Retriever(None, "docs", opener=self._open)  # type: ignore[arg-type]
        self.queries: list[str] = []

    def _open(self, settings, name):
        from .fakes import make_hits

        searcher = self.searchers.setdefault(name, FakeSearcher(make_hits(f"/{name}")))
        searcher.queries = self.queries
        return searcher


def conversation(llm, tmp_path) -> tuple[ChatPipeline, Collections]:
    collections = Collections(tmp_path)
    pipeline = ChatPipeline(llm, retriever=collections.retriever,
                            checkpointer=open_checkpointer(None), session="s", backend="fake",
                            params=PipelineParams(llm_rewrite=False, llm_grade=False))
    return pipeline, collections


def test_a_conversation_never_searches_more_than_two_questions(llm, tmp_path):
    pipeline, collections = conversation(llm, tmp_path)
    asked = ["How do I install a plugin?", "and how do I remove it?",
             "and how do I see which ones are installed?",
             "Explain in detail how templates work in the llm tool"]
    for question in asked:
        pipeline.ask(question)
    assert collections.queries == [
        asked[0], f"{asked[0]} {asked[1]}", f"{asked[1]} {asked[2]}", asked[3]]
    assert "this question alone, because it reads as a question of its own" in \
        pipeline.last_result().rewrite


def test_a_collection_switch_and_a_reset_start_clean(llm, tmp_path):
    pipeline, collections = conversation(llm, tmp_path)
    pipeline.ask("How do I set a timeout?")
    collections.retriever.use("korean")
    result = pipeline.ask("그럼 기본값은 뭐예요?")  # reads as a follow-up, but elsewhere
    assert result.standalone_question == "그럼 기본값은 뭐예요?"
    assert "another collection (docs)" in result.rewrite
    result = pipeline.ask("그건 어디서 바꿔요?")  # in the same collection: it follows
    assert result.standalone_question == "그럼 기본값은 뭐예요? 그건 어디서 바꿔요?"
    pipeline.reset()
    result = pipeline.ask("and how do I turn it off?")
    assert result.standalone_question == "and how do I turn it off?"
    assert collections.queries[-1] == "and how do I turn it off?"


@pytest.mark.parametrize("question, bare", [
    ("그럼 행사는 어디서 열려?", "행사는 어디서 열려?"),
    ("hmm, and the async client?", "the async client?"),
    ("그럼요?", "그럼요?"),  # nothing left: kept as it is
    ("How do I set a timeout?", "How do I set a timeout?"),
])
def test_the_word_that_makes_a_question_continue_is_left_out_of_relevance(question, bare):
    assert without_lead(question) == bare


def test_after_a_collection_switch_the_model_is_not_asked_to_rewrite(llm, tmp_path):
    """With a model that rewrites, the earlier turns (about other documents) do not reach
    the search either: the question is searched as it is, without a rewrite call."""
    collections = Collections(tmp_path)
    pipeline = ChatPipeline(llm, retriever=collections.retriever,
                            checkpointer=open_checkpointer(None), session="s", backend="fake",
                            params=PipelineParams(llm_rewrite=True, llm_grade=False))
    pipeline.ask("How do I set a timeout?")
    pipeline.ask("and what is the default?")  # same collection: the model rewrites it
    rewrites = [c for c in llm.calls if c["task"] == "REWRITE"]
    assert len(rewrites) == 1 and pipeline.last_result().rewrite == "llm"
    collections.retriever.use("korean")
    result = pipeline.ask("그럼 기본값은 뭐예요?")
    assert [c for c in llm.calls if c["task"] == "REWRITE"] == rewrites
    assert result.standalone_question == "그럼 기본값은 뭐예요?"
    assert collections.queries[-1] == "그럼 기본값은 뭐예요?"
    assert "another collection (docs)" in result.rewrite
    pipeline.ask("그건 어디서 바꿔요?")  # in the same collection again: the model rewrites
    assert len([c for c in llm.calls if c["task"] == "REWRITE"]) == 2
