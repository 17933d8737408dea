"""The bench table, its footnotes, the plot and the error paths that need no model."""

from __future__ import annotations

import pytest
from rich.console import Console

from ragchat.bench.bandwidth import Bound
from ragchat.bench.plan import BenchPlan
from ragchat.bench.runner import BackendReport, BenchReport
from ragchat.bench.stats import HIGHER, LOWER, Metric
from ragchat.cli import bench_cmd


def report() -> BenchReport:
    gpu = BackendReport("exllamav2", {}, name="exllamav2", label="exllamav2",
                        reason="flag", model="qwen-exl2",
                        bound=Bound("RTX 3090", 936, 7_600_000_000))
    gpu.metrics = [
        Metric("single", "500 new tokens", "total", "s", (5.0, 5.2, 4.9), LOWER),
        Metric("single", "500 new tokens", "decode", "tok/s", (100.0, 98.0, 101.0), HIGHER),
        Metric("concurrent", "4 at once", "all done", "s", (6.0,), LOWER, "batched"),
    ]
    api = BackendReport("api", {}, name="api", label="api:http://h:1/v1", reason="flag")
    api.metrics = [
        Metric("single", "500 new tokens", "total", "s", (20.0, 21.0, 19.0), LOWER),
        Metric("single", "500 new tokens", "decode", "tok/s", (25.0, 25.0, 25.0), HIGHER),
    ]
    broken = BackendReport("llamacpp", {}, error="cannot load (hint)")
    return BenchReport(BenchPlan(repeat=3), [gpu, api, broken], {"cpus": 2})


def render(table) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


def test_tables_per_row_with_ratios_against_the_first_backend():
    tables = bench_cmd.build_tables(report())
    assert [t.title for t in tables] == ["Single inference", "Concurrent requests"]
    text = render(tables[0])
    assert "api vs exllamav2" in text
    assert "0.25x" in text  # total: 5.0 s against 20.0 s
    assert "5.00 s (4.90–5.20)" in text and "100.0 tok/s (98.0–101.0)" in text
    assert "25.0 tok/s" in text and "(25.0–25.0)" not in text  # no range when runs agree
    concurrent = render(tables[1])
    assert "6.00 s" in concurrent and "-" in concurrent  # the API has no concurrent row


def test_footnotes_name_backends_bound_modes_and_failures():
    lines = "\n".join(bench_cmd.footnotes(report()))
    assert "median of 3 run(s)" in lines
    assert "exllamav2 = exllamav2, model qwen-exl2" in lines
    assert "936 GB/s / 7.60 GB of weights = 123 tok/s at most" in lines
    assert "Concurrent requests (4 at once): batched" in lines
    assert "api = api:http://h:1/v1 (flag)" in lines
    assert "llamacpp: FAILED: cannot load (hint)" in lines


def test_json_ratios_compare_with_the_first_backend_that_ran():
    ratios = report().ratios()
    by_name = {r["name"]: r for r in ratios}
    assert by_name["total"]["times_better"] == pytest.approx(0.25)
    assert by_name["decode"]["times_better"] == pytest.approx(0.25)
    assert all(r["baseline"] == "exllamav2" for r in ratios)


def test_column_names_stay_distinct():
    a = BackendReport("api", {}, name="api")
    b = BackendReport("api", {}, name="api")
    c = BackendReport("llamacpp", {})
    assert bench_cmd.column_names([a, b, c]) == ["api #1", "api #2", "llamacpp"]


def test_targets_from_flags():
    assert bench_cmd.bench_targets((), False, None, None) == [{}]
    assert bench_cmd.bench_targets(("llamacpp", "llamacpp"), True, None, "m") == [
        {"backend": "llamacpp", "api_model": "m"}, {"backend": "api", "api_model": "m"}]
    assert bench_cmd.bench_targets((), False, "http://x/v1", None) == [
        {"backend": "api", "api_base": "http://x/v1"}]


def test_plot_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from ragchat.bench.plot import write_plot

    path = write_plot(report(), tmp_path / "b.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_plot_without_matplotlib_says_how_to_install(monkeypatch):
    import importlib.util

    from ragchat.bench import plot
    from ragchat.errors import RagchatError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(RagchatError) as info:
        plot.require_matplotlib()
    assert "pip install 'ragchat[plot]'" in info.value.hint


def test_parallel_requests_that_break_say_why(broken_server, hub_online):
    from ragchat.bench.concurrency import run_batch
    from ragchat.errors import BackendError
    from ragchat.llm.api import ApiBackend

    backend = ApiBackend(model="m", base_url=broken_server, retries=0, timeout=10)
    with pytest.raises(BackendError) as info:
        run_batch(backend, 2, 4)
    assert info.value.message.startswith("2 requests at once:")
    assert "--interrupt_requests False" in info.value.hint
