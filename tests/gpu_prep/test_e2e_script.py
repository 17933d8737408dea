"""e2e.py's checks on given outputs, and one real run with the embedded CPU model."""

from __future__ import annotations

import json

import pytest
from e2e import QUESTIONS, answer_checks, json_objects, repl_checks, whole_json


def turn(cached: int, backend: str = "exllamav2") -> dict:
    return {"answer": "Use ragchat ingest.", "sources": [], "backend": backend,
            "llm_calls": [{"node": "llm_answer", "prompt_tokens": 900, "cached_tokens": cached}]}


def test_answer_checks():
    assert all(answer_checks(turn(0), "exllamav2").values())
    bad = answer_checks({"answer": " ", "backend": "llamacpp", "llm_calls": []}, "exllamav2")
    assert not any(bad.values())


def test_repl_checks_want_three_answers_and_a_cached_third():
    good = repl_checks([turn(0), turn(500), turn(800)], "exllamav2")
    assert all(good.values()) and len(QUESTIONS) == 3
    assert not repl_checks([turn(0), turn(0), turn(0)], "exllamav2")["turn3_uses_cache"]
    assert not repl_checks([turn(0)], "exllamav2")["three_answers"]


def test_json_parsing_of_command_output():
    text = "progress...\n{\"a\": 1}\nnoise {\n{\"b\": 2}\n{broken\n"
    assert json_objects(text) == [{"a": 1}, {"b": 2}]
    assert whole_json(text) == {"b": 2}
    assert whole_json(json.dumps({"x": [1, 2]}, indent=2)) == {"x": [1, 2]}
    assert whole_json("nothing") == {}


@pytest.mark.slow
def test_real_run_with_the_cpu_model(tmp_path, tokenizer_dir, gpu_dir):
    pytest.importorskip("llama_cpp")
    from make_test_model import main as make

    from ragchat.llm.models import bundled_gguf

    if bundled_gguf() is None:
        pytest.skip("the bundled GGUF is missing")
    embedder = tmp_path / "embedder"
    assert make(["embedder", "--tokenizer", str(tokenizer_dir), "--out", str(embedder)]) == 0
    from tests.gpu_prep.conftest import run_script

    out = tmp_path / "e2e.json"
    proc = run_script(str(gpu_dir / "e2e.py"), "--backend", "llamacpp", "--embedder",
                      str(embedder), "--max-new-tokens", "16", "--out", str(out), timeout=900)
    report = json.loads(out.read_text())
    assert proc.returncode == 0, json.dumps(report, indent=1)[-3000:]
    assert [s["command"].split()[1] for s in report["steps"]] == ["doctor", "ingest", "ask", "repl"]
    assert report["steps"][0]["backend"]["name"] == "llamacpp"
    assert report["pass"] is True
