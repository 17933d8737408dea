"""The `ragchat` command: parse, dispatch, and turn RagchatError into one line and an exit code.

Subcommands live in their own modules and are imported only when they run, so that
`ragchat --help` never imports torch, sentence-transformers, langgraph or an LLM engine.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from ragchat import __version__
from ragchat.cli.layout import for_stderr
from ragchat.cli.terminal import SafeWriter, safe_line

# name -> (module, attribute, one-line help shown by `ragchat --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "ingest": ("ragchat.cli.ingest_cmd", "ingest", "Make folders and files searchable."),
    "search": ("ragchat.cli.search_cmd", "search", "Hybrid search (dense + BM25), no LLM."),
    "ask": ("ragchat.cli.ask_cmd", "ask", "Answer one question with sources."),
    "repl": ("ragchat.cli.repl_cmd", "repl", "Chat about your documents."),
    "model": ("ragchat.cli.model_cmd", "model", "Download, list, remove and choose models."),
    "doctor": ("ragchat.cli.doctor_cmd", "doctor", "Check GPU, CUDA, models, token, index."),
    "bench": ("ragchat.cli.bench_cmd", "bench", "Measure load, inference and pipeline times."),
    "eval": ("ragchat.cli.eval_cmd", "eval", "Measure retrieval and answer quality on a QA file."),
    "collections": ("ragchat.cli.collections_cmd", "collections", "List or remove collections."),
}


class ReaderGone(Exception):
    """The program reading ragchat's output went away (`ragchat search q | head -1`).

    Not an OSError, so that click's own handling of EPIPE (exit 1) lets it through."""


@contextmanager
def _reader_gone_passes_click() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        raise ReaderGone() from exc


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        with _reader_gone_passes_click():  # --help and --version write here
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _reader_gone_passes_click():
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr, _ = COMMANDS[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return _unavailable(name)
        return getattr(module, attr)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        """An unknown command gets the nearest known ones as suggestions."""
        name = click.utils.make_str(args[0]) if args else ""
        if args and name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=2, cutoff=0.7)
            hint = (" Did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close \
                else ""
            ctx.fail(f"No such command '{name}'.{hint} `ragchat --help` lists the commands.")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, (_, _, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _unavailable(name: str) -> click.Command:
    def run() -> None:
        raise click.ClickException(f"`ragchat {name}` is not part of this version yet.")

    return click.Command(name, callback=run, help="Not available in this version.")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ragchat")
def cli() -> None:
    """Chat with your own documents, privately, with sources.

    \b
    Start with:
      ragchat ingest ~/notes        make a folder searchable
      ragchat search "query"        find passages (no LLM)
      ragchat ask "question"        one answer with sources
      ragchat repl                  the chat

    Settings come from flags, then RAGCHAT_* environment variables, then the config
    file (see `ragchat doctor`), then defaults. RAGCHAT_HOME moves every file ragchat
    writes; RAGCHAT_DEBUG=1 shows tracebacks.
    """


def _log_traceback() -> str | None:
    import traceback

    from ragchat import paths

    try:
        folder = paths.log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / "last-error.log"
        log.write_text(traceback.format_exc(), encoding="utf-8")
        return str(log)
    except OSError:
        return None


class _StderrNotices(logging.Handler):
    """The library's warnings (notices about models, indexes, fallbacks) as one line each on
    stderr, prefixed like every other message: the library itself writes no terminal output."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(for_stderr(f"ragchat: {safe_line(record.getMessage())}"), err=True)
        except Exception:  # never let a notice break the command
            self.handleError(record)


def show_library_notices() -> None:
    log = logging.getLogger("ragchat")
    if not any(isinstance(h, _StderrNotices) for h in log.handlers):
        log.addHandler(_StderrNotices(logging.WARNING))


def _exit_on_storage_problem(exc: Exception) -> None:
    """A folder ragchat cannot write (RAGCHAT_HOME a file or read-only, a full disk) is the
    user's to fix: one line with what to do, no traceback, exit 2."""
    from ragchat.paths import storage_problem

    problem = storage_problem(exc)
    if problem is not None:
        click.echo(f"ragchat: error: {safe_line(problem.message)}", err=True)
        click.echo(f"  hint: {safe_line(problem.hint)}", err=True)
        sys.exit(problem.exit_code)


def main(argv: list[str] | None = None) -> None:
    """Run ragchat. A reader of the output that went away ends it quietly with exit 0."""
    try:
        try:
            _run(argv)
        finally:  # flushed here: at interpreter exit a closed pipe would be exit 120
            sys.stdout.flush()
    except (ReaderGone, BrokenPipeError):
        _end_quietly()


def _run(argv: list[str] | None) -> None:
    from ragchat.errors import RagchatError

    show_library_notices()
    debug = os.environ.get("RAGCHAT_DEBUG", "") not in ("", "0")
    try:
        cli.main(args=argv, prog_name="ragchat", standalone_mode=False)
    except RagchatError as exc:  # the user's to fix: a message, no traceback, no log
        if debug:
            raise
        click.echo(for_stderr(f"ragchat: error: {safe_line(exc.message)}"), err=True)
        if exc.hint:
            click.echo(for_stderr(f"  hint: {safe_line(exc.hint)}"), err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show(file=SafeWriter(sys.stderr))  # type: ignore[arg-type]  # a text stream
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("\nInterrupted.", err=True)
        sys.exit(130)
    except (ReaderGone, BrokenPipeError) as exc:
        if _output_closed():
            raise
        _internal_error(exc.__cause__ or exc, debug)  # an EPIPE from elsewhere: a bug
    except Exception as exc:
        _internal_error(exc, debug)


def _internal_error(exc: BaseException, debug: bool) -> NoReturn:
    if debug:
        raise exc
    if isinstance(exc, Exception):
        _exit_on_storage_problem(exc)
    log = _log_traceback()
    click.echo("ragchat: internal error (this is a bug).", err=True)
    if log:
        click.echo(f"  the traceback is in {safe_line(log)}; RAGCHAT_DEBUG=1 shows it here",
                   err=True)
    sys.exit(70)


def _end_quietly() -> NoReturn:
    """`ragchat search q | head -1`: the reader has what it wanted; not an error. What is
    left to write goes to the null device (as the Python docs' note on SIGPIPE shows), so
    that nothing fails again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        if stream is sys.stdout or _reader_left(stream):
            try:
                os.dup2(devnull, stream.fileno())
            except (AttributeError, ValueError, OSError):  # not a real file (tests)
                pass
    sys.exit(0)


def _output_closed() -> bool:
    """The reader of stdout or stderr went away (True where the system cannot tell)."""
    import select

    if not hasattr(select, "poll"):
        return True
    return _reader_left(sys.stdout) or _reader_left(sys.stderr)


def _reader_left(stream: Any) -> bool:
    """`stream` is a pipe or socket whose reading end is closed."""
    import select

    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, ValueError, OSError):
        return False
