"""benchmarks/pipeline_overhead.py and benchmarks/cache_reuse.py run end to end on tiny inputs.
Their timings are not checked, only the shape of their results and what the cache did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
pytestmark = pytest.mark.slow


def run_script(name: str, *args: str, out: Path, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, str(BENCH / name), *args, "--out-dir", str(out)],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    [path] = out.glob("*.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_pipeline_overhead(tmp_path):
    result = run_script("pipeline_overhead.py", "--sessions", "1", "--turns", "3",
                        out=tmp_path / "results")
    assert set(result["results"]) == {"memory", "sqlite"}
    for parts in result["results"].values():
        assert parts["first"]["turns"] == 1 and parts["follow_up"]["turns"] == 2
        for part in parts.values():
            assert part["wall_ms_median"] > 0 and part["nodes_ms_median"] > 0
            assert set(part["node_ms_median"]) >= {"retrieve", "llm_answer"}
        # follow-ups rewrite the question: contextualize calls the (instant) model
        assert parts["follow_up"]["llm_calls_median"] > parts["first"]["llm_calls_median"]


def test_cache_reuse_with_the_tiny_model(tmp_path):
    # with the grading and rewrite calls (the demo model skips them by default)
    result = run_script("cache_reuse.py", "--turns", "2", "--answer-tokens", "4",
                        out=tmp_path / "results",
                        env={"RAGCHAT_SEARCH_K": "1", "RAGCHAT_RELEVANCE_CHECK": "llm",
                             "RAGCHAT_FOLLOW_UP_REWRITE": "llm"})
    warm, cold, summary = result["warm"], result["cold"], result["summary"]
    assert [t["turn"] for t in warm] == [1, 2] and [t["turn"] for t in cold] == [1, 2]
    assert all(c["prompt_tokens"] > 0 for t in warm for c in t["calls"])
    # the answer call reuses the grader's prompt, the follow-up reuses the first turn ...
    assert warm[0]["calls"][-1]["cached_tokens"] > 0
    assert all(c["cached_tokens"] > 0 for c in warm[1]["calls"])
    # ... and evicting the cache before each call defeats that
    assert summary["cached_share_warm"] > 0.5 > summary["cached_share_cold"]
    assert "bench-sample" not in os.listdir(Path(os.environ["RAGCHAT_HOME"]) / "data" /
                                            "collections")


def test_eval_concurrency_against_the_llama_cpp_server(tmp_path):
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bees.md").write_text("# Bees\n\nHoney bees dance to show where flowers are.\n")
    (docs / "owls.md").write_text("# Owls\n\nBarn owls sleep in old barns during the day.\n")
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"question": "Why do bees dance?", "source": "bees.md"}) + "\n"
                  + json.dumps({"question": "Where do owls sleep?", "answer": "barns"}) + "\n")
    result = run_script("eval_concurrency.py", "--qa", str(qa), "--docs", str(docs),
                        "--concurrency", "1,2", "--repeat", "1", "--max-new-tokens", "4",
                        "--label", "test", out=tmp_path / "results")
    assert result["server"]["program"] == "llama-cpp-python server"
    one, two = result["summary"]
    assert (one["concurrency"], one["mode"], two["concurrency"], two["mode"]) == (
        1, "sequential", 2, "parallel")
    assert one["answers_per_min_vs_first"] == 1.0
    for run in result["runs"]:
        assert run["answers"] == 2 and run["answers_per_min"] > 0 and run["tokens_per_s"] > 0
        assert run["cached_tokens"] is None  # llama-cpp-python's server does not report it


def test_answer_quality_judges_a_repl_conversation(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bees.md").write_text("# Bees\n\nHoney bees dance to show where flowers are.\n")
    (docs / "owls.md").write_text("# Owls\n\nBarn owls sleep in old barns during the day.\n")
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps(q) for q in (
        {"question": "Why do bees dance?", "answer": "flowers", "source": "bees.md"},
        {"question": "And where do owls sleep?", "context": ["Why do bees dance?"],
         "source": "owls.md"},
        {"question": "Who won the 1998 World Cup?", "covered": False})) + "\n")
    out = tmp_path / "answers-test.json"
    proc = subprocess.run([sys.executable, str(BENCH / "answer_quality.py"), "--qa", str(qa),
                           "--docs", str(docs), "--label", "test", "--out", str(out),
                           "--set", "max_new_tokens=8", "--set", "embedding_model=minilm"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["label"] == "test" and result["qa"] == "qa.jsonl"
    # the header every results file has (common.save_results), no path of this machine
    assert list(result)[:5] == ["date", "commit", "dirty", "machine", "command"]
    assert result["command"].startswith("benchmarks/answer_quality.py --qa qa.jsonl --docs docs")
    assert result["settings"] == ["max_new_tokens=8", "embedding_model=minilm"]
    assert result["summary"]["answered"] == 3
    bees, owls, off_topic = result["replies"]
    assert owls["context"] == ["Why do bees dance?"]  # asked first, in the same conversation
    assert isinstance(bees["search_hit"], bool) and off_topic["covered"] is False
    assert isinstance(off_topic["said_not_covered"], bool)
    table = subprocess.run([sys.executable, str(BENCH / "answer_quality.py"), "--table",
                            str(out)], capture_output=True, text=True, timeout=60)
    assert table.returncode == 0 and table.stdout.splitlines()[2].startswith("| test | ")


def test_answer_quality_runs_the_checkout_it_is_given(tmp_path, monkeypatch):
    """--ragchat-path measures that checkout, even when run from this repository's root
    (where `python -m ragchat` would import this one first)."""
    sys.path.insert(0, str(BENCH))
    try:
        from answer_quality import _imported_from, run_ragchat
    finally:
        sys.path.remove(str(BENCH))
    other = tmp_path / "other-checkout"
    (other / "ragchat").mkdir(parents=True)
    (other / "ragchat" / "__init__.py").write_text("")
    (other / "ragchat" / "__main__.py").write_text("print('the other checkout')\n")
    env = {**os.environ, "PYTHONPATH": str(other)}
    monkeypatch.chdir(BENCH.parent)  # this repository's root, as when a user runs it
    assert run_ragchat(["--version"], env).strip() == "the other checkout"
    assert _imported_from(env) == str(other / "ragchat" / "__init__.py")
