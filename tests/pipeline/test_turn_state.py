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
    _history,
    _replies,
    _result,
    conversation_text,
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
    llm = TaskFakeChatModel(replies=_replies(), calls=[])
    searcher = FakeSearcher(make_hits("/docs", 3))
    pipeline = ChatPipeline(llm, retriever=searcher,
                            checkpointer=open_checkpointer(saved_session(tmp_path)),
                            session="notes", backend="fake",
                            params=PipelineParams(memory_token_budget=MEMORY_BUDGET,
                                                  context_token_budget=CONTEXT_BUDGET))
    try:
        assert _history(pipeline, Messages()) == expected["history"]
        last = pipeline.last_result()
        assert last is not None and _result(last) == expected["result"]
        summary, turns = pipeline.history()
        follow_up = pipeline.ask("and part one?")
        assert follow_up.answer and [c.n for c in follow_up.retrieved] == [1, 2, 3]
        from ragchat.pipeline import prompts

        sent = [m.content for m in llm.calls[0]["messages"][:-1]]
        assert sent == [content for _, content in prompts.conversation(summary, turns)]
    finally:
        pipeline.close()
