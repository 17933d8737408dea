"""The chat loop: read a line, run a slash command or a turn, show the answer and sources."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ragchat.cli.terminal import json_text, safe, safe_line
from ragchat.config import Settings
from ragchat.errors import RagchatError

CANCELLED = "Cancelled; the conversation is as it was before this question."


@contextmanager
def quiet_terminal() -> Iterator[None]:
    """No echo of keys (^C included) while an answer is drawn, and no output flush on
    Ctrl-C: either would move the cursor under the live display and garble it."""
    try:
        import termios

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    except Exception:  # no termios (Windows), no real stdin, termios.error
        saved = None
    if saved is None:
        yield
        return
    quiet = list(saved)
    quiet[3] = (quiet[3] & ~(termios.ECHO | getattr(termios, "ECHOCTL", 0))) | termios.NOFLSH
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


@contextmanager
def ctrl_c_cancels(handle: Any) -> Iterator[None]:
    """While an answer streams, Ctrl-C cancels it instead of interrupting the rendering
    mid-write (which would garble the terminal). A second Ctrl-C interrupts as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if handle.cancelled:
            raise KeyboardInterrupt
        handle.cancel()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with quiet_terminal():
            yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Repl:
    """One chat over one pipeline. `console` gets answers; `info` gets everything else."""

    def __init__(self, pipeline: Any, settings: Settings, console: Any, *, info: Any = None,
                 as_json: bool = False, k: int | None = None) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.console = console
        self.info = info or console
        self.as_json = as_json
        self.k = k
        self.running = True
        self.exit_code = 0  # of the first failure (piped input: the process's exit status)

    # --- output -------------------------------------------------------------------------
    def say(self, text: str, style: str | None = None) -> None:
        """Print `text` as it is (no markup), made safe for the terminal; on a terminal,
        wrapped between words, never inside a `command`, a path or a URL."""
        from ragchat.cli.layout import wrap_keeping_code

        width = self.info.width if self.info.is_terminal else None
        self.info.print(wrap_keeping_code(safe(text), width), style=style, markup=False,
                        highlight=False, soft_wrap=True)

    def error(self, exc: BaseException) -> None:
        code = exc.exit_code if isinstance(exc, RagchatError) else 1
        self.exit_code = self.exit_code or code
        if isinstance(exc, RagchatError):
            self.say(f"error: {safe_line(exc.message)}", style="bold red")
            if exc.hint:
                self.say(f"  hint: {safe_line(exc.hint)}", style="red")
        else:
            self.say(f"error: {safe_line(exc)}", style="bold red")

    def _report_deferred(self) -> None:
        exc = getattr(self.pipeline, "deferred_error", None)
        if exc is not None:
            self.pipeline.deferred_error = None
            self.say("saving the conversation summary failed:", style="yellow")
            self.error(exc)

    # --- input --------------------------------------------------------------------------
    def submit(self, line: str) -> None:
        """Handle one input: a slash command or a question."""
        text = line.strip()
        if not text:
            return
        if text.startswith("/"):
            from ragchat.cli.repl.commands import run_command

            try:
                run_command(self, text)
            except RagchatError as exc:
                self.error(exc)
            return
        self.turn(text)

    def turn(self, question: str) -> None:
        if self.as_json:
            self._json_turn(question)
        else:
            self._streamed_turn(question)

    def _json_turn(self, question: str) -> None:
        from ragchat.pipeline.result import TurnCancelled

        try:
            result = self.pipeline.ask(question, k=self.k)
        except TurnCancelled:
            self.say(CANCELLED)
            return
        except RagchatError as exc:  # said on stderr; stdout keeps one object per question
            self.error(exc)
            failed = {"question": question, "error": {"message": exc.message, "hint": exc.hint,
                                                      "exit_code": exc.exit_code}}
            self.console.file.write(json_text(failed) + "\n")
            self.console.file.flush()
            return
        self.console.file.write(json_text(result.to_json()) + "\n")
        self.console.file.flush()

    def _streamed_turn(self, question: str) -> None:
        from ragchat.cli.repl.stream import AnswerPrinter
        from ragchat.pipeline.chat import Answered, Done, Stage, Token
        from ragchat.pipeline.result import TurnCancelled

        handle = self.pipeline.start_turn(question, self.k)
        self._report_deferred()
        result = None
        try:
            with AnswerPrinter(self.console) as printer, ctrl_c_cancels(handle):
                for event in handle.events():
                    if isinstance(event, Token):
                        printer.add(event.text)
                    elif isinstance(event, Stage):
                        printer.stage(event.node)
                    elif isinstance(event, (Answered, Done)):
                        result = event.result
                        break
        except (KeyboardInterrupt, TurnCancelled):
            self._cancel(handle)
            return
        except BrokenPipeError:  # nobody reads the answer (`| head`): stop the model now
            handle.cancel()
            raise
        except RagchatError as exc:
            self.error(exc)
            return
        self._show_sources(result)

    def _cancel(self, handle: Any) -> None:
        from ragchat.pipeline.result import TurnCancelled

        handle.cancel()
        try:
            handle.wait()
        except TurnCancelled:
            pass
        except RagchatError as exc:
            self.error(exc)
        self.say(CANCELLED, style="yellow")

    def _show_sources(self, result: Any) -> None:
        from ragchat.cli.repl.render import source_line, sources_heading

        if result is None:
            return
        if result.sources:
            self.console.print("")
            if result.sources_kind != "cited":
                self.console.print(sources_heading(result), style="dim", markup=False,
                                   highlight=False)
            for chunk in result.sources:
                self.console.print(source_line(chunk), style="dim", markup=False,
                                   highlight=False, soft_wrap=True)
        if self.console.is_terminal:
            self.console.print("")

    # --- loops --------------------------------------------------------------------------
    def run_lines(self, lines: Iterable[str]) -> int:
        """Non-interactive: one message per line, answered in turn. A line that fails is
        said and the next one is taken; the exit status is the first failure's (0: none)."""
        for line in lines:
            self.submit(line)
            if not self.running:
                break
        self.pipeline.settle()
        self._report_deferred()
        return self.exit_code

    def run_interactive(self, session: Any) -> int:
        """prompt_toolkit loop. Ctrl-C clears the line, Ctrl-D or /exit ends (exit code 0)."""
        while self.running:
            try:
                line = session.prompt()
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            self.submit(line)
        self.pipeline.settle()
        return 0


def banner(pipeline: Any, settings: Settings | None = None) -> str:
    from ragchat.cli.options import caveat_notice, model_caveat, session_state

    choice = getattr(pipeline, "choice", None)
    caveat = model_caveat(pipeline)
    reason = pipeline.capabilities.label if caveat else getattr(choice, "reason", "")
    backend = safe_line(pipeline.backend + (f" ({reason})" if reason else ""))
    collection = safe_line(getattr(pipeline.retriever, "collection", "?"))
    state = session_state(pipeline)  # a resumed session says how much it holds
    session = safe_line(pipeline.session) + (f" ({state})" if state else "")
    text = (f"ragchat · session {session} · collection {collection} · {backend}\n"
            "Ask about your documents. /help lists commands; Alt-Enter adds a line; "
            "Ctrl-D quits.")
    if caveat and settings is not None:
        text += "\n" + caveat_notice(caveat, settings)
    return text


def stdin_lines() -> Iterable[str]:
    for line in sys.stdin:
        yield line.rstrip("\n")
