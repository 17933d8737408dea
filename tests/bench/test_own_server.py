"""Your own inference server, as a user runs it: `ragchat ask --api-base URL` against the real
llama.cpp server on loopback with both hub offline switches on (an air-gapped site), and the
same command once the server is gone. The statistics say "unknown" where the server does not
report its cache. Structure only: no model wording is asserted."""

from __future__ import annotations

import json

import pytest

from tests.llama_server import free_port

pytestmark = pytest.mark.slow

QUESTION = "When does the night train to Vienna leave?"


@pytest.fixture
def env(api_env, in_notes_home):
    return {**api_env, "RAGCHAT_HOME": str(in_notes_home), "RAGCHAT_MAX_NEW_TOKENS": "16"}


def test_ask_answers_from_your_server_with_the_hub_offline(run_cli, env, llama_server):
    assert env["HF_HUB_OFFLINE"] == env["TRANSFORMERS_OFFLINE"] == "1"
    proc = run_cli("ask", "--collection", "notes", "--api-base", llama_server, QUESTION,
                   "--timings", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "HF_HUB_OFFLINE" not in proc.stderr and "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["node", "seconds"])
    assert "".join(lines[:header]).strip()  # an answer came before the timings
    answer_row = next(line.split() for line in lines[header:] if line.startswith("llm_answer"))
    assert answer_row[3] == "unknown"  # the cached column: the server does not say
    assert "cache: unknown" in proc.stdout and f"api:{llama_server}" in proc.stdout


def test_ask_json_leaves_unknown_cache_empty_not_zero(run_cli, env, llama_server):
    proc = run_cli("ask", "--collection", "notes", "--api-base", llama_server, QUESTION,
                   "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    calls = json.loads(proc.stdout)["llm_calls"]
    assert calls and all(c["cached_tokens"] is None and c["prompt_tokens"] > 0 for c in calls)


def test_with_the_server_gone_ask_exits_with_one_clear_line(run_cli, env):
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = run_cli("ask", "--collection", "notes", "--api-base", url, QUESTION, env=env)
    assert proc.returncode == 6
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith(f"ragchat: error: cannot reach the API at {url}"), proc.stderr
    assert lines[1:] == ["  hint: is the server up? check --api-base (api_base)"]
    assert "Traceback" not in proc.stderr and "OFFLINE" not in proc.stderr
