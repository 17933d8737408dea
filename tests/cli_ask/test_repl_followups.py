"""A conversation in the chat with the real demo model (SmolLM2-135M through llama.cpp, which
cannot rewrite a follow-up): three turns on one topic, a change of topic, a /collection
switch and a /reset, each followed by /why. What each turn searched is what a person would
expect: a follow-up with the question before it, never with all of them; a new topic, a new
collection and a reset alone."""

from __future__ import annotations

import io
import re

import pytest
from pipeline.docs_corpus import tiny_model_missing, write_docs
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

pytestmark = pytest.mark.slow

KOREAN = {"행사.md": "# 행사 안내\n\n행사는 10월 12일 토요일에 서울 중구 시민회관에서 열린다.\n"
                     "참가 신청은 10월 5일까지 받는다.\n"}
TURNS = [  # (what is typed, what /why must say was searched, the file found first)
    ("What pressure should road tyres have?",
     "What pressure should road tyres have?", "bikes.md"),
    ("And gravel tyres?",
     "What pressure should road tyres have? And gravel tyres?", "bikes.md"),
    ("How often should I check that pressure?",
     "And gravel tyres? How often should I check that pressure?", "bikes.md"),
    ("How many hours of sun do tomatoes need each day?",
     "How many hours of sun do tomatoes need each day?", "garden.md"),
    ("/collection ko", None, None),
    ("그럼 행사는 어디서 열려?", "그럼 행사는 어디서 열려?", "행사.md"),
    ("/reset", None, None),
    ("그리고 신청은 언제까지 받아?", "그리고 신청은 언제까지 받아?", "행사.md"),
]


@pytest.fixture
def chat(tmp_path, monkeypatch):
    if missing := tiny_model_missing():
        pytest.skip(missing)
    from ragchat.config import load_settings
    from ragchat.ingest.ingester import ingest_paths

    for key, value in {"RAGCHAT_BACKEND": "llamacpp", "RAGCHAT_TEMPERATURE": "0",
                       "RAGCHAT_MAX_NEW_TOKENS": "24", "RAGCHAT_SEARCH_K": "3"}.items():
        monkeypatch.setenv(key, value)
    settings = load_settings({})
    ingest_paths(settings, [write_docs(tmp_path / "notes")], "notes")
    korean = tmp_path / "ko"
    korean.mkdir()
    for name, text in KOREAN.items():
        (korean / name).write_text(text, encoding="utf-8")
    ingest_paths(settings, [korean], "ko")
    return settings


def test_follow_ups_a_new_topic_a_switch_and_a_reset_search_what_a_person_expects(chat):
    from ragchat.cli.repl.app import Repl
    from ragchat.cli.repl.prompt import make_prompt_session
    from ragchat.pipeline.factory import open_pipeline

    pipeline = open_pipeline(chat, collection="notes", session="talk", persistent=False)
    assert pipeline.backend == "llamacpp" and not pipeline.params.llm_rewrite
    keys = "".join(f"{typed}\r" + ("" if typed.startswith("/") else "/why\r")
                   for typed, _, _ in TURNS) + "\x04"
    out = io.StringIO()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        session = make_prompt_session(None, input=pipe, output=DummyOutput())
        code = Repl(pipeline, chat, Console(file=out, force_terminal=False, width=400)
                    ).run_interactive(session)
    pipeline.close()
    text = out.getvalue()
    assert code == 0
    searched = re.findall(r"^searched: +(.*)$", text, re.M)
    rewrites = re.findall(r"^rewrite: +(.*)$", text, re.M)
    first_found = re.findall(r"^retrieved:\n +\[\d+\] [\d.]+ +\w+ +([^:\n]+)", text, re.M)
    expected = [(s, f) for _, s, f in TURNS if s]
    assert searched == [s for s, _ in expected], text
    assert first_found == [f for _, f in expected], text
    assert rewrites == [
        "this question alone: the first of the conversation",
        'previous question + this one, because it starts with "and"',
        'previous question + this one, because it refers back ("that")',
        "this question alone, because it reads as a question of its own (6 words about its "
        "subject, none that refers back)",
        "this question alone: the previous question searched another collection (notes)",
        "this question alone: the first of the conversation",  # after /reset
    ], text
    assert "The next question is searched on its own (nothing carried over from notes)" in text
    # "그럼" says nothing about the subject: the passage is kept and quoted, both times
    assert len(re.findall(r"^ +\[\d+\] [\d.]+ +relevant +행사\.md:", text, re.M)) == 2, text
    assert "cleared: the next question starts afresh" in text
