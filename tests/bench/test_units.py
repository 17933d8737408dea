"""Pure parts of bench: statistics, ratios, plans, the bandwidth bound."""

from __future__ import annotations

import json

import pytest

from ragchat.bench import bandwidth
from ragchat.bench.plan import ROWS, BenchPlan, parse_counts, parse_rows
from ragchat.bench.stats import HIGHER, LOWER, Collector, Metric, ratio
from ragchat.errors import UsageError
from ragchat.models import vram


def test_metric_median_and_spread():
    m = Metric("single", "50 new tokens", "total", "s", (3.0, 1.0, 2.0, 10.0), LOWER)
    assert m.median == 2.5 and m.low == 1.0 and m.high == 10.0 and m.n == 4
    assert m.spread == pytest.approx(9.0 / 2.5)
    data = m.to_json()
    assert data["samples"] == [3.0, 1.0, 2.0, 10.0] and data["better"] == "lower"
    assert Metric("r", "l", "n", "s", (1.0,)).spread == 0.0


def test_ratio_direction():
    fast = Metric("single", "x", "total", "s", (1.0,), LOWER)
    slow = Metric("single", "x", "total", "s", (4.0,), LOWER)
    assert ratio(fast, slow) == pytest.approx(4.0)  # fast is 4x better than slow
    assert ratio(slow, fast) == pytest.approx(0.25)
    high = Metric("single", "x", "decode", "tok/s", (50.0,), HIGHER)
    low = Metric("single", "x", "decode", "tok/s", (25.0,), HIGHER)
    assert ratio(high, low) == pytest.approx(2.0)
    count = Metric("single", "x", "new tokens", "tokens", (5.0,))
    assert ratio(count, count) is None
    assert ratio(Metric("s", "x", "t", "s", (0.0,), LOWER), slow) is None


def test_collector_keeps_order_and_any_note():
    c = Collector("single")
    c.add("a", "total", 1.0, "s", LOWER, "stopped early")
    c.add("a", "total", 2.0, "s", LOWER)
    c.add("b", "total", 3.0, "s", LOWER)
    metrics = c.metrics()
    assert [m.label for m in metrics] == ["a", "b"]
    assert metrics[0].samples == (1.0, 2.0) and metrics[0].note == "stopped early"


def test_parse_rows_and_counts():
    assert parse_rows(None) == ROWS
    assert parse_rows("concurrent, single") == ("single", "concurrent")
    with pytest.raises(UsageError, match="unknown bench row"):
        parse_rows("single,warp")
    assert parse_counts("50,500", "--tokens") == (50, 500)
    for bad in ("", "x", "0", "5,-1"):
        with pytest.raises(UsageError):
            parse_counts(bad, "--tokens")


def test_quick_plan_is_smaller_everywhere():
    full, quick = BenchPlan(), BenchPlan().quicker()
    assert quick.quick and quick.repeat == 1
    assert max(quick.tokens) < max(full.tokens)
    assert max(quick.concurrency) < max(full.concurrency)
    assert quick.concurrent_tokens < full.concurrent_tokens and quick.answer_tokens > 0
    assert sum(quick.steps().values()) < sum(full.steps().values())


@pytest.mark.parametrize("name, canonical, gbps", [
    ("NVIDIA GeForce RTX 3090", "RTX 3090", 936),
    ("NVIDIA GeForce RTX 3090 Ti", "RTX 3090 Ti", 1008),
    ("NVIDIA GeForce RTX 4090", "RTX 4090", 1008),
    ("NVIDIA A100-SXM4-40GB", "A100 40GB", 1555),
    ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe", 1935),
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 3350),
    ("NVIDIA H100 PCIe", "H100 PCIe", 2000),
    ("NVIDIA H200", "H200", 4800),
    ("Tesla T4", "T4", 320),
])
def test_gpu_table(name, canonical, gbps):
    assert bandwidth.gpu_bandwidth(name) == (canonical, gbps)


def test_unknown_gpu_is_not_guessed():
    assert bandwidth.gpu_bandwidth("Some Future Accelerator") is None


def test_the_seeds_500_tokens_in_under_2_s_on_a_3090_is_impossible():
    weights = vram.weight_bytes(vram.QWEN25_14B, 4.25)
    bound = bandwidth.Bound("RTX 3090", 936, weights)
    assert 100 < bound.tokens_per_s < 140
    assert bound.min_seconds(500) > 3.5  # the seed claimed 0.5-2 s


class _Gguf:
    name = "llamacpp"

    def __init__(self, path):
        self.model_path = path


