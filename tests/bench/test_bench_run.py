"""`ragchat bench` for real: the embedded tiny model in bench's quickest form, the same model
behind a real OpenAI-compatible server on loopback, and a backend that cannot load.
Structure only: no wall-clock times and no model wording are asserted."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def metrics_of(backend: dict) -> dict[tuple[str, str, str], dict]:
    return {(m["row"], m["label"], m["name"]): m for m in backend["metrics"]}


def test_quickest_bench_fills_every_row_with_the_embedded_model(run_cli, tmp_path):
    plot = tmp_path / "bench.png"
    proc = run_cli("bench", "--backend", "llamacpp", "--quick", "--tokens", "4",
                   "--concurrent-tokens", "4", "--answer-tokens", "8", "--json",
                   "--plot", str(plot))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["plan"]["quick"] and report["plan"]["rows"] == [
        "init", "single", "pipeline", "concurrent"]
    [backend] = report["backends"]
    assert backend["backend"] == "llamacpp" and backend["error"] is None, backend["notes"]
    assert backend["model"].endswith(".gguf")
    m = metrics_of(backend)
    for key in [("init", "cold (first start)", "start to ready"), ("init", "warm", "model load"),
                ("single", "4 new tokens", "TTFT"), ("single", "4 new tokens", "decode"),
                ("single", "4 new tokens", "total"), ("pipeline", "turn 1", "total"),
                ("pipeline", "turn 1", "llm_answer"), ("pipeline", "follow-up", "retrieve"),
                ("concurrent", "1 at once", "throughput"), ("concurrent", "2 at once", "all done")]:
        assert key in m, key
        assert m[key]["n"] >= 1 and m[key]["median"] > 0, (key, m[key])
    assert m[("single", "4 new tokens", "new tokens")]["median"] <= 4
    assert m[("concurrent", "2 at once", "all done")]["note"] == "sequential"
    # a follow-up reuses the first turn from llama.cpp's KV cache
    assert m[("pipeline", "follow-up", "cached")]["median"] > 0
    assert report["ratios"] == []
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the sample collection is gone afterwards
    listed = run_cli("collections", "--json")
    assert "bench-sample" not in listed.stdout


def test_local_model_and_api_side_by_side(run_cli, llama_server, api_env):
    proc = run_cli("bench", "--backend", "llamacpp", "--api-base", llama_server,
                   "--api-model", "tiny", "--rows", "single,concurrent", "--tokens", "4",
                   "--concurrency", "2", "--concurrent-tokens", "4", "--repeat", "2", "--json",
                   env=api_env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    local, api = report["backends"]
    assert local["backend"] == "llamacpp" and api["backend"] == "api", api["notes"]
    assert api["label"] == f"api:{llama_server}" and api["bound"] is None
    assert not [n for n in api["notes"] if "failed" in n], api["notes"]
    m_local, m_api = metrics_of(local), metrics_of(api)
    key = ("single", "4 new tokens", "TTFT")
    assert m_local[key]["n"] == 2 and m_api[key]["n"] == 2
    assert m_api[("concurrent", "2 at once", "all done")]["note"] == "parallel"
    assert m_api[("concurrent", "2 at once", "throughput")]["median"] > 0
    ratios = {(r["row"], r["label"], r["name"]): r for r in report["ratios"]}
    assert ratios[key]["baseline"] == "llamacpp" and ratios[key]["backend"] == api["label"]
    expected = m_local[key]["median"] / m_api[key]["median"]  # lower is better: base / other
    assert ratios[key]["times_better"] == pytest.approx(expected, rel=1e-3)
    assert ("single", "4 new tokens", "new tokens") not in ratios


def test_a_backend_that_cannot_load_is_reported_and_the_others_run(run_cli, api_env):
    proc = run_cli("bench", "--backend", "api", "--backend", "llamacpp", "--rows", "single",
                   "--tokens", "2", "--repeat", "1", env=api_env)
    assert proc.returncode == 0, proc.stderr
    assert "Single inference" in proc.stdout
    # the Hugging Face router under the hub's offline switch: the switch is the cause
    assert "api: FAILED: HF_HUB_OFFLINE is set" in " ".join(proc.stdout.split())


def test_no_backend_can_run(run_cli, api_env):
    proc = run_cli("bench", "--backend", "api", "--rows", "single", env=api_env)
    assert proc.returncode == 1 and "FAILED" in proc.stdout


def test_bad_options_are_usage_errors(run_cli):
    proc = run_cli("bench", "--rows", "single,warp")
    assert proc.returncode == 2 and "unknown bench row" in proc.stderr
    proc = run_cli("bench", "--tokens", "fifty")
    assert proc.returncode == 2 and "--tokens" in proc.stderr
