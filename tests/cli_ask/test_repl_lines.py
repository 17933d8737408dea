"""`ragchat repl` with stdin not a terminal: one message per line, one process."""

from __future__ import annotations

import io
import json
import sys

import pytest

from ragchat.cli.main import main


def run_repl(capsys, monkeypatch, text: str, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    with pytest.raises(SystemExit) as exit_info:
        main(["repl", *args])
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_json_one_object_per_turn_in_one_conversation(capsys, monkeypatch, fakes):
    code, out, err = run_repl(capsys, monkeypatch,
                              "What do the parts say?\n\n/sources\nand the second?\n", "--json")
    assert code == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["llm_calls"][0]["node"] == "relevance_check"
    assert second["llm_calls"][0]["node"] == "contextualize"
    assert all(call["cached_tokens"] > 0 for call in second["llm_calls"])
    assert "Sources:" in err  # command output goes to stderr, stdout stays JSON lines


def test_text_answers_with_sources_until_exit(capsys, monkeypatch, fakes, fake_llm):
    code, out, _ = run_repl(capsys, monkeypatch,
                            "What do the parts say?\n/why\n/exit\nnever asked\n")
    assert code == 0
    assert fake_llm.replies["ANSWER"] in out
    assert "[3] " in out and "route:      retrieve" in out
    assert [c["task"] for c in fake_llm.calls] == ["GRADE", "ANSWER"]


def test_session_is_saved_for_later(capsys, monkeypatch, fakes):
    run_repl(capsys, monkeypatch, "first question\n", "--session", "later")
    _, out, _ = run_repl(capsys, monkeypatch, "/sessions\n", "--session", "later")
    assert "later  (1 turns)" in out


def test_no_index_in_piped_mode_fails_early(run_cli):
    result = run_cli("repl", input="question\n")
    assert result.returncode == 3 and "ragchat ingest" in result.stderr


def _failing_search(monkeypatch, searcher):
    from ragchat.errors import IndexMismatchError

    real = searcher.search

    def search(query, k):
        if "broken" in query:
            raise IndexMismatchError("the BM25 index is out of date",
                                     hint="update it with: ragchat ingest FOLDER")
        return real(query, k)

    monkeypatch.setattr(searcher, "search", search)


def test_a_failed_question_is_said_the_next_is_answered_and_the_exit_status_says_it(
        capsys, monkeypatch, fakes, fake_llm):
    _failing_search(monkeypatch, fakes[1])
    code, out, err = run_repl(capsys, monkeypatch, "a broken question\nWhat do the parts say?\n")
    assert code == 3  # the failure's own exit status, as `ask` would end
    assert "error: the BM25 index is out of date" in out + err
    assert "ragchat ingest FOLDER" in out + err
    assert fake_llm.replies["ANSWER"] in out  # the next line was still answered


def test_json_keeps_one_line_per_question_when_one_fails(capsys, monkeypatch, fakes):
    _failing_search(monkeypatch, fakes[1])
    code, out, err = run_repl(capsys, monkeypatch,
                              "a broken one\nWhat do the parts say?\nand the second?\n", "--json")
    assert code == 3  # a failure on the first turn (no rewrite: the search gets the line)
    failed, second, third = (json.loads(line) for line in out.splitlines())
    assert second["answer"] and third["answer"]
    assert failed == {"question": "a broken one",
                      "error": {"message": "the BM25 index is out of date",
                                "hint": "update it with: ragchat ingest FOLDER",
                                "exit_code": 3}}
    assert "error: the BM25 index is out of date" in err  # and said on stderr
