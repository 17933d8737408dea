"""The turn state: prompts render byte for byte as before, and sessions saved before load."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ragchat.pipeline.chat import ChatPipeline
from ragchat.pipeline.nodes import PipelineParams
from ragchat.pipeline.sessions import open_checkpointer

from .fakes import FakeSearcher, TaskFakeChatModel, make_hits
from .golden import (
    CONTEXT_BUDGET,
    MEMORY_BUDGET,
    Messages,
    conversation_text,
    history_text,
    replies,
    result_text,
)

DATA = Path(__file__).parent / "data"


def test_a_conversation_renders_every_prompt_as_before():
    """Every message of every call of 13 turns (passages new, seen again and dropped, a
    rewrite read and one unreadable, grades read and unreadable, general, chat, quote,
    English-only and demo settings, a fold into a summary), each turn's result and the final
    history, as the code before the typed turn state wrote them (captured at 81771a4)."""
    golden = (DATA / "conversation.golden.txt").read_text(encoding="utf-8")
    assert conversation_text() == golden


def saved_session(tmp_path: Path) -> Path:
    """The checkpoint database that the code before the typed turn state (81771a4) wrote for
    golden.write_session, restored from its SQL dump."""
    db = tmp_path / "sessions.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript((DATA / "session-before-typed-state.sql").read_text())
    return db


def test_a_session_saved_before_the_typed_state_resumes(tmp_path):
    expected = json.loads((DATA / "session-before-typed-state.json").read_text())
    llm = TaskFakeChatModel(replies=replies(), calls=[])
    searcher = FakeSearcher(make_hits("/docs", 3))
    pipeline = ChatPipeline(llm, retriever=searcher,
                            checkpointer=open_checkpointer(saved_session(tmp_path)),
                            session="notes", backend="fake",
                            params=PipelineParams(memory_token_budget=MEMORY_BUDGET,
                                                  context_token_budget=CONTEXT_BUDGET))
    try:
        assert history_text(pipeline, Messages()) == expected["history"]
        last = pipeline.last_result()
        assert last is not None and result_text(last) == expected["result"]
        summary, turns = pipeline.history()
        follow_up = pipeline.ask("and part one?")
        assert follow_up.answer and [c.n for c in follow_up.retrieved] == [1, 2, 3]
        from ragchat.pipeline import prompts

        sent = [m.content for m in llm.calls[0]["messages"][:-1]]
        assert sent == [content for _, content in prompts.conversation(summary, turns)]
    finally:
        pipeline.close()


FIRST_VERSION_STATE = {  # what the first sessions stored: no numbers, keys or raw answers
    "summary": "",
    "turns": [{"question": "What is part one?", "answer": "Seven [1]."},
              {"question": "And two?", "answer": None}],
    "question": "And two?", "standalone_question": "What does part two say?",
    "route": "retrieve", "rewrite_parsed": True, "grades_parsed": True, "grader_output": "1",
    "hits": [{"path": "/docs/doc2.md", "location": None, "heading": "Part 2",
              "text": "Passage 2 says the answer is 14.", "score": 0.5, "start_line": 21,
              "end_line": 29, "page": None, "n": 1, "kept": True}],
    "answer": "Fourteen.", "timings": {"retrieve": 0.1},
    "llm_calls": [{"node": "llm_answer", "prompt_tokens": 10, "cached_tokens": 0,
                   "new_tokens": 2, "ttft_s": 0.1, "decode_tps": 5.0}],
}


def test_a_session_of_the_first_version_loads_with_defaults_for_what_it_lacks(tmp_path):
    """The rule for older sessions: a key a session lacks reads as its field's default."""
    from ragchat.pipeline import prompts
    from ragchat.pipeline.graph import build_graph
    from ragchat.pipeline.nodes import Deps
    from ragchat.pipeline.state import PastTurn

    db = tmp_path / "sessions.sqlite"
    llm = TaskFakeChatModel(replies=replies(), calls=[])
    searcher = FakeSearcher(make_hits("/docs", 3))
    saver = open_checkpointer(db)
    graph = build_graph(Deps(llm=llm, search=searcher.search, count_tokens=len), saver)
    graph.update_state({"configurable": {"thread_id": "old"}}, FIRST_VERSION_STATE,
                       as_node="save_memory")
    pipeline = ChatPipeline(llm, retriever=searcher, checkpointer=saver, session="old",
                            backend="fake")
    try:
        summary, turns = pipeline.history()
        assert turns == [PastTurn("What is part one?", "Seven [1]."), PastTurn("And two?", "")]
        assert prompts.conversation(summary, turns)[1:] == [
            ("user", "What is part one?"), ("assistant", "Seven [1]."),
            ("user", "And two?"), ("assistant", "(no answer)")]
        last = pipeline.last_result()
        assert last is not None and last.answer == "Fourteen." and last.sources == ()
        [chunk] = last.retrieved
        assert (chunk.n, chunk.location, chunk.kept, chunk.seen) == (1, "", True, False)
        assert last.llm_calls[0].backend == "" and last.backend == "fake"
        result = pipeline.ask("and part three?")
        assert [c.n for c in result.retrieved] == [1, 2, 3]  # numbered afresh
        assert not any(c.seen for c in result.retrieved)
        sent = [m.content for m in llm.calls[0]["messages"][:-1]]
        assert sent == [content for _, content in prompts.conversation(summary, turns)]
    finally:
        pipeline.close()


def plain(value: object) -> bool:
    """Only what JSON has: dicts with string keys, lists, strings, numbers, booleans, None."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def test_the_checkpoint_holds_plain_data_that_needs_no_registered_class(tmp_path, llm):
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    db = tmp_path / "sessions.sqlite"
    searcher = FakeSearcher(make_hits("/docs", 3))
    pipeline = ChatPipeline(llm, retriever=searcher, checkpointer=open_checkpointer(db),
                            session="s", backend="fake")
    pipeline.ask("What do the parts say?")
    pipeline.ask("and the second?")
    pipeline.close()
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT type, checkpoint FROM checkpoints").fetchall()
    assert len(rows) > 10
    for row in rows:
        values = JsonPlusSerializer().loads_typed(row)["channel_values"]
        assert plain({k: v for k, v in values.items() if not k.startswith("__")}), values


def test_the_stored_forms_round_trip():
    from ragchat.pipeline.result import Chunk, LLMCall
    from ragchat.pipeline.state import PastTurn, TurnState, turn_input

    turn = PastTurn("q", "a [1]", raw="a [1] [9]", prompt="<passages>...", standalone="q?",
                    shown=("k1", "k2"))
    assert PastTurn.from_dict(turn.to_dict()) == turn
    dropped = turn.without_passages()
    assert dropped.to_dict() == {"question": "q", "answer": "a [1]", "raw": "a [1] [9]"}
    chunk = Chunk(3, "/d/a.md", "lines 1-2", "text", 0.5, heading="H", seen=True,
                  dense_similarity=0.4)
    assert Chunk.from_dict(chunk.to_dict()) == chunk
    assert chunk.to_dict()["key"] == chunk.key
    call = LLMCall("llm_answer", 10, 8, 2, 0.1, 20.0, backend="fake")
    assert LLMCall.from_dict(call.to_dict()) == call
    fresh = TurnState.from_values(turn_input("q"))
    assert (fresh.question, fresh.turns, fresh.hits, fresh.answer) == ("q", (), (), None)
