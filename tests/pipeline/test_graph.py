"""Graph logic with a langchain-core fake chat model and a fake searcher."""

from __future__ import annotations

import threading

import pytest

from ragchat.errors import IndexMissingError
from ragchat.pipeline import prompts
from ragchat.pipeline.chat import Answered, ChatPipeline, Done, Stage, Token
from ragchat.pipeline.nodes import ENGLISH_ONLY, NOT_COVERED, PipelineParams
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


def test_unparseable_rewrite_searches_with_the_previous_question_too(llm, searcher):
    llm.replies["REWRITE"] = "Sure, I can help with that!"
    pipeline = make_pipeline(llm, searcher)
    pipeline.ask("How do I set a timeout?")
    result = pipeline.ask("and how do I turn it off?")
    assert result.route == "retrieve"
    assert searcher.queries[-1] == "How do I set a timeout? and how do I turn it off?"
    assert "unreadable" in result.rewrite
    third = pipeline.ask("what is raised then?")  # chains through the searched question
    assert third.standalone_question.endswith("and how do I turn it off? what is raised then?")


def test_without_llm_rewrites_a_follow_up_searches_with_the_previous_question(llm, searcher):
    pipeline = make_pipeline(llm, searcher, llm_rewrite=False)
    pipeline.ask("How do I set a timeout?")
    result = pipeline.ask("and how do I turn it off?")
    assert "REWRITE" not in tasks(llm)
    assert result.standalone_question == "How do I set a timeout? and how do I turn it off?"


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
    assert tasks(llm) == ["GRADE", "GENERAL"] and result.answer_kind == "general"


def test_no_hits_skips_the_grader(llm):
    result = make_pipeline(llm, FakeSearcher([])).ask("anything?")
    assert tasks(llm) == ["GENERAL"]
    assert result.answer.startswith(NOT_COVERED.strip())
    assert "General answer, not from your documents:" in result.answer


def test_without_general_answers_it_only_says_so(llm, searcher):
    llm.replies["GRADE"] = "NONE"
    result = make_pipeline(llm, searcher, general_answers=False).ask("the airspeed of a swallow?")
    assert result.answer == NOT_COVERED and result.sources == ()
    assert tasks(llm) == ["GRADE"] and result.answer_kind == "not_covered"


def test_an_unusable_general_answer_is_left_out(llm, searcher):
    llm.replies["GRADE"] = "NONE"
    llm.replies["GENERAL"] = "TASK: GENERAL"
    result = make_pipeline(llm, searcher).ask("the airspeed of a swallow?")
    assert result.answer == NOT_COVERED


TOPICS = ("The sky looks blue because air scatters short wavelengths.",
          "Requests time out after five seconds by default; pass timeout=None to disable it.",
          "Bread needs flour, water, salt and time.")


def topical(searcher, texts=TOPICS):
    """The searcher's hits with these texts (and no heading)."""
    from dataclasses import replace

    searcher.hits = [replace(hit, text=text, heading=None)
                     for hit, text in zip(searcher.hits, texts, strict=True)]
    return searcher


def test_unreadable_grades_fall_back_to_retrieval_scores_not_to_everything(llm, searcher):
    llm.replies["GRADE"] = "hmm"
    llm.replies["ANSWER"] = "Five seconds."
    result = make_pipeline(llm, topical(searcher)).ask("What is the default timeout?")
    assert result.grades_parsed is False and result.grading.startswith("scores")
    assert [c.n for c in result.retrieved if c.kept] == [2]  # the only one with the words
    assert result.sources_kind == "given" and [s.n for s in result.sources] == [2]


def test_after_unreadable_grades_the_answer_still_shares_the_graders_prompt(llm, searcher):
    """The grader's prefill is in the KV cache: the answer call sends the same candidates
    (told to use only the ones the scores kept), and the next turn refers to all of them by
    number instead of showing them again."""
    llm.replies["GRADE"] = "hmm"
    pipeline = make_pipeline(llm, topical(searcher))
    pipeline.ask("What is the default timeout?")
    grade, answer = (call["messages"][-1].content for call in llm.calls[-2:])
    assert answer[:answer.index("TASK:")] == grade[:grade.index("TASK:")]
    assert "TASK: ANSWER (use passages 2;" in answer
    pipeline.ask("And what is in bread?")
    regrade = next(c for c in reversed(llm.calls) if c["task"] == "GRADE")
    message = regrade["messages"][-1].content
    assert "<passages>" not in message and "match again: [1], [2], [3]" in message


