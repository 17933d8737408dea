"""`ragchat search QUERY` (or `-` for one query per line on stdin)."""

from __future__ import annotations

import json
import sys

import click

from ragchat.cli.options import collection_option


@click.command()
@click.argument("query")
@collection_option
@click.option("-k", "k", type=click.IntRange(1, 1000), default=None,
              help="Number of results [default: config 'search_k', else 5].")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "bm25"]), default="hybrid",
              show_default=True, help="Fusion of both, or one retriever alone.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per query on one line.")
def search(query: str, collection: str | None, k: int | None, mode: str, as_json: bool) -> None:
    """Find the passages that match QUERY, without an LLM.

    Dense vectors (meaning) and BM25 (words; character bigrams for Korean, Chinese and
    Japanese) are fused by reciprocal rank. QUERY '-' reads one query per line from stdin and
    prints one JSON line per query, in order, loading the models once.

    \b
    Examples:
      ragchat search "how do I rotate the keys"
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
                    hits = searcher.search(line.strip(), settings.search_k, mode)
                    _print_json(line.strip(), hits)
                    sys.stdout.flush()
            return
        hits = searcher.search(query, settings.search_k, mode)
        if as_json:
            _print_json(query, hits)
        else:
            _print_text(hits)
    finally:
        searcher.close()


def _print_json(query: str, hits) -> None:
    click.echo(json.dumps({"query": query, "results": [h.as_dict() for h in hits]},
                          ensure_ascii=False))


def _print_text(hits) -> None:
    if not hits:
        click.echo("No results.")
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=False)
    for rank, hit in enumerate(hits, start=1):
        where = f"{hit.path}:{hit.location}" if hit.location else hit.path
        console.print(f"[bold]{rank:>2}.[/bold] [dim]{hit.score:.4f}[/dim]  "
                      f"[cyan]{escape(where)}[/cyan]")
        snippet = " ".join(hit.text.split())
        console.print("    " + escape(snippet[:300] + ("…" if len(snippet) > 300 else "")))
