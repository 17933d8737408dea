"""`ask` and the chat with passages, names and a model answer that hold escape sequences:
everything shown is inert (also a sequence split across streamed tokens), --json exact."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import replace

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from ragchat.cli.main import main
from ragchat.cli.repl.app import Repl
from ragchat.cli.repl.prompt import make_prompt_session
from ragchat.cli.repl.stream import AnswerPrinter
from ragchat.config import load_settings
from ragchat.pipeline.chat import ChatPipeline
from ragchat.pipeline.retriever import Retriever
from ragchat.pipeline.sessions import open_checkpointer
from tests.cli.test_hostile_output import CLEAR, CLIPBOARD, HOSTILE, TITLE, assert_inert
from tests.helpers import cli

# the payloads, as they would reach a terminal raw (the terminal's own sequences aside)
RAW = (CLEAR, "\x1b]0;", "\x1b]52;", "\x07", "\x9b", "\u202e", "\x1b]8;")


@pytest.fixture
def hostile(fakes, fake_llm, fake_searcher):
    """Passages from a file whose name, heading and text hold escape sequences; an answer
    that echoes them (every whitespace-separated word is one streamed token)."""
    fake_searcher.hits = [
        replace(hit, path=f"{hit.path[:-3]} {HOSTILE}\nforged: line.md",
                location=f"{hit.location} ({TITLE})", heading=f"Part {HOSTILE}",
                text=f"{hit.text} {HOSTILE}")
        for hit in fake_searcher.hits]
    fake_llm.replies["ANSWER"] = (f"Part one gives 7 [1] {TITLE} and{CLIPBOARD} part three "
                                  f"21 [3]. {CLEAR}\u202e [link](https://example.org/x)")
    return fake_searcher.hits


def test_ask_answer_and_sources_are_inert(capsys, hostile):
    code, out, err = cli(capsys, "ask", "What do the parts say?")
    assert code == 0, err
    assert_inert(out, err)
    assert "\\x1b]0;pwned\\x07" in out.split("Sources:")[0]  # the answer, streamed
    assert "\\x1b]52;c;cHduZWQ=\\x07" in out and "<U+202E>" in out
    sources = out.split("\nSources:\n", 1)[1].splitlines()
    assert sources[0].startswith("[1] ") and "\\nforged: line.md" in sources[0]
    assert not any(line.startswith("forged") for line in out.splitlines())


def test_ask_timings_and_json_keep_the_exact_text(capsys, hostile):
    code, out, err = cli(capsys, "ask", "What do the parts say?", "--json")
    assert code == 0, err
    assert_inert(out)
    data = json.loads(out)
    assert TITLE in data["answer"] and CLIPBOARD in data["answer"]
    assert data["sources"][0]["path"] == hostile[0].path


def test_piped_repl_text_commands_are_inert(capsys, monkeypatch, hostile):
    monkeypatch.setattr(sys, "stdin", io.StringIO(
        f"What do the parts say?\n/why\n/sources\n/stats\n/session s{TITLE}\n/sessions\n"))
    with pytest.raises(SystemExit) as exit_info:
        main(["repl"])
    out = capsys.readouterr()
    assert exit_info.value.code == 0
    assert_inert(out.out, out.err)
    assert "\\x1b]0;pwned\\x07" in out.out and "Passage 1 says" in out.out  # /sources text
    assert not any(line.startswith("forged") for line in out.out.splitlines())


def test_piped_repl_json_keeps_the_exact_text(capsys, monkeypatch, hostile):
    monkeypatch.setattr(sys, "stdin", io.StringIO("What do the parts say?\n/sources\n"))
    with pytest.raises(SystemExit):
        main(["repl", "--json"])
    out = capsys.readouterr()
    assert_inert(out.out, out.err)
    assert json.loads(out.out)["sources"][0]["path"] == hostile[0].path


def test_chat_in_a_terminal_draws_no_payload(tmp_path, hostile, fake_llm, fake_searcher):
    """The live Markdown display: a terminal console, so rich's own cursor sequences are
    there; none of the document's or the answer's, and links show their target."""
    settings = load_settings({})
    retriever = Retriever(settings, "default", opener=lambda s, name: fake_searcher)
    pipeline = ChatPipeline(fake_llm, retriever=retriever, backend="fake", session="s1",
                            checkpointer=open_checkpointer(tmp_path / "sessions.sqlite"))
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    with create_pipe_input() as pipe:
        pipe.send_text("What do the parts say?\r/why\r/sources\r\x04")
        session = make_prompt_session(None, input=pipe, output=DummyOutput())
        assert Repl(pipeline, settings, console).run_interactive(session) == 0
    pipeline.close()
    text = out.getvalue()
    assert not [raw for raw in RAW if raw in text]
    assert "pwned" in text and "https://example.org/x" in text


@pytest.mark.parametrize("terminal", [False, True])
def test_a_sequence_split_across_tokens_stays_inert(terminal):
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=120)
    with AnswerPrinter(console) as printer:
        for piece in ["Here \x1b", "]0;pwned", "\x07 and \x1b[", "2J then \x1b]52;c;", "eA==\x07."]:
            printer.add(piece)
    text = out.getvalue()
    assert not [raw for raw in RAW if raw in text]
    assert "\\x1b]0;pwned\\x07" in text and "\\x1b[2J" in text


def test_ask_stream_escapes_each_piece(capsys):
    from ragchat.cli.ask_cmd import _Stream

    stream = _Stream()
    for piece in ["Here \x1b", "]0;pwned", "\x07 and \x1b[", "2J.\n\n"]:
        stream.write(piece)
    out = capsys.readouterr().out
    assert out == "Here \\x1b]0;pwned\\x07 and \\x1b[2J."