def test_scores_instead_of_a_grading_call(llm, searcher):
    llm.replies["ANSWER"] = "Flour, water, salt [3]."
    result = make_pipeline(llm, topical(searcher), llm_grade=False).ask("What is in bread?")
    assert tasks(llm) == ["ANSWER"]
    assert [c.n for c in result.retrieved if c.kept] == [3]
    answer = llm.calls[-1]["messages"][-1].content  # only the relevant passage is offered
    assert TOPICS[2] in answer and TOPICS[0] not in answer
    assert result.sources_kind == "cited" and [s.n for s in result.sources] == [3]


def test_instructions_for_calls_a_pipeline_never_makes_are_left_out(llm, searcher):
    pipeline = make_pipeline(llm, searcher, llm_grade=False, llm_rewrite=False)
    pipeline.ask("What does part one say?")
    pipeline.ask("And part three?")
    systems = {call["messages"][0].content for call in llm.calls}
    assert len(systems) == 1  # the same system message for every call: the cache holds it
    [system] = systems
    assert "\nANSWER: " in system and "\nGRADE: " not in system and "\nREWRITE: " not in system
    assert PipelineParams().system_tasks == prompts.ALL_TASKS


def test_scores_find_nothing_for_an_off_topic_question(llm, searcher):
    result = make_pipeline(llm, topical(searcher), llm_grade=False).ask(
        "Who wrote Hamlet?")
    assert result.answer.startswith(NOT_COVERED) and result.sources == ()


def test_invented_citations_are_removed(llm, searcher):
    llm.replies["ANSWER"] = "It is 7 [1], or 14 [2], or [9]."
    result = make_pipeline(llm, searcher).ask("question")
    assert cited_numbers(result.answer) == [1, 2]


def test_sources_are_the_passages_the_answer_cites(llm, searcher):
    """[2] was dropped by the grader but was in the prompt and the answer used it."""
    llm.replies["ANSWER"] = "It is 14 [2]."
    result = make_pipeline(llm, searcher).ask("question")
    assert result.told == (1, 3) and result.cited == (2,)
    assert result.sources_kind == "cited" and [s.n for s in result.sources] == [2]
    trail = result.to_json()["trail"]
    assert trail["told"] == [1, 3] and trail["cited"] == [2]
    assert [r["relevant"] for r in trail["retrieved"]] == [True, False, True]


def test_an_answer_without_citations_lists_what_it_was_given(llm, searcher):
    llm.replies["ANSWER"] = "Part one gives seven and part three twenty-one."
    result = make_pipeline(llm, searcher).ask("question")
    assert result.sources_kind == "given" and [s.n for s in result.sources] == [1, 3]


@pytest.mark.parametrize("echo", [
    "TASK: ANSWER (use passages 1, 3; cite them like [1])",  # a stop string of the engine
    "Passages shown earlier that match again: [2]",  # the cleaner stops it
])
def test_echoed_scaffolding_is_cut_and_the_generation_stopped(llm, searcher, echo):
    llm.replies["ANSWER"] = (f"Part one gives 7 [1].\n{echo} and then a lot more words that "
                             "nobody should see, many many more of them")
    result = make_pipeline(llm, searcher).ask("question")
    assert result.answer == "Part one gives 7 [1]."
    answer_call = next(c for c in result.llm_calls if c.node == "llm_answer")
    assert answer_call.new_tokens < 14  # stopped, not generated to the end


def test_a_copied_passage_header_is_dropped(llm, searcher):
    llm.replies["ANSWER"] = "[1] doc1.md, lines 11-19 (Part 1)\nPassage 1 says the answer is 7."
    result = make_pipeline(llm, searcher).ask("question")
    assert result.answer == "Passage 1 says the answer is 7."


def test_an_answer_that_repeats_itself_is_stopped_and_says_so(llm, searcher):
    sentence = "The passages say that the answer depends on the part. "
    llm.replies["ANSWER"] = sentence * 8
    result = make_pipeline(llm, searcher).ask("question")
    assert result.answer.count("depends on the part") == 1
    assert result.answer.endswith("[stopped: the model began repeating itself]")


def test_an_answer_cut_at_its_token_limit_says_so(llm, searcher):
    llm.replies["ANSWER"] = "one two three four five six seven eight nine ten eleven twelve"
    result = make_pipeline(llm, searcher, max_new_tokens=5).ask("question")
    assert result.answer.endswith("[cut: the answer reached its length limit of 5 tokens "
                                  "(max_new_tokens)]")


