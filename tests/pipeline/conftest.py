from __future__ import annotations

import pytest

from .fakes import FakeSearcher, TaskFakeChatModel, make_hits

REPLIES = {
    "REWRITE": '{"question": "What does part 2 say?", "search": true}',
    "GRADE": "1, 3",
    "ANSWER": "Part one gives 7 [1] and part three 21 [3].",
    "GENERAL": "Generally speaking, it depends.",
    "CHAT": "Hello! Ask me about your documents.",
    "SUMMARY": "The user asked about the parts of the documents.",
}


@pytest.fixture
def llm() -> TaskFakeChatModel:
    return TaskFakeChatModel(replies=dict(REPLIES), calls=[])


@pytest.fixture
def searcher(tmp_path) -> FakeSearcher:
    return FakeSearcher(make_hits(str(tmp_path / "docs")))
