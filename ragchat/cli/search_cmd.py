"""`ragchat search QUERY` (or `-` for one query per line on stdin)."""

from __future__ import annotations

import os
import sys

import click

from ragchat.cli.options import collection_option
from ragchat.cli.terminal import json_text, safe_line


@click.command()
@click.argument("query")
@collection_option
@click.option("-k", "k", type=click.IntRange(1, 1000), default=None,
              help="Number of results [default: config 'search_k', else 5].")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid",
              show_default=True, help="Fusion of both, or one retriever alone.")
@click.option("--files", "per_file", is_flag=True,
              help="One result per file: the best passage of each of the k best files.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per query on one line.")
def search(query: str, collection: str | None, k: int | None, mode: str, per_file: bool,
           as_json: bool) -> None:
    """Find the passages that match QUERY, without an LLM.

    Dense vectors (meaning) and BM25 (words; character bigrams for Korean, Chinese and
    Japanese) are fused by reciprocal rank; BM25 also ranks whole files, and a passage gains
    a little for a file that matches as a whole. --files answers "which documents are about
    this": one passage per file, so that k results name k files. QUERY '-' reads one query
    per line from stdin and prints one JSON line per query, in order, loading the models once.

    \b
    Examples:
      ragchat search "how do I rotate the keys"
      ragchat search --files -k 10 "retention policy"
      printf 'first query\\nsecond query\\n' | ragchat search - --json
    """
    from ragchat.config import load_settings
    from ragchat.index.search import open_searcher

    settings = load_settings({"collection": collection, "search_k": k})
    searcher = open_searcher(settings)
    try:
        if query == "-":
            for line in sys.stdin:
                if line.strip():
                    hits = searcher.search(line.strip(), settings.search_k, mode, per_file)
                    _print_json(line.strip(), hits)
                    sys.stdout.flush()
            return
        hits = searcher.search(query, settings.search_k, mode, per_file)
        if as_json:
            _print_json(query, hits)
        else:
            _print_text(hits)
    finally:
        searcher.close()


def _print_json(query: str, hits) -> None:
    click.echo(json_text({"query": query, "results": [h.as_dict() for h in hits]}))


def _print_text(hits) -> None:
    """Per hit: rank and where it is (never split), how it was found, a snippet; wrapped to
    the terminal, one line each when piped. Paths and text are the documents': made safe."""
    if not hits:
        click.echo("No results.")
        return
    from ragchat.cli.layout import output_width, shorten, wrap

    width = output_width()
    color = width is not None and not os.environ.get("NO_COLOR")
    for rank, hit in enumerate(hits, start=1):
        where = safe_line(f"{hit.path}:{hit.location}" if hit.location else hit.path)
        click.echo(f"{click.style(f'{rank:>2}.', bold=True) if color else f'{rank:>2}.'} "
                   + (click.style(where, fg="cyan") if color else where))
        click.echo(click.style(wrap(found_by(hit), width, "    "), dim=True) if color
                   else wrap(found_by(hit), width, "    "))
        click.echo(wrap(safe_line(shorten(hit.text, 300)), width, "    "))


def found_by(hit) -> str:
    """What the rank means to a reader: which retriever found it, and how close in meaning."""
    parts = []
    if hit.bm25_rank is not None:
        parts.append(f"words #{hit.bm25_rank}")
    if hit.dense_rank is not None:
        meaning = f"meaning #{hit.dense_rank}"
        if hit.dense_similarity is not None:
            meaning += f" (similarity {hit.dense_similarity:.2f})"
        parts.append(meaning)
    found = "found by " + " and ".join(parts) if parts else ""
    if found and hit.file_rank is not None:  # the file vote (search.FILE_WEIGHT)
        found += f"; its file #{hit.file_rank} by words"
    return found