def test_no_usable_answer_quotes_the_best_passage(llm, searcher):
    llm.replies["ANSWER"] = "The answer is:\n<passages>\n[1] doc1.md, lines 11-19"
    result = make_pipeline(llm, searcher).ask("What does part one say?")
    assert result.answer.startswith("The model gave no usable answer.")
    assert "> Passage 1 says the answer is 7." in result.answer
    assert result.cited == (1,) and [s.n for s in result.sources] == [1]
    assert result.answer_kind == "quote"


def test_an_answer_that_restates_the_question_is_followed_by_a_quote(llm, searcher):
    """With the demo model's defaults: the answer is kept, and the best lines follow it."""
    llm.replies["ANSWER"] = "You can use the parts to say what part one says [1]."
    result = make_pipeline(llm, searcher, quote_thin_answers=True).ask(
        "What does part one say?")
    assert result.answer.startswith(llm.replies["ANSWER"] + "\n\nThe most relevant lines of [1] ")
    assert result.answer_kind == "generated+quote"
    assert "> Passage 1 says the answer is 7." in result.answer
    plain = make_pipeline(llm, searcher).ask("What does part one say?")
    assert plain.answer == llm.replies["ANSWER"]  # any other model: left as it is


def test_the_quote_after_a_streamed_answer_is_one_blank_line_below_it(llm, searcher):
    llm.replies["ANSWER"] = "You can use the parts to say what part one says [1].\n"
    handle = make_pipeline(llm, searcher, quote_thin_answers=True).start_turn(
        "What does part one say?")
    streamed = "".join(e.text for e in handle.events() if isinstance(e, Token))
    assert "says [1].\n\nThe most relevant lines of [1]" in streamed


def test_an_answer_with_something_new_is_not_followed_by_a_quote(llm, searcher):
    llm.replies["ANSWER"] = "It says the answer is 7 [1]."
    result = make_pipeline(llm, searcher, quote_thin_answers=True).ask(
        "What does part one say?")
    assert result.answer == llm.replies["ANSWER"]


MINUTES = ("올해 행사 예산은 총 1,200만 원으로 확정되었다. 이 중 대관료가 400만 원이다.",
           "행사는 10월 12일 토요일에 서울 중구 시민회관에서 열린다.",
           "홍보는 김민지 팀장이 맡는다.")


def test_an_english_only_model_quotes_korean_questions_instead_of_writing(llm, searcher):
    """The demo model writes gibberish Korean: no answer call, the best lines instead."""
    pipeline = make_pipeline(llm, topical(searcher, MINUTES), writes_cjk=False, llm_grade=False)
    result = pipeline.ask("행사는 어디서 열려?")
    assert "ANSWER" not in tasks(llm) and "GENERAL" not in tasks(llm)
    assert result.answer.startswith(ENGLISH_ONLY + " The most relevant lines of [2] doc2.md:")
    assert "> 행사는 10월 12일 토요일에 서울 중구 시민회관에서 열린다." in result.answer
    assert result.answer_kind == "quote"
    assert [s.n for s in result.sources] == [2]


def test_an_english_only_model_answers_english_questions(llm, searcher):
    result = make_pipeline(llm, searcher, writes_cjk=False).ask("What does part one say?")
    assert tasks(llm) == ["GRADE", "ANSWER"] and result.answer == llm.replies["ANSWER"]
    assert result.answer_kind == "generated"


def test_an_english_only_model_answers_korean_small_talk_with_a_notice(llm, searcher):
    result = make_pipeline(llm, searcher, writes_cjk=False).ask("안녕")
    assert result.route == "direct" and tasks(llm) == []
    assert result.answer == ENGLISH_ONLY and result.answer_kind == "notice"


def test_an_english_only_model_gives_no_general_answer_in_korean(llm, searcher):
    result = make_pipeline(llm, topical(searcher, MINUTES), writes_cjk=False, llm_grade=False).ask(
        "김치찌개는 어떻게 끓여?")
    assert result.answer == NOT_COVERED and tasks(llm) == []
    assert result.answer_kind == "not_covered"


def test_a_model_that_writes_korean_answers_korean_questions(llm, searcher):
    llm.replies["GRADE"] = "2"
    result = make_pipeline(llm, topical(searcher, MINUTES)).ask("행사는 어디서 열려?")
    assert tasks(llm) == ["GRADE", "ANSWER"] and result.answer == llm.replies["ANSWER"]


