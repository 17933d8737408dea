"""Resuming `--session S` says how many turns the session holds (ask, piped repl, the chat's
banner)."""

from __future__ import annotations

import io
import sys

import pytest

from ragchat.cli.main import main
from tests.helpers import cli


def run_repl(capsys, monkeypatch, text: str, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    with pytest.raises(SystemExit) as exit_info:
        main(["repl", *args])
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_ask_with_a_session_says_how_many_turns_it_holds(capsys, fakes):
    code, _, err = cli(capsys, "ask", "first question", "--session", "ops")
    assert code == 0 and "continuing session" not in err  # new: nothing to say
    code, _, err = cli(capsys, "ask", "and the second?", "--session", "ops")
    assert code == 0 and "ragchat: continuing session ops: 1 earlier turn\n" in err
    code, _, err = cli(capsys, "ask", "and the third?", "--session", "ops", "--json")
    assert "continuing session ops: 2 earlier turns" in err
    code, _, err = cli(capsys, "ask", "a question")
    assert "continuing session" not in err  # no --session: a fresh conversation


def test_piped_repl_with_a_session_says_how_many_turns_it_holds(capsys, monkeypatch, fakes):
    run_repl(capsys, monkeypatch, "first question\nsecond question\n", "--session", "later")
    code, _, err = run_repl(capsys, monkeypatch, "third question\n", "--session", "later")
    assert code == 0 and "continuing session later: 2 earlier turns" in err


def test_the_banner_names_the_sessions_turns(tmp_path, fake_llm, fake_searcher):
    from ragchat.cli.repl.app import banner
    from ragchat.config import load_settings
    from ragchat.pipeline.chat import ChatPipeline
    from ragchat.pipeline.retriever import Retriever
    from ragchat.pipeline.sessions import open_checkpointer

    settings = load_settings({})
    pipeline = ChatPipeline(fake_llm, backend="fake", session="thesis",
                            retriever=Retriever(settings, opener=lambda s, n: fake_searcher),
                            checkpointer=open_checkpointer(tmp_path / "sessions.sqlite"))
    try:
        assert "session thesis (new) · collection" in banner(pipeline, settings)
        pipeline.ask("first question")
        pipeline.ask("second question")
        assert "session thesis (2 earlier turns) · collection" in banner(pipeline, settings)
    finally:
        pipeline.close()
