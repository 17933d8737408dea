"""The real thing as a user runs it: ingest a folder, then ask and repl with the embedded
model (SmolLM2-135M via llama.cpp) in real processes. Structure only, never wording."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline.docs_corpus import QUESTIONS, tiny_model_missing, write_docs

pytestmark = pytest.mark.slow

_missing = tiny_model_missing()


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A home with the folder ingested; the environment for the real processes."""
    if _missing:
        pytest.skip(_missing)
    base = tmp_path_factory.mktemp("cli-e2e")
    docs = write_docs(base / "docs")
    env = dict(os.environ, RAGCHAT_HOME=str(base / "home"), RAGCHAT_BACKEND="llamacpp",
               RAGCHAT_MAX_NEW_TOKENS="32", RAGCHAT_TEMPERATURE="0",
               RAGCHAT_SEARCH_K="3")
    done = subprocess.run([sys.executable, "-m", "ragchat", "ingest", str(docs)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return docs, env


def ragchat(env: dict, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ragchat", *args], env=env, input=input,
                          capture_output=True, text=True, timeout=600)


def check_turn(data: dict, docs: Path) -> None:
    assert data["answer"].strip()
    assert data["backend"] == "llamacpp"
    for source in data["sources"]:
        assert Path(source["path"]).parent == docs and Path(source["path"]).is_file()
        assert source["location"] and source["text"]
    for call in data["llm_calls"]:
        assert call["prompt_tokens"] > 0 and call["new_tokens"] > 0


def test_ask_text_then_json_resuming_the_session(indexed):
    """Two processes: the second finds the first turn in the session database."""
    docs, env = indexed
    done = ragchat(env, "ask", QUESTIONS[0], "--session", "e2e", "--timings")
    assert done.returncode == 0, done.stderr
    if "\nSources:\n" in done.stdout:
        sources = done.stdout.split("\nSources:\n", 1)[1].split("\n\n")[0].splitlines()
        assert all(line.startswith("[") and str(docs) in line for line in sources)
    assert "llm_answer" in done.stdout and "cache:" in done.stdout

    done = ragchat(env, "ask", QUESTIONS[1], "--session", "e2e", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    check_turn(data, docs)
    # the first turn came back: the demo model's follow-up searches with the first question
    assert data["standalone_question"] == f"{QUESTIONS[0]} {QUESTIONS[1]}"
    assert data["trail"]["rewrite"] == ('previous question + this one, because it starts '
                                        'with "and"')
    assert {"contextualize", "llm_answer", "save_memory"} <= set(data["timings"])
    assert "SmolLM2-135M, a demo-size model" in done.stderr


def test_piped_repl_keeps_the_cache_between_turns(indexed):
    docs, env = indexed
    done = ragchat(env, "repl", "--json", input="\n".join(QUESTIONS[:2]) + "\n")
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    check_turn(first, docs)
    check_turn(second, docs)
    assert first["route"] == "retrieve" and first["standalone_question"] == QUESTIONS[0]
    assert second["standalone_question"] == f"{QUESTIONS[0]} {QUESTIONS[1]}"
    assert all(call["cached_tokens"] > 0 for call in second["llm_calls"])