def test_a_follow_up_answered_with_the_last_answer_quotes_the_best_passage(llm, searcher):
    llm.replies["ANSWER"] = "Passage 2 explains how the parts fit together in the end [2]."
    pipeline = make_pipeline(llm, searcher)
    first = pipeline.ask("How do the parts fit together?")
    assert first.answer == llm.replies["ANSWER"]
    second = pipeline.ask("And what does part one say?")  # the same reply, word for word
    assert second.answer.startswith("The model gave no usable answer.")
    assert "explains how the parts fit" not in second.answer
    assert "> Passage 1 says the answer is 7." in second.answer


def test_the_history_keeps_what_the_model_generated_up_to_where_it_was_stopped(llm, searcher):
    llm.replies["ANSWER"] = ("Answer: It is 7 [1] and [9].\n[3] doc3.md, lines 31-39\n"
                             "Passages shown earlier that match again: [2] and so on")
    pipeline = make_pipeline(llm, searcher)
    result = pipeline.ask("question")
    assert result.answer == "It is 7 [1] and ."  # the copied header dropped, the echo cut
    _, turns = pipeline.history()
    # as generated, up to where the echo began
    assert turns[0].raw == "Answer: It is 7 [1] and [9].\n[3] doc3.md, lines 31-39\n"
    assert prompts.conversation("", turns)[-1] == ("assistant", turns[0].raw)


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
    assert turns[0].prompt is None and not turns[0].shown
    assert turns[1].prompt is not None
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
    assert [t.question for t in pipeline.history()[1]] == ["first question"]
    llm.block = None
    result = pipeline.ask("third question")
    assert result.question == "third question"
    assert [t.question for t in pipeline.history()[1]] == ["first question", "third question"]


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
    assert [t.question for t in again.history()[1]] == ["first question"]
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
    assert set(data) == {"answer", "answer_kind", "sources", "sources_kind", "timings",
                         "llm_calls", "backend", "route", "standalone_question", "trail"}
    assert set(data["trail"]) == {"rewrite", "grading", "retrieved", "told", "cited"}
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


def test_the_demo_models_answer_ends_after_its_first_paragraph(llm, searcher):
    llm.replies["ANSWER"] = "Part one gives 7 [1].\n\nAnd then a lot of drift that goes on."
    result = make_pipeline(llm, searcher, max_paragraphs=1).ask("question")
    assert result.answer == "Part one gives 7 [1]."
    assert "[cut" not in result.answer and "[stopped" not in result.answer


def test_demo_parameters_come_from_the_settings(monkeypatch):
    from ragchat.config import load_settings
    from ragchat.models.capabilities import DEFAULT, DEMO
    from ragchat.pipeline.factory import params_from_settings

    demo = params_from_settings(load_settings(), capabilities=DEMO)
    assert (demo.llm_grade, demo.llm_rewrite, demo.max_new_tokens, demo.max_paragraphs,
            demo.quote_thin_answers, demo.writes_cjk) == (False, False, 192, 1, True, False)
    real = params_from_settings(load_settings(), capabilities=DEFAULT)
    assert (real.llm_grade, real.llm_rewrite, real.max_new_tokens, real.max_paragraphs,
            real.quote_thin_answers, real.writes_cjk) == (True, True, 512, 0, False, True)
    monkeypatch.setenv("RAGCHAT_RELEVANCE_CHECK", "llm")
    monkeypatch.setenv("RAGCHAT_MAX_NEW_TOKENS", "300")
    chosen = params_from_settings(load_settings(), capabilities=DEMO)
    assert chosen.llm_grade is True and chosen.max_new_tokens == 300  # set: taken as is


def test_an_unknown_mode_is_a_clear_config_error(monkeypatch):
    from ragchat.config import load_settings
    from ragchat.errors import ConfigError
    from ragchat.pipeline.factory import params_from_settings

    monkeypatch.setenv("RAGCHAT_FOLLOW_UP_REWRITE", "maybe")
    with pytest.raises(ConfigError) as info:
        params_from_settings(load_settings())
    assert info.value.message == ("environment RAGCHAT_FOLLOW_UP_REWRITE: follow_up_rewrite = "
                                  "'maybe' is not one of the choices (allowed: auto, llm or "
                                  "previous)")
    assert "RAGCHAT_FOLLOW_UP_REWRITE" in info.value.hint


def test_the_quote_of_a_follow_up_comes_from_the_passage_it_asks_about(llm, searcher):
    llm.replies["ANSWER"] = "[2, 3"  # nothing usable
    pipeline = make_pipeline(llm, topical(searcher), llm_grade=False, llm_rewrite=False)
    pipeline.ask("What do requests do after five seconds?")
    result = pipeline.ask("and what is in bread?")
    assert result.standalone_question.endswith("and what is in bread?")
    assert "Bread needs flour" in result.answer and result.cited == (3,)
