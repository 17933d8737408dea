"""`ragchat eval QA.jsonl`: retrieval quality (and with --answers, answer quality) per question."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ragchat.cli.options import backend_flags, backend_options, collection_option
from ragchat.cli.terminal import json_text


@click.command(name="eval")
@click.argument("qa_file", metavar="QA.jsonl", type=click.Path(path_type=Path))
@collection_option
@click.option("-k", "k", type=click.IntRange(1, 100), default=None,
              help="Results per question [default: config 'search_k', else 5].")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid",
              show_default=True, help="Retriever to score: the fusion, or one alone.")
@click.option("--answers", is_flag=True,
              help="Also run the full pipeline per question: answer text, citations, latency.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=1, show_default=True,
              metavar="N",
              help="With --answers: questions answered at once (parallel requests to a "
                   "server, batches on exllamav2 when paged, one at a time otherwise).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: the summary and every question's details.")
@backend_options
def eval(qa_file: Path, collection: str | None, k: int | None, mode: str, answers: bool,
         concurrency: int, as_json: bool, backend: str | None, use_api: bool,
         api_base: str | None, api_model: str | None) -> None:
    """Score retrieval (recall@k, MRR) on the questions of QA.jsonl.

    One JSON object per line: "question", and optionally "answer" (text the right passage
    contains) and "source" (the file that holds it). A result is a hit when it comes from
    the source file or contains the answer text. With --answers each question also runs
    through the whole pipeline (retrieve, grade, answer) and the reply is checked for the
    answer text and for a citation of a passage that holds it. See docs/how-to/evaluate.md.

    \b
    Examples:
      ragchat eval qa.jsonl
      ragchat eval qa.jsonl -k 10 --mode bm25
      ragchat eval qa.jsonl --answers --json > report.json
      ragchat eval qa.jsonl --answers --concurrency 8 --api-base http://gpu-box:8000/v1
    """
    from ragchat.bench.evaluate import evaluate, summarize
    from ragchat.bench.qa import read_qa
    from ragchat.cli.progress import progress_for_terminal
    from ragchat.config import load_settings

    if concurrency > 1 and not answers:
        raise click.UsageError("--concurrency applies to --answers")
    items = read_qa(qa_file)
    flags = {"collection": collection, "search_k": k,
             **backend_flags(backend, use_api, api_base, api_model)}
    settings = load_settings(flags)
    from ragchat.pipeline.result import TurnCancelled

    with progress_for_terminal() as progress:
        try:
            results, speed = evaluate(settings, items, k=settings.search_k, mode=mode,
                                      collection=collection, answers=answers,
                                      concurrency=concurrency, progress=progress)
        except TurnCancelled:  # Ctrl-C during an answer
            raise KeyboardInterrupt from None
    summary = summarize(results, settings.search_k, speed)
    summary.update({"collection": collection or settings.collection, "mode": mode,
                    "file": str(qa_file)})
    if as_json:
        click.echo(json_text({"summary": summary, "questions": [r.to_json() for r in results]}))
        return
    print_summary(summary, results)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    judged = summary["judged"]
    rows = [("questions", str(summary["questions"])),
            ("scored (with answer or source)", str(judged))]
    for cutoff, value in summary["recall"].items():
        rows.append((f"recall@{cutoff}", pct(value)))
    mrr = summary["mrr"]
    rows.append((f"MRR@{summary['k']}", "-" if mrr is None else f"{mrr:.3f}"))
    answers = summary.get("answers")
    if answers:
        rows += [
            ("clean replies (no scaffolding, runaway or unlisted [n])", pct(answers["clean"])),
            ("reply contains the answer", pct(answers["contains_answer"])),
            ("replies with citations", pct(answers["with_citations"])),
            ("a citation holds the answer", pct(answers["citation_hit"])),
            ("a source shown holds the answer", pct(answers["sources_hit"])),
            ("follow-ups: their search found the answer", pct(answers["follow_up_search_hit"])),
            ("not covered: said so, no sources", pct(answers["said_not_covered"])),
            ("what the replies are (answer_kind)",
             ", ".join(f"{kind} {pct(share)}" for kind, share in
                       (answers.get("kinds") or {}).items()) or "-"),
            ("latency median / p90 / max",
             " / ".join(f"{answers[key]:.2f} s" for key in
                        ("latency_median_s", "latency_p90_s", "latency_max_s"))),
        ]
        rows += throughput_rows(answers.get("throughput"))
    return rows


def throughput_rows(speed: dict[str, Any] | None) -> list[tuple[str, str]]:
    """How many questions ran at once, how, and how fast the answers came."""
    if not speed:
        return []
    how = {"parallel": "parallel requests", "batched": "batched",
           "sequential": "one after another"}.get(speed["mode"], speed["mode"])
    at_once = f"{speed['at_once']} ({how})"
    if speed["at_once"] != speed["concurrency"]:
        at_once += f", {speed['concurrency']} asked"
    return [("questions at once", at_once),
            ("answers / min", f"{speed['answers_per_min']:.1f}"),
            ("new tokens / s (all turns)", f"{speed['tokens_per_s']:.1f}"),
            ("prompt tokens, cached", f"{speed['prompt_tokens']}, {cached_cell(speed)}")]


def cached_cell(speed: dict[str, Any]) -> str:
    """Cached prompt tokens; where only some calls reported them, of how many."""
    cached, reported = speed["cached_tokens"], speed.get("cache_reported_prompt_tokens")
    if cached is None:
        return "unknown"
    if reported is not None and reported < speed["prompt_tokens"]:
        return f"{cached} of the {reported} reported"
    return str(cached)


def print_summary(summary: dict[str, Any], results: list[Any]) -> None:
    from rich.table import Table

    from ragchat.cli.terminal import console as make_console
    from ragchat.cli.terminal import markup as escape  # safe for a terminal, then for markup

    console = make_console()
    title = f"{summary['file']} on collection '{summary['collection']}' ({summary['mode']})"
    console.print(f"[bold]{escape(title)}[/bold]")
    table = Table(show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in summary_rows(summary):
        table.add_row(escape(name), escape(value))
    console.print(table)
    note = (summary.get("answers") or {}).get("throughput", {}).get("note")
    if note:
        console.print(f"[dim]{escape(note)}[/dim]")
    missed = [r for r in results if r.item.judged and r.retrieval.rank is None]
    if missed:
        console.print(f"[dim]not found in the top {summary['k']}:[/dim]")
        for r in missed[:10]:
            console.print(f"[dim]  line {r.item.line}: {escape(r.item.question)}[/dim]")
        if len(missed) > 10:
            console.print(f"[dim]  ... and {len(missed) - 10} more (--json lists all)[/dim]")
