"""The interactive chat, headless: prompt_toolkit pipe input and DummyOutput."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from ragchat.cli.repl.app import CANCELLED, Repl
from ragchat.cli.repl.commands import viewer_command
from ragchat.cli.repl.prompt import make_prompt_session
from ragchat.config import load_settings
from ragchat.pipeline.chat import ChatPipeline
from ragchat.pipeline.retriever import Retriever
from ragchat.pipeline.sessions import open_checkpointer


@pytest.fixture
def chat(tmp_path, fake_llm, fake_searcher):
    """Run keystrokes through a real PromptSession; returns (exit code, transcript)."""
    settings = load_settings({})
    retriever = Retriever(settings, "default", opener=lambda s, name: fake_searcher)
    pipeline = ChatPipeline(fake_llm, retriever=retriever, backend="fake", session="s1",
                            checkpointer=open_checkpointer(tmp_path / "sessions.sqlite"))
    history = tmp_path / "history"

    def run(keys: str) -> tuple[int, str]:
        out = io.StringIO()
        console = Console(file=out, force_terminal=False, width=120)
        with create_pipe_input() as pipe:
            pipe.send_text(keys)
            session = make_prompt_session(history, input=pipe, output=DummyOutput())
            code = Repl(pipeline, settings, console).run_interactive(session)
        return code, out.getvalue()

    run.pipeline = pipeline
    run.history = history
    yield run
    pipeline.close()


def test_question_answer_sources_and_commands(chat, fake_llm, fake_searcher):
    code, text = chat("What do the parts say?\r/sources\r/why\r/stats\r/exit\r")
    assert code == 0
    assert fake_llm.replies["ANSWER"] in text
    assert f"[1] {fake_searcher.hits[0].path}:{fake_searcher.hits[0].location}" in text
    assert "Passage 3 says" in text  # /sources shows the text
    assert "dropped" in text and "relevant" in text  # /why shows the verdicts
    assert "told to use: [1], [3]" in text and "cited:" in text
    assert "answer:      generated (the model's answer)" in text
    assert "relevance_check" in text and "cache:" in text  # /stats
    assert "What do the parts say?" in chat.history.read_text()  # persistent history


def test_ctrl_d_ends_with_exit_code_0(chat):
    assert chat("\x04")[0] == 0


def test_ctrl_c_at_the_prompt_clears_the_line(chat, fake_searcher):
    code, _ = chat("half a thought\x03What do the parts say?\r\x04")
    assert code == 0
    assert fake_searcher.queries == ["What do the parts say?"]


def test_alt_enter_adds_a_line(chat, fake_searcher):
    chat("first line\x1b\rsecond line\r\x04")
    assert fake_searcher.queries == ["first line\nsecond line"]


def test_sessions_reset_and_switch(chat):
    _, text = chat("first question\r/session other\r/session\r/sessions\r/session s1\r"
                   "/reset\r/session\r\x04")
    assert "Session other (new)." in text
    assert "  s1  (1 turns)" in text  # listed, not current ("other" has no turn yet)
    assert "Session s1 cleared" in text
    assert chat.pipeline.history() == ("", [])


def test_unknown_command_and_bad_arguments_do_not_end_the_chat(chat):
    code, text = chat("/nope\r/open 1\r/open\rfirst question\r/open 7\r/ingest\r\x04")
    assert code == 0
    assert "unknown command /nope" in text and "/help lists" in text
    assert "no answer yet" in text
    assert "no source 7" in text and "sources are: 1, 3" in text
    assert "/ingest needs a path" in text


def test_open_runs_the_pager_at_the_line(chat, tmp_path, monkeypatch, fake_searcher):
    log = tmp_path / "pager.log"
    pager = tmp_path / "bin" / "less"
    pager.parent.mkdir()
    pager.write_text(f"#!/bin/sh\necho \"$@\" > {log}\n")
    pager.chmod(0o755)
    for hit in fake_searcher.hits:
        os.makedirs(os.path.dirname(hit.path), exist_ok=True)
        open(hit.path, "w").write("x\n" * 40)
    monkeypatch.setenv("PAGER", str(pager))
    chat("first question\r/open 3\r\x04")
    assert log.read_text().split() == ["+31", fake_searcher.hits[2].path]


def test_viewer_command_choices():
    assert viewer_command("/f", 12, {"PAGER": "less -R"}) == ["less", "-R", "+12", "/f"]
    assert viewer_command("/f", 12, {"EDITOR": "code --wait"}) == ["code", "--wait", "/f"]
    assert viewer_command("/f", 3, {"PAGER": "", "EDITOR": "vim"}) == ["vim", "+3", "/f"]


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to itself")
def test_ctrl_c_while_answering_cancels_and_keeps_the_session(chat, fake_llm):
    fake_llm.started, fake_llm.block = threading.Event(), threading.Event()

    def press_ctrl_c() -> None:
        if fake_llm.started.wait(10):
            fake_llm.started.clear()
            os.kill(os.getpid(), signal.SIGINT)
        if fake_llm.started.wait(10):  # the second question streams: let it finish
            fake_llm.block.set()

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    code, text = chat("What do the parts say?\rsecond question\r\x04")
    assert code == 0
    assert CANCELLED in text
    turns = chat.pipeline.history()[1]
    assert [t.question for t in turns] == ["second question"]


@pytest.mark.slow
def test_ingest_then_ask_over_the_real_index(tmp_path, fake_llm):
    """/ingest and /collection with the real ingester and searcher (the model stays fake)."""
    from pipeline.docs_corpus import write_docs

    docs = write_docs(tmp_path / "notes")
    settings = load_settings({})
    pipeline = ChatPipeline(fake_llm, retriever=Retriever(settings), backend="fake",
                            session="s", checkpointer=open_checkpointer(None))
    out = io.StringIO()
    keys = (f"How often should I oil the chain?\r/ingest {docs}\r"
            "How often should I oil the chain?\r/collection nowhere\r/collection\r\x04")
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        session = make_prompt_session(None, input=pipe, output=DummyOutput())
        Repl(pipeline, settings, Console(file=out, force_terminal=False, width=200)
             ).run_interactive(session)
    pipeline.close()
    text = out.getvalue()
    assert "has no index yet" in text and "ragchat ingest" in text  # before /ingest
    assert "default: 3 new" in text
    assert f"[1] {docs}" in text  # after it, real sources
    assert "collection 'nowhere' has no index yet" in text
    assert "Collection default." in text


def test_ingest_in_the_chat_says_what_ingest_says(tmp_path, fake_llm):
    """/ingest prints the counts with what was embedded, and the collection's language
    notice, as `ragchat ingest` does; /collection says the next question starts clean."""
    from ragchat.cli.repl.commands import COMMANDS

    folder = tmp_path / "문서"
    folder.mkdir()
    (folder / "guide.md").write_text("# 설치 안내\n\n"
                                     + "이 문서는 플러그인을 설치하고 제거하는 방법을 설명합니다.\n\n"
                                     * 12)
    settings = load_settings({})
    pipeline = ChatPipeline(fake_llm, retriever=Retriever(settings, "ko"), backend="fake",
                            session="s", checkpointer=open_checkpointer(None))
    out = io.StringIO()
    repl = Repl(pipeline, settings, Console(file=out, force_terminal=False, width=400))
    COMMANDS["ingest"].run(repl, str(folder))
    COMMANDS["collection"].run(repl, "ko")
    pipeline.close()
    text = out.getvalue()
    assert "ko: 1 new, 0 changed, 0 unchanged, 0 removed files; " in text
    assert " chunks added, 0 removed, " in text and "embedded " in text
    assert "collection 'ko': most of its text is Korean (" in text
    assert "found by their words alone (BM25)" in text
    assert "Collection ko." in text and "searched on its own" not in text  # no switch
