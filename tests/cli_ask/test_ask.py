"""`ragchat ask` in-process with fakes, and as a real process for errors and import cost."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from tests.helpers import cli


def test_answer_then_sources(capsys, fakes, fake_searcher):
    code, out, _ = cli(capsys, "ask", "What do the parts say?")
    assert code == 0
    answer, _, sources = out.partition("\nSources:\n")
    assert "[1]" in answer and "[3]" in answer
    lines = sources.strip().splitlines()
    assert lines == [f"[{n}] {h.path}:{h.location}"
                     for n, h in ((1, fake_searcher.hits[0]), (3, fake_searcher.hits[2]))]


def test_one_blank_line_between_the_answer_and_its_sources_whatever_the_answer_ends_with(
        capsys, fakes):
    fake_llm, _ = fakes
    for ending in ("", "\n", "\n\n\n"):
        fake_llm.replies["ANSWER"] = "Part one gives 7 [1]." + ending
        code, out, _ = cli(capsys, "ask", "What do the parts say?")
        assert code == 0 and "Part one gives 7 [1].\n\nSources:\n[1] " in out, repr(ending)


def test_json_object(capsys, fakes):
    code, out, _ = cli(capsys, "ask", "What do the parts say?", "--json", "-k", "2")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"answer", "answer_kind", "sources", "sources_kind", "timings",
                         "llm_calls", "backend", "route", "standalone_question", "trail"}
    assert data["route"] == "retrieve"
    assert data["backend"] == "fake"
    # -k 2 retrieved two; the grader kept [1]; the answer cites [1] (and [3], which is no
    # passage of this turn: removed)
    assert [s["n"] for s in data["sources"]] == [1] and data["sources_kind"] == "cited"
    assert data["trail"]["told"] == [1] and data["trail"]["cited"] == [1]
    assert [r["relevant"] for r in data["trail"]["retrieved"]] == [True, False]
    assert set(data["timings"]) == {"contextualize", "retrieve", "relevance_check",
                                    "llm_answer", "save_memory"}
    assert [c["node"] for c in data["llm_calls"]] == ["relevance_check", "llm_answer"]


def test_timings_table(capsys, fakes):
    code, out, _ = cli(capsys, "ask", "question", "--timings")
    assert code == 0
    table = out[out.index("node "):].splitlines()
    assert table[0].split() == ["node", "seconds", "prompt", "cached", "new", "ttft_s", "tok/s"]
    assert [row.split()[0] for row in table[1:7]] == [
        "contextualize", "retrieve", "relevance_check", "llm_answer", "save_memory", "total"]
    assert "cache:" in table[-1]


def test_session_continues_across_runs(capsys, fakes):
    cli(capsys, "ask", "first question", "--session", "s1")
    _, out, _ = cli(capsys, "ask", "and the second?", "--session", "s1", "--json")
    assert json.loads(out)["llm_calls"][0]["node"] == "contextualize"
    assert json.loads(out)["standalone_question"] == "What does part 2 say?"
    _, out, _ = cli(capsys, "ask", "and the second?", "--json")
    assert json.loads(out)["llm_calls"][0]["node"] == "relevance_check"  # no session: fresh


def test_question_from_stdin(capsys, fakes, monkeypatch, fake_searcher):
    monkeypatch.setattr(sys, "stdin", io.StringIO("What do the parts say?\n"))
    code, out, _ = cli(capsys, "ask", "-", "--json")
    assert code == 0 and fake_searcher.queries == ["What do the parts say?"]


def test_backend_flags_conflict(capsys, fakes):
    code, _, err = cli(capsys, "ask", "q", "--api", "--backend", "llamacpp")
    assert code == 2 and "conflict" in err


def test_no_index_tells_to_ingest(run_cli):
    result = run_cli("ask", "anything?")
    assert result.returncode == 3
    assert "ragchat ingest" in result.stderr
    assert "Traceback" not in result.stderr


def test_importing_the_commands_stays_light():
    code = ("import sys; import ragchat.cli.ask_cmd, ragchat.cli.repl_cmd\n"
            "print('HEAVY', [m for m in ('langgraph', 'langchain_core', 'torch', 'llama_cpp',"
            " 'prompt_toolkit', 'rich') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
