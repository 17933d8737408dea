"""CLI tests of ask and repl: a fake chat model and searcher through the factory's seams."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pipeline.conftest import REPLIES
from pipeline.fakes import FakeSearcher, TaskFakeChatModel, make_hits


@dataclass(frozen=True)
class FakeChoice:
    name: str = "llamacpp"
    reason: str = "test double"
    source: str = "flag"


@pytest.fixture
def fake_llm() -> TaskFakeChatModel:
    return TaskFakeChatModel(replies=dict(REPLIES), calls=[])


@pytest.fixture
def fake_searcher(tmp_path) -> FakeSearcher:
    return FakeSearcher(make_hits(str(tmp_path / "docs")))


@pytest.fixture
def fakes(monkeypatch, fake_llm, fake_searcher):
    """Every pipeline the CLI opens gets the fake model and searcher."""
    import ragchat.pipeline.factory as factory
    import ragchat.pipeline.retriever as retriever

    monkeypatch.setattr(factory, "load_chat_model", lambda settings: (fake_llm, FakeChoice()))
    monkeypatch.setattr(retriever, "_open_searcher", lambda settings, name: fake_searcher)
    # the fake carries no capabilities: it stands for a capable model (it rewrites and grades)
    return fake_llm, fake_searcher
