"""`ragchat repl`: the chat about your documents."""

from __future__ import annotations

import sys

import click

from ragchat.cli.options import backend_flags, backend_options, collection_option


@click.command()
@collection_option
@click.option("--session", "-s", default=None, metavar="NAME",
              help="Continue (or start) this conversation [default: a new one].")
@click.option("-k", "k", type=click.IntRange(1, 50), default=None,
              help="Passages to retrieve [default: config 'search_k', else 5].")
@click.option("--json", "as_json", is_flag=True,
              help="With stdin not a terminal: one JSON object per answer (as `ask --json`).")
@backend_options
def repl(collection: str | None, session: str | None, k: int | None, as_json: bool,
         backend: str | None, use_api: bool, api_base: str | None,
         api_model: str | None) -> None:
    """Chat about your documents: streamed answers with sources, follow-ups, /commands.

    Conversations are saved: `--session NAME` (or /session NAME) continues one after a
    restart. Type /help inside for the commands and keys.

    When stdin is not a terminal, each line is one message, answered in turn in one
    process (so the model and its cache stay loaded); --json prints one JSON object
    per answer and sends everything else to stderr.

    \b
    Examples:
      ragchat repl
      ragchat repl --session thesis --collection papers
      printf 'What is X?\\nAnd Y?\\n' | ragchat repl --json
    """
    from ragchat.config import load_settings
    from ragchat.pipeline.factory import open_pipeline

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if as_json and interactive:
        raise click.UsageError("--json is for piped input; use `ragchat ask --json` instead")
    flags = {"collection": collection, "search_k": k,
             **backend_flags(backend, use_api, api_base, api_model)}
    settings = load_settings(flags)
    pipeline = open_pipeline(settings, session=session, require_index=not interactive)
    if not interactive:
        from ragchat.cli.options import say_backend_choice, say_session_resumed

        say_backend_choice(pipeline, settings)
        if session is not None:
            say_session_resumed(pipeline)
    try:
        code = _run(pipeline, settings, interactive, as_json)
    finally:
        pipeline.close()
    raise SystemExit(code)


def _run(pipeline, settings, interactive: bool, as_json: bool) -> int:
    from ragchat.cli.repl.app import Repl, banner, stdin_lines
    from ragchat.cli.terminal import console as make_console

    console = make_console()
    if not interactive:
        info = make_console(stderr=True) if as_json else console
        return Repl(pipeline, settings, console, info=info, as_json=as_json).run_lines(
            stdin_lines())
    from ragchat import paths
    from ragchat.cli.repl.prompt import make_prompt_session

    app = Repl(pipeline, settings, console)
    app.say(banner(pipeline, settings), style="dim")
    session = make_prompt_session(paths.history_file(), toolbar=lambda: _toolbar(pipeline))
    return app.run_interactive(session)


def _toolbar(pipeline) -> str:
    from ragchat.cli.terminal import safe_line

    collection = getattr(pipeline.retriever, "collection", "?")
    where = safe_line(f"{pipeline.session} · {collection} · {pipeline.backend}")
    return (f" {where}   "
            "Enter send · Alt-Enter newline · Ctrl-R search · /help")
