"""Graph logic with a langchain-core fake chat model and a fake searcher."""

from __future__ import annotations

import threading

import pytest

from ragchat.errors import IndexMissingError
from ragchat.pipeline import prompts
from ragchat.pipeline.chat import Answered, ChatPipeline, Done, Stage, Token
from ragchat.pipeline.nodes import NOT_COVERED, PipelineParams
from ragchat.pipeline.parsing import cited_numbers
from ragchat.pipeline.result import TurnCancelled
from ragchat.pipeline.sessions import open_checkpointer

from .fakes import FakeSearcher


def make_pipeline(llm, searcher, saver=None, session="s", **params) -> ChatPipeline:
    return ChatPipeline(llm, retriever=searcher, checkpointer=saver or open_checkpointer(None),
                        session=session, params=PipelineParams(**params), backend="fake")


def tasks(llm) -> list[str]:
    return [call["task"] for call in llm.calls]


def test_first_turn_skips_contextualize_and_cites_kept_chunks(llm, searcher):
    result = make_pipeline(llm, searcher).ask("What do the parts say?")
    assert tasks(llm) == ["GRADE", "ANSWER"]
    assert searcher.queries == ["What do the parts say?"]
    assert result.route == "retrieve"
    assert result.standalone_question == "What do the parts say?"
    assert [s.n for s in result.sources] == [1, 3]
    assert [c.kept for c in result.retrieved] == [True, False, True]
    assert set(cited_numbers(result.answer)) <= {s.n for s in result.sources}
    assert list(result.timings) == ["contextualize", "retrieve", "relevance_check",
                                    "llm_answer", "save_memory"]
    assert [c.node for c in result.llm_calls] == ["relevance_check", "llm_answer"]


def test_follow_up_is_rewritten_and_the_standalone_question_is_searched(llm, searcher):
    pipeline = make_pipeline(llm, searcher)
    pipeline.ask("What do the parts say?")
    result = pipeline.ask("and the second?")
    assert tasks(llm)[2:] == ["REWRITE", "GRADE", "ANSWER"]
    assert searcher.queries[-1] == "What does part 2 say?"
    assert result.standalone_question == "What does part 2 say?"
    assert result.question == "and the second?"


def test_unparseable_rewrite_retrieves_with_the_raw_question(llm, searcher):
    llm.replies["REWRITE"] = "Sure, I can help with that!"
    pipeline = make_pipeline(llm, searcher)
    pipeline.ask("first question")
    result = pipeline.ask("second question")
    assert result.route == "retrieve"
    assert searcher.queries[-1] == "second question"


def test_route_direct_skips_retrieval(llm, searcher):
    llm.replies["REWRITE"] = '{"question": "What did I ask before?", "search": false}'
    pipeline = make_pipeline(llm, searcher)
    pipeline.ask("first question")
    result = pipeline.ask("what did I just ask?")
    assert result.route == "direct"
    assert tasks(llm)[-2:] == ["REWRITE", "CHAT"]
    assert "retrieve" not in result.timings and "relevance_check" not in result.timings
    assert result.sources == () and result.retrieved == ()
    assert len(searcher.queries) == 1


def test_small_talk_without_history_goes_direct(llm, searcher):
    result = make_pipeline(llm, searcher).ask("hello!")
    assert result.route == "direct" and tasks(llm) == ["CHAT"]
    assert searcher.queries == []


def test_no_relevant_chunk_says_so_and_never_cites(llm, searcher):
    llm.replies["GRADE"] = "NONE"
    llm.replies["GENERAL"] = "In general [1] it is 42 [2]."
    result = make_pipeline(llm, searcher).ask("What is the airspeed of a swallow?")
    assert result.answer.startswith(NOT_COVERED.strip())
    assert result.sources == ()
    assert cited_numbers(result.answer) == []
    assert tasks(llm) == ["GRADE", "GENERAL"]


def test_no_hits_skips_the_grader(llm):
    result = make_pipeline(llm, FakeSearcher([])).ask("anything?")
    assert tasks(llm) == ["GENERAL"]
    assert result.answer.startswith(NOT_COVERED.strip())


def test_unreadable_grades_keep_every_chunk(llm, searcher):
    llm.replies["GRADE"] = "hmm"
    result = make_pipeline(llm, searcher).ask("question")
    assert [s.n for s in result.sources] == [1, 2, 3]
    assert result.grades_parsed is False


