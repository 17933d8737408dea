"""`ragchat bench`: load, inference, pipeline and concurrency times, measured here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ragchat.cli.options import BACKENDS, collection_option
from ragchat.cli.terminal import json_text, safe_line
from ragchat.engines import Engine

HIDDEN = {("single", "prompt tokens"), ("pipeline", "prompt tokens"), ("pipeline", "LLM calls")}


@click.command()
@click.option("--backend", "backends", multiple=True, type=click.Choice(BACKENDS),
              metavar="NAME", help="Backend to measure; give it several times to compare "
                                   "(auto, exllamav2, llamacpp, api) [default: the configured one].")
@click.option("--api", "use_api", is_flag=True, help="Also measure the API backend.")
@click.option("--api-base", default=None, metavar="URL",
              help="Dedicated endpoint or OpenAI-compatible server for the API backend.")
@click.option("--api-model", default=None, metavar="NAME", help="Model name for the API.")
@click.option("--rows", default=None, metavar="LIST",
              help="Rows to run, comma-separated: init,single,pipeline,concurrent [default: all].")
@click.option("--quick", is_flag=True,
              help="Smallest run that fills every row: 1 repetition, 16/64 tokens, 1/2 at once.")
@click.option("--repeat", type=click.IntRange(1, 100), default=None,
              help="Repetitions per measurement [default: 3; --quick: 1].")
@click.option("--tokens", default=None, metavar="LIST",
              help="New tokens of the single-inference rows [default: 50,500].")
@click.option("--concurrency", default=None, metavar="LIST",
              help="Requests at once [default: 1,4,8].")
@click.option("--concurrent-tokens", type=click.IntRange(1, 100_000), default=None,
              help="New tokens per concurrent request [default: 50].")
@click.option("--answer-tokens", type=click.IntRange(1, 100_000), default=None,
              help="Answer budget of pipeline turns [default: max_new_tokens; --quick: 32].")
@collection_option
@click.option("--question", default=None, help="First question of the pipeline turns.")
@click.option("--follow-up", default=None, help="Follow-up question of the pipeline turns.")
@click.option("--gpu", default=None, metavar="NAME",
              help="GPU name for the bandwidth bound, e.g. 'RTX 3090' [default: detected].")
@click.option("--bandwidth", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="GBPS", help="Memory bandwidth in GB/s for the bound (CPU model, or a GPU "
                                   "not in the table).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with every sample.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="FILE.png", help="Also draw the results (needs matplotlib).")
def bench(backends: tuple[str, ...], use_api: bool, api_base: str | None,
          api_model: str | None, rows: str | None, quick: bool, repeat: int | None,
          tokens: str | None, concurrency: str | None, concurrent_tokens: int | None,
          answer_tokens: int | None, collection: str | None, question: str | None,
          follow_up: str | None, gpu: str | None, bandwidth: float | None, as_json: bool,
          plot_path: Path | None) -> None:
    """Measure initialization, inference, pipeline turns and concurrent requests.

    Every row is run for every backend, several times; the table shows the median with
    the range (min-max), and how many times better each backend is than the first.

    \b
    Rows:
      init        process start to ready (first start, then warm), model load
      single      one request of 50 and 500 new tokens: TTFT, decode tok/s, total
      pipeline    a full turn and a follow-up, per node, with KV-cache reuse
      concurrent  1, 4 and 8 requests at once: batched where the backend batches

    Pipeline turns use a small built-in sample collection unless --collection is given.

    \b
    Examples:
      ragchat bench --quick
      ragchat bench --backend exllamav2 --api --json > bench.json
      ragchat bench --backend llamacpp --api-base http://127.0.0.1:8080/v1 --plot bench.png
    """
    from ragchat.bench.plan import BenchPlan, parse_counts, parse_rows
    from ragchat.bench.runner import run_bench

    if plot_path is not None:
        from ragchat.bench.plot import require_matplotlib

        require_matplotlib()
    plan = BenchPlan(rows=parse_rows(rows), collection=collection, question=question or "",
                     follow_up=follow_up or "", gpu=gpu or "", bandwidth_gbps=bandwidth or 0.0)
    plan = plan.quicker() if quick else plan
    plan = _overrides(plan, repeat, tokens, concurrency, concurrent_tokens, answer_tokens,
                      parse_counts)
    targets = bench_targets(backends, use_api, api_base, api_model)
    with _progress() as progress:
        report = _interruptible(lambda: run_bench(plan, targets, progress))
    if as_json:
        click.echo(json_text(report.to_json()))
    else:
        print_report(report)
    if plot_path is not None:
        from ragchat.bench.plot import write_plot

        written = write_plot(report, plot_path)
        click.echo(f"Plot written to {safe_line(written)}", err=as_json)
    if not any(b.metrics for b in report.backends):
        raise SystemExit(1)


def _interruptible(run: Any) -> Any:
    """Ctrl-C during a pipeline turn ends the turn with TurnCancelled: treat it as Ctrl-C."""
    from ragchat.pipeline.result import TurnCancelled

    try:
        return run()
    except TurnCancelled:
        raise KeyboardInterrupt from None


def _overrides(plan: Any, repeat: int | None, tokens: str | None, concurrency: str | None,
               concurrent_tokens: int | None, answer_tokens: int | None, parse: Any) -> Any:
    from dataclasses import replace

    changes: dict[str, Any] = {}
    if repeat is not None:
        changes["repeat"] = repeat
    if tokens is not None:
        changes["tokens"] = parse(tokens, "--tokens")
    if concurrency is not None:
        changes["concurrency"] = parse(concurrency, "--concurrency", high=256)
    if concurrent_tokens is not None:
        changes["concurrent_tokens"] = concurrent_tokens
    if answer_tokens is not None:
        changes["answer_tokens"] = answer_tokens
    return replace(plan, **changes)


def bench_targets(backends: tuple[str, ...], use_api: bool, api_base: str | None,
                  api_model: str | None) -> list[dict[str, Any]]:
    """Settings overrides per backend to measure, in the order given, without duplicates."""
    names: list[str | None] = list(dict.fromkeys(backends))
    if (use_api or api_base) and Engine.API not in names:
        names.append(Engine.API.value)
    if not names:
        names = [None]
    extra = {"api_base": api_base, "api_model": api_model}
    return [{k: v for k, v in {"backend": name, **extra}.items() if v is not None}
            for name in names]


def _progress() -> Any:
    """Bars on stderr when it is a terminal (also with --json: stdout stays clean)."""
    from ragchat.cli.progress import progress_for_terminal

    return progress_for_terminal(quiet=False)


# -- the table ----------------------------------------------------------------------------

def fmt_value(value: float, unit: str) -> str:
    if value != value:  # NaN
        return "-"
    if unit == "s":
        return f"{value:.3f} s" if value < 1 else f"{value:.2f} s" if value < 100 else f"{value:.0f} s"
    if unit == "tok/s":
        return f"{value:.1f} tok/s" if value < 1000 else f"{value:.0f} tok/s"
    if unit == "%":
        return f"{value:.0f}%"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def fmt_cell(metric: Any) -> str:
    if metric is None:
        return "[dim]-[/dim]"
    text = fmt_value(metric.median, metric.unit)
    if metric.n > 1 and metric.high != metric.low:
        text += (f" [dim]({fmt_value(metric.low, metric.unit).split()[0]}"
                 f"–{fmt_value(metric.high, metric.unit).split()[0]})[/dim]")
    return text


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return ""
    style = "green" if value >= 1.05 else "red" if value <= 0.95 else "dim"
    return f"[{style}]{value:.2f}x[/{style}]"


def column_names(backends: list[Any]) -> list[str]:
    """Short, distinct column titles: the backend's name, numbered when it repeats."""
    names = [b.name or b.requested for b in backends]
    return [f"{n} #{names[:i].count(n) + 1}" if names.count(n) > 1 else n
            for i, n in enumerate(names)]


