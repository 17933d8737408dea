"""Slash commands of the chat."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragchat.cli.terminal import safe, safe_line
from ragchat.errors import RagchatError, UsageError

KEYS_HELP = """\
Keys: Enter sends · Alt-Enter (or Esc then Enter) or Ctrl-J adds a line · pasted text keeps
its lines · Up/Down walk the history · Ctrl-R searches it · Ctrl-C cancels an answer or
clears the line · Ctrl-D quits."""


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    run: Callable[[Any, str], None]


def _help(repl: Any, arg: str) -> None:
    width = max(len(c.usage) for c in COMMANDS.values())
    for command in COMMANDS.values():
        repl.say(f"  {command.usage.ljust(width)}  {command.help}")
    repl.say(KEYS_HELP)


def _last(repl: Any) -> Any:
    result = repl.pipeline.last_result()
    if result is None:
        raise UsageError("no answer yet in this session", hint="ask a question first")
    return result


def _sources(repl: Any, arg: str) -> None:
    from ragchat.cli.layout import output_width
    from ragchat.cli.repl.render import format_sources

    result = _last(repl)
    text = format_sources(result, with_text=True, columns=output_width())
    repl.say(text or "The last answer has no sources.")


def _why(repl: Any, arg: str) -> None:
    from ragchat.cli.repl.render import format_why

    repl.say(format_why(_last(repl)))


def _stats(repl: Any, arg: str) -> None:
    from ragchat.cli.repl.render import format_timings

    repl.say(format_timings(_last(repl)))


def _reset(repl: Any, arg: str) -> None:
    repl.pipeline.reset()
    repl.say(f"Session {safe_line(repl.pipeline.session)} cleared: the next question starts "
             "afresh.")


def _session(repl: Any, arg: str) -> None:
    if arg:
        repl.pipeline.switch(arg)
        _, turns = repl.pipeline.history()
        state = f"{len(turns)} turns so far" if turns else "new"
        repl.say(f"Session {safe_line(repl.pipeline.session)} ({state}).")
    else:
        repl.say(f"Session {safe_line(repl.pipeline.session)}. /session NAME switches, "
                 "/sessions lists.")


def _sessions(repl: Any, arg: str) -> None:
    infos = repl.pipeline.sessions()
    if not infos:
        repl.say("No saved sessions yet.")
    for info in infos:
        mark = "*" if info.name == repl.pipeline.session else " "
        summary = " + summary" if info.has_summary else ""
        repl.say(f"{mark} {safe_line(info.name)}  ({info.turns} turns{summary})")


def _collection(repl: Any, arg: str) -> None:
    retriever = repl.pipeline.retriever
    if not arg:
        repl.say(f"Collection {safe_line(retriever.collection)}. /collection NAME switches.")
        return
    previous = retriever.collection
    retriever.use(arg)
    try:
        retriever.open()
    except RagchatError:
        retriever.use(previous)
        raise
    switched = retriever.collection != previous
    repl.say(f"Collection {safe_line(retriever.collection)}."
             + (" The next question is searched on its own (nothing carried over from "
                f"{safe_line(previous)})." if switched else ""))


def _ingest(repl: Any, arg: str) -> None:
    from ragchat.cli.ingest_cmd import summary_lines
    from ragchat.cli.progress import progress_for_terminal
    from ragchat.ingest.ingester import ingest_paths

    if not arg:
        raise UsageError("/ingest needs a path", hint="/ingest ~/notes")
    paths = [Path(p).expanduser() for p in shlex.split(arg)]
    retriever = repl.pipeline.retriever
    with progress_for_terminal(quiet=False) as progress:
        report = ingest_paths(repl.settings, paths, retriever.collection, progress=progress)
    retriever.reload()
    for line in summary_lines(report):  # as `ragchat ingest` says it
        repl.say(line)
    for path, reason in report.failed:
        repl.say(f"  could not read {safe_line(path)}: {safe_line(reason)}", style="yellow")
    for entry in report.partial:
        repl.say(f"  read in part {safe_line(entry.path)}: "
                 + "; ".join(safe_line(p) for p in entry.problems), style="yellow")
    for notice in report.notices:  # about the collection as this ingest left it
        repl.say(safe_line(notice), style="yellow")


def _backend(repl: Any, arg: str) -> None:
    choice = repl.pipeline.choice
    repl.say(f"Backend {safe_line(repl.pipeline.backend)}")
    if choice is not None:
        repl.say(f"  chosen by {safe_line(getattr(choice, 'source', '?'))}: "
                 f"{safe_line(getattr(choice, 'reason', ''))}")
    repl.say("  change it with --backend, --api or --api-base when starting the chat")


def _open(repl: Any, arg: str) -> None:
    result = _last(repl)
    try:
        chunk = result.source(int(arg))
    except ValueError:
        chunk = None
    if chunk is None:
        numbers = ", ".join(str(c.n) for c in result.sources) or "none"
        raise UsageError(f"no source {safe_line(arg or '?')} in the last answer",
                         hint=f"sources are: {numbers}; /sources lists them")
    open_source(chunk)


def _exit(repl: Any, arg: str) -> None:
    repl.running = False


_LINE_AWARE = {"less", "more", "most", "vi", "vim", "nvim", "view", "nano", "emacs",
               "emacsclient", "micro", "kak", "hx", "joe", "mg"}


def viewer_command(path: str, line: int | None, env: dict[str, str]) -> list[str] | None:
    """The command that shows `path` at `line`: $PAGER, else $VISUAL/$EDITOR, else less."""
    for var in ("PAGER", "VISUAL", "EDITOR"):
        if env.get(var, "").strip():
            argv = shlex.split(env[var])
            break
    else:
        if not shutil.which("less"):
            return None
        argv = ["less"]
    if line and os.path.basename(argv[0]) in _LINE_AWARE:
        argv.append(f"+{line}")
    return [*argv, path]


def open_source(chunk: Any) -> None:
    """Open a source at its location; PDF pages are shown as their extracted text (made
    safe: a pager may pass it to the terminal as it is)."""
    if chunk.page is not None or not os.path.isfile(chunk.path):
        _page_text(f"{safe_line(f'{chunk.path}:{chunk.location}')}\n\n{safe(chunk.text)}\n")
        return
    argv = viewer_command(chunk.path, chunk.start_line, dict(os.environ))
    if argv is None:
        _page_text(safe(chunk.text))
        return
    try:
        subprocess.run(argv, check=False)
    except OSError as exc:
        raise RagchatError(f"cannot run {safe_line(argv[0])}: {exc.strerror}",
                           hint="set PAGER or EDITOR to a program that exists") from exc


def _page_text(text: str) -> None:
    import pydoc

    pydoc.pager(text)


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("help", "/help", "this list", _help),
    Command("sources", "/sources", "the last answer's sources, with their text", _sources),
    Command("why", "/why", "rewritten question, route, each passage's score and verdict", _why),
    Command("stats", "/stats", "per-node seconds and per-call tokens, cache hits, speed",
            _stats),
    Command("reset", "/reset", "forget this session's conversation", _reset),
    Command("session", "/session [NAME]", "show or switch the session", _session),
    Command("sessions", "/sessions", "list saved sessions", _sessions),
    Command("collection", "/collection [NAME]", "show or switch the collection", _collection),
    Command("ingest", "/ingest PATH", "add files or folders to the collection", _ingest),
    Command("backend", "/backend", "which LLM answers, and why", _backend),
    Command("open", "/open N", "open source N at its place in $PAGER or $EDITOR", _open),
    Command("exit", "/exit", "quit (also /quit, Ctrl-D)", _exit),
)}
ALIASES = {"quit": "exit", "q": "exit", "h": "help", "?": "help"}


def run_command(repl: Any, text: str) -> None:
    name, _, arg = text[1:].partition(" ")
    name = ALIASES.get(name.lower(), name.lower())
    command = COMMANDS.get(name)
    if command is None:
        raise UsageError(f"unknown command /{name}", hint="/help lists the commands")
    command.run(repl, arg.strip())
