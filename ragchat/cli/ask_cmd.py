"""`ragchat ask "QUESTION"`: one turn, streamed, then its sources."""

from __future__ import annotations

import sys

import click

from ragchat.cli.options import (
    backend_flags,
    backend_options,
    collection_option,
    say_backend_choice,
    say_session_resumed,
)
from ragchat.cli.terminal import json_text, safe


@click.command()
@click.argument("question")
@collection_option
@click.option("--session", "-s", default=None, metavar="NAME",
              help="Continue the named conversation (kept across runs; `repl` shares it).")
@click.option("-k", "k", type=click.IntRange(1, 50), default=None,
              help="Passages to retrieve [default: config 'search_k', else 5].")
@click.option("--timings", is_flag=True,
              help="After the answer, print seconds, tokens, cache hits, TTFT and tok/s per node.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (answer, sources, timings, llm_calls, ...) instead.")
@backend_options
def ask(question: str, collection: str | None, session: str | None, k: int | None,
        timings: bool, as_json: bool, backend: str | None, use_api: bool,
        api_base: str | None, api_model: str | None) -> None:
    """Answer QUESTION from your documents, with sources.

    The answer streams as it is written, then the passages it cites are listed as
    [n] path:location. Without --session each call starts a fresh conversation.
    QUESTION '-' reads the question from stdin.

    \b
    Examples:
      ragchat ask "How do I rotate the API keys?"
      ragchat ask "and for staging?" --session ops --timings
      ragchat ask "What changed in v2?" --json | jq .sources
    """
    from ragchat.config import load_settings
    from ragchat.pipeline.factory import open_pipeline
    from ragchat.pipeline.result import TurnCancelled

    if question == "-":
        question = sys.stdin.read().strip()
    if not question.strip():
        raise click.UsageError("the question is empty")
    flags = {"collection": collection, "search_k": k,
             **backend_flags(backend, use_api, api_base, api_model)}
    settings = load_settings(flags)
    pipeline = open_pipeline(settings, session=session, persistent=session is not None)
    say_backend_choice(pipeline, settings)
    if session is not None:
        say_session_resumed(pipeline)
    out = _Stream()
    try:
        result = pipeline.ask(question, on_token=None if as_json else out.write)
    except TurnCancelled:
        if out.reader_gone is not None:
            raise out.reader_gone from None
        click.echo("\nCancelled.", err=True)
        raise SystemExit(130) from None
    finally:
        pipeline.close()
    if as_json:
        click.echo(json_text(result.to_json()))
        return
    _print_after_answer(result, timings)


class _Stream:
    """Writes the answer as it streams, holding back line ends until more text follows: a
    model may end with blank lines, and the sources come one blank line below the answer.
    The answer is untrusted text (it can echo a document): each piece is made safe, which
    holds for an escape sequence split across two pieces too (its ESC is always shown).

    When the reader of the output goes away (`ragchat ask ... | head -1`), the turn is
    stopped as Ctrl-C stops it, rather than the model writing to the end for nobody; the
    BrokenPipeError is kept to be raised again once the turn has stopped."""

    def __init__(self) -> None:
        self.held = ""
        self.reader_gone: BrokenPipeError | None = None

    def write(self, text: str) -> None:
        text = safe(text)
        body = text.rstrip("\n")
        if body:
            try:
                sys.stdout.write(self.held + body)
                sys.stdout.flush()
            except BrokenPipeError as exc:
                self.reader_gone = exc
                raise KeyboardInterrupt from exc  # the pipeline's way to stop a turn
            self.held = ""
        self.held += text[len(body):]


def _print_after_answer(result, timings: bool) -> None:
    from ragchat.cli.repl.render import format_sources, format_timings

    click.echo("")  # end the answer's last line (line ends it streamed last are held back)
    sources = format_sources(result)
    if sources:
        click.echo("\n" + sources)
    if timings:
        click.echo("\n" + format_timings(result))