def test_invented_citations_are_removed(llm, searcher):
    llm.replies["ANSWER"] = "It is 7 [1], or 14 [2], or [9]."
    result = make_pipeline(llm, searcher).ask("question")
    assert cited_numbers(result.answer) == [1]


def test_every_call_of_a_turn_shares_the_conversation_prefix(llm, searcher):
    pipeline = make_pipeline(llm, searcher)
    pipeline.ask("first question")
    pipeline.ask("second question")
    summary, turns = pipeline.history()
    prefix = prompts.conversation(summary, turns[:1])
    for call in llm.calls[2:]:
        roles = {"human": "user", "ai": "assistant", "system": "system"}
        rendered = [(roles[m.type], m.content) for m in call["messages"][:-1]]
        assert rendered == prefix


def test_third_turn_is_mostly_served_from_the_prefix_cache(llm, searcher):
    pipeline = make_pipeline(llm, searcher)
    results = [pipeline.ask(q) for q in ("first question", "second one", "third one")]
    assert all(c.cached_tokens > 0 for c in results[2].llm_calls)
    assert results[2].cache_ratio() >= 0.9
    # the turn before is in the cache as its answer call left it: only the task is new
    contextualize = results[2].llm_calls[0]
    assert contextualize.prompt_tokens - contextualize.cached_tokens < 20


def test_passages_keep_their_number_and_are_shown_once(llm, tmp_path):
    from .fakes import make_hits

    hits = make_hits(str(tmp_path), 4)
    searcher = FakeSearcher(hits[:3])
    pipeline = make_pipeline(llm, searcher)
    pipeline.ask("first question")
    searcher.hits = [hits[3], hits[1]]
    second = pipeline.ask("second question")
    assert [(c.n, c.path) for c in second.retrieved] == [(4, hits[3].path), (2, hits[1].path)]
    grade = next(c for c in reversed(llm.calls) if c["task"] == "GRADE")
    message = grade["messages"][-1].content
    assert hits[3].text in message and hits[1].text not in message
    assert "match again: [2]" in message
    assert "candidates: 4, 2" in message


def test_old_passages_leave_the_prompt_past_the_context_budget(llm, searcher):
    pipeline = make_pipeline(llm, searcher, context_token_budget=60)
    pipeline.ask("first question")
    pipeline.ask("second question")
    _, turns = pipeline.history()
    assert "prompt" not in turns[0] and not turns[0].get("shown")
    assert "prompt" in turns[1]
    third = pipeline.ask("third question")
    assert [c.n for c in third.retrieved] == [1, 2, 3]  # numbers stay
    grade = next(c for c in reversed(llm.calls) if c["task"] == "GRADE")
    assert searcher.hits[0].text in grade["messages"][-1].content  # shown again


def test_history_over_budget_folds_into_a_summary(llm, searcher):
    pipeline = make_pipeline(llm, searcher, memory_token_budget=20)
    first = pipeline.ask("first question about the parts")
    assert "save_memory" not in [c.node for c in first.llm_calls]
    second = pipeline.ask("second question about the parts")
    assert [c.node for c in second.llm_calls][-1] == "save_memory"
    summary, turns = pipeline.history()
    assert summary == llm.replies["SUMMARY"]
    assert len(turns) < 2
    pipeline.ask("third question")
    system = llm.calls[-2]["messages"][0].content
    assert system.endswith(summary)


def test_empty_summary_falls_back_to_the_questions(llm, searcher):
    llm.replies["SUMMARY"] = ""
    pipeline = make_pipeline(llm, searcher, memory_token_budget=10)
    pipeline.ask("first question")
    summary, _ = pipeline.history()
    assert "first question" in summary


def test_events_stream_tokens_then_the_answer_before_memory_is_done(llm, searcher):
    pipeline = make_pipeline(llm, searcher, memory_token_budget=10)
    handle = pipeline.start_turn("question")
    events = list(handle.events())
    kinds = [type(e) for e in events]
    assert kinds.index(Token) < kinds.index(Answered) < kinds.index(Done)
    assert [e.node for e in events if isinstance(e, Stage)][0] == "contextualize"
    answered = next(e for e in events if isinstance(e, Answered)).result
    assert answered.memory_done is False and "save_memory" not in answered.timings
    streamed = "".join(e.text for e in events if isinstance(e, Token))
    assert streamed == answered.answer
    assert events[-1].result.memory_done and "save_memory" in events[-1].result.timings


