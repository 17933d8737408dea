"""`ragchat eval QA.jsonl`: retrieval quality (and with --answers, answer quality) per question."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ragchat.cli.options import backend_flags, backend_options, collection_option


@click.command(name="eval")
@click.argument("qa_file", metavar="QA.jsonl", type=click.Path(path_type=Path))
@collection_option
@click.option("-k", "k", type=click.IntRange(1, 100), default=None,
              help="Results per question [default: config 'search_k', else 5].")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid",
              show_default=True, help="Retriever to score: the fusion, or one alone.")
@click.option("--answers", is_flag=True,
              help="Also run the full pipeline per question: answer text, citations, latency.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: the summary and every question's details.")
@backend_options
def eval(qa_file: Path, collection: str | None, k: int | None, mode: str, answers: bool,
         as_json: bool, backend: str | None, use_api: bool, api_base: str | None,
         api_model: str | None) -> None:
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
    """
    from ragchat.bench.evaluate import evaluate, summarize
    from ragchat.bench.qa import read_qa
    from ragchat.cli.progress import progress_for_terminal
    from ragchat.config import load_settings

    items = read_qa(qa_file)
    flags = {"collection": collection, "search_k": k,
             **backend_flags(backend, use_api, api_base, api_model)}
    settings = load_settings(flags)
    from ragchat.pipeline.result import TurnCancelled

    with progress_for_terminal() as progress:
        try:
            results = evaluate(settings, items, k=settings.search_k, mode=mode,
                               collection=collection, answers=answers, progress=progress)
        except TurnCancelled:  # Ctrl-C during an answer
            raise KeyboardInterrupt from None
    summary = summarize(results, settings.search_k)
    summary.update({"collection": collection or settings.collection, "mode": mode,
                    "file": str(qa_file)})
    if as_json:
        click.echo(json.dumps({"summary": summary, "questions": [r.to_json() for r in results]},
                              ensure_ascii=False))
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
            ("latency median / p90 / max",
             " / ".join(f"{answers[key]:.2f} s" for key in
                        ("latency_median_s", "latency_p90_s", "latency_max_s"))),
        ]
    return rows


def print_summary(summary: dict[str, Any], results: list[Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    title = f"{summary['file']} on collection '{summary['collection']}' ({summary['mode']})"
    console.print(f"[bold]{escape(title)}[/bold]")
    table = Table(show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in summary_rows(summary):
        table.add_row(name, value)
    console.print(table)
    missed = [r for r in results if r.item.judged and r.retrieval.rank is None]
    if missed:
        console.print(f"[dim]not found in the top {summary['k']}:[/dim]")
        for r in missed[:10]:
            console.print(f"[dim]  line {r.item.line}: {escape(r.item.question)}[/dim]")
        if len(missed) > 10:
            console.print(f"[dim]  ... and {len(missed) - 10} more (--json lists all)[/dim]")