def build_tables(report: Any) -> list[Any]:
    """One table per row (Initialization, Single inference, ...): case, metric, backends."""
    from rich.table import Table

    from ragchat.bench.plan import ROW_TITLES
    from ragchat.bench.stats import ratio
    from ragchat.cli.terminal import markup as escape  # safe for a terminal, then for markup

    ran = [b for b in report.backends if b.metrics]
    names = column_names(ran)
    tables: dict[str, Any] = {}
    previous = None
    for key in report.keys():
        row, label, name = key
        if (row, name) in HIDDEN:
            continue
        if row not in tables:
            tables[row] = table = Table(title=ROW_TITLES[row], title_justify="left",
                                        title_style="bold")
            table.add_column("Case")
            table.add_column("Metric")
            for column in names:
                table.add_column(escape(column), justify="right")
            for column in names[1:]:
                table.add_column(f"{escape(column)} vs {escape(names[0])}", justify="right")
        cells = [b.metric(key) for b in ran]
        ratios = [fmt_ratio(ratio(c, cells[0]) if c and cells[0] else None) for c in cells[1:]]
        tables[row].add_row(escape(label) if (row, label) != previous else "", escape(name),
                            *[fmt_cell(c) for c in cells], *ratios)
        previous = (row, label)
    return list(tables.values())


def footnotes(report: Any) -> list[str]:
    plan = report.plan
    lines = [f"median of {plan.repeat} run(s), (min–max) when they differ; "
             "'vs' columns: times better than the first backend (>1 = faster)"]
    if plan.quick:
        lines.append("quick run: small token counts, one repetition: for a first look only")
    ran = [b for b in report.backends if b.metrics]
    names = dict(zip(map(id, ran), column_names(ran)))
    for b in report.backends:
        title = names.get(id(b), b.requested)
        if b.error:
            lines.append(f"{title}: FAILED: {b.error}")
            continue
        model = f", model {b.model}" if b.model and b.model not in b.title else ""
        lines.append(f"{title} = {b.title}{model} ({b.reason})")
        if b.bound is not None:
            lines.append(f"  decode bound on {b.bound.device}: {b.bound.bandwidth_gbps:g} GB/s / "
                         f"{b.bound.weight_bytes / 1e9:.2f} GB of weights = "
                         f"{b.bound.tokens_per_s:.0f} tok/s at most")
        lines.extend(f"  {line}" for line in metric_notes(b.metrics))
        lines.extend(f"  note: {n}" for n in b.notes)
    return lines


def metric_notes(metrics: list[Any]) -> list[str]:
    """Notes of metrics, one line per (row, note) with the cases it applies to."""
    from ragchat.bench.plan import ROW_TITLES

    grouped: dict[tuple[str, str], list[str]] = {}
    for m in metrics:
        if m.note:
            labels = grouped.setdefault((m.row, m.note), [])
            if m.label not in labels:
                labels.append(m.label)
    return [f"{ROW_TITLES[row]} ({', '.join(labels)}): {note}"
            for (row, note), labels in grouped.items()]


def print_report(report: Any) -> None:
    from ragchat.cli.terminal import console as make_console
    from ragchat.cli.terminal import markup as escape  # safe for a terminal, then for markup

    console = make_console()
    if any(b.metrics for b in report.backends):
        for table in build_tables(report):
            console.print(table)
    for line in footnotes(report):
        console.print(f"[dim]{escape(line)}[/dim]")