def test_next_turn_sees_memory_that_ran_after_the_answer(llm, searcher):
    pipeline = make_pipeline(llm, searcher, memory_token_budget=10)
    handle = pipeline.start_turn("question one")
    for event in handle.events():
        if isinstance(event, Answered):
            break  # the REPL shows the answer here; save_memory goes on in the background
    pipeline.ask("question two")
    rewrite = next(c for c in llm.calls if c["task"] == "REWRITE")
    assert rewrite["messages"][0].content.endswith(llm.replies["SUMMARY"])


def test_cancel_mid_answer_leaves_the_session_as_it_was(llm, searcher):
    pipeline = make_pipeline(llm, searcher)
    pipeline.ask("first question")
    llm.started, llm.block = threading.Event(), threading.Event()
    handle = pipeline.start_turn("second question")
    assert llm.started.wait(10)
    handle.cancel()
    llm.block.set()
    with pytest.raises(TurnCancelled):
        handle.wait()
    assert [t["question"] for t in pipeline.history()[1]] == ["first question"]
    llm.block = None
    result = pipeline.ask("third question")
    assert result.question == "third question"
    assert [t["question"] for t in pipeline.history()[1]] == ["first question", "third question"]


def test_keyboard_interrupt_in_ask_cancels_the_turn(llm, searcher):
    pipeline = make_pipeline(llm, searcher)
    llm.block = threading.Event()  # never set: only the cancellation ends the wait

    def interrupt(_text: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(TurnCancelled):
        pipeline.ask("question", on_token=interrupt)
    assert pipeline.history()[1] == []


def test_errors_reach_the_caller(llm):
    class Missing:
        def search(self, query, k):
            raise IndexMissingError("no index", hint="ragchat ingest PATH")

    with pytest.raises(IndexMissingError):
        make_pipeline(llm, Missing()).ask("question")


def test_session_resumes_after_restart_from_sqlite(llm, searcher, tmp_path):
    db = tmp_path / "sessions.sqlite"
    first = make_pipeline(llm, searcher, open_checkpointer(db), session="notes")
    first.ask("first question")
    first.close()

    again = make_pipeline(llm, searcher, open_checkpointer(db), session="notes")
    assert [t["question"] for t in again.history()[1]] == ["first question"]
    assert again.last_result().question == "first question"  # /why, /stats after a restart
    again.ask("follow-up")
    assert tasks(llm)[-3] == "REWRITE"  # the history came back, so contextualize ran
    again.switch("other")
    assert again.history() == ("", [])
    again.ask("hello there, what is new?")
    names = {s.name: s.turns for s in again.sessions()}
    assert names == {"notes": 2, "other": 1}
    again.reset()
    assert again.history() == ("", [])
    assert [s.name for s in again.sessions()] == ["notes"]
    again.close()


def test_json_has_exactly_the_documented_keys(llm, searcher):
    data = make_pipeline(llm, searcher).ask("question").to_json()
    assert set(data) == {"answer", "sources", "timings", "llm_calls", "backend", "route",
                         "standalone_question"}
    assert set(data["sources"][0]) == {"n", "path", "location", "text"}
    assert set(data["llm_calls"][0]) == {"node", "prompt_tokens", "cached_tokens", "new_tokens",
                                         "ttft_s", "decode_tps"}
    assert data["backend"] == "fake"


def test_k_limits_the_search(llm, searcher):
    result = make_pipeline(llm, searcher).start_turn("question", k=2).wait()
    assert len(result.retrieved) == 2


def test_a_cancelled_turn_leaves_no_gap_in_the_numbering(llm, searcher):
    pipeline = make_pipeline(llm, searcher)
    llm.block = threading.Event()
    llm.started = threading.Event()
    handle = pipeline.start_turn("first question")
    assert llm.started.wait(10)
    handle.cancel()
    with pytest.raises(TurnCancelled):
        handle.wait()
    llm.block = None
    searcher.hits = searcher.hits[::-1]
    result = pipeline.ask("first question again")
    assert [c.n for c in result.retrieved] == [1, 2, 3]