class _Exl2:
    name = "exllamav2"

    def __init__(self, folder):
        self.model_dir = folder


class _Api:
    name = "api"


def test_bound_for_the_cpu_model_needs_a_bandwidth(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"\0" * 1000)
    bound, why = bandwidth.decode_bound(_Gguf(gguf))
    assert bound is None and "--bandwidth" in why
    bound, why = bandwidth.decode_bound(_Gguf(gguf), bandwidth_gbps=50)
    assert why == "" and bound.weight_bytes == 1000 and bound.tokens_per_s == pytest.approx(5e7)


def test_bound_for_the_gpu_backend_from_the_named_gpu(tmp_path):
    folder = tmp_path / "exl2"
    folder.mkdir()
    config = {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
              "intermediate_size": 128, "vocab_size": 100}
    (folder / "config.json").write_text(json.dumps(config))
    with open(folder / "model.safetensors", "wb") as f:
        f.truncate(10_000_000)
    bound, why = bandwidth.decode_bound(_Exl2(folder), gpu="NVIDIA GeForce RTX 4090")
    assert why == "" and bound.device == "RTX 4090"
    assert bound.weight_bytes == 10_000_000 - 100 * 64 * 2  # the FP16 embedding stays on the CPU
    bound, why = bandwidth.decode_bound(_Exl2(folder), gpu="Mystery GPU")
    assert bound is None and "not in the bandwidth table" in why
    bound, _ = bandwidth.decode_bound(_Exl2(folder), gpu="Mystery GPU", bandwidth_gbps=700)
    assert bound.bandwidth_gbps == 700


def test_no_bound_for_the_api():
    bound, why = bandwidth.decode_bound(_Api(), bandwidth_gbps=100)
    assert bound is None and "API" in why


def _turn(known: bool):
    from ragchat.pipeline.result import LLMCall, TurnResult

    calls = (LLMCall("relevance_check", 300, 200 if known else 0, 20, 0.1, 50.0,
                     cache_known=known),
             LLMCall("llm_answer", 400, 300 if known else 0, 30, 0.2, 40.0, cache_known=known))
    return TurnResult(question="q", standalone_question="q", route="retrieve", answer="a",
                      sources=(), retrieved=(), grades_parsed=True,
                      timings={"relevance_check": 0.5, "llm_answer": 1.0}, llm_calls=calls,
                      backend="api:http://gpu-box:8000/v1")


def test_a_turn_whose_server_does_not_report_its_cache_says_unknown_not_0():
    from ragchat.bench.stats import Collector
    from ragchat.bench.turns import UNKNOWN_CACHE, record_turn
    from ragchat.cli.repl.render import format_timings

    unknown, known = _turn(False), _turn(True)
    assert not unknown.cache_known() and known.cache_known()
    table = format_timings(unknown).splitlines()
    assert table[1].split()[3] == "unknown" and table[-2].split()[3] == "unknown"
    assert table[-1].startswith("cache: unknown")
    assert format_timings(known).splitlines()[-1].startswith("cache: 71% of prompt tokens")
    assert [c.public()["cached_tokens"] for c in unknown.llm_calls] == [None, None]
    rows = Collector("pipeline")
    record_turn(rows, "turn 1", 2.0, unknown)
    record_turn(rows, "follow-up", 2.0, known)
    names = {(m.label, m.name): m for m in rows.metrics()}
    assert ("turn 1", "cached") not in names and ("turn 1", "prefilled tokens") not in names
    assert names[("turn 1", "prompt tokens")].note == UNKNOWN_CACHE
    assert names[("follow-up", "cached")].median == pytest.approx(500 / 7)


def test_a_turn_with_some_calls_unreported_says_what_its_ratio_covers():
    from dataclasses import replace

    from ragchat.cli.repl.render import format_timings

    turn = _turn(True)
    turn = replace(turn, llm_calls=(turn.llm_calls[0], replace(turn.llm_calls[1],
                                                               cached_tokens=0,
                                                               cache_known=False)))
    lines = format_timings(turn).splitlines()
    assert lines[1].split()[3] == "200" and lines[2].split()[3] == "unknown"
    assert lines[-1].startswith("cache: 67% of prompt tokens served from the KV cache "
                                "(of the calls that report it)")


def test_percentile_is_the_nearest_rank():
    from ragchat.bench.stats import percentile

    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 0.5) == 50.0 and percentile(values, 0.99) == 99.0
    assert percentile(values, 0.9) == 90.0 and percentile(values, 1.0) == 100.0
    assert percentile([3.0, 1.0, 2.0], 0.9) == 3.0 and percentile([7.0], 0.01) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.5)
