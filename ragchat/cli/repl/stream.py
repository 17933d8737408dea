"""Streams an answer to the terminal: markdown, one finished paragraph at a time.

On a terminal the paragraph being written is shown live (rich Live, transient) and
each finished paragraph is printed for good above it, so long answers scroll normally.
Before the first token a spinner names the pipeline stage. Elsewhere: plain text.

The answer is untrusted (a model can echo a document): each streamed piece is made safe
for the terminal before it is kept or shown (an escape sequence split across two pieces
is still inert: its ESC is always shown), and Markdown links are shown with their target,
never as terminal hyperlinks whose target is hidden. Code, commands, paths and URLs are never
cut in two (ragchat.cli.markdown), so that what is copied from the screen works.
"""

from __future__ import annotations

from typing import Any

from ragchat.cli.repl.render import STAGE_LABELS
from ragchat.cli.terminal import safe, safe_line


def split_finished(text: str) -> tuple[str, str]:
    """(finished paragraphs, the paragraph still being written); never splits a code fence."""
    cut = -1
    start = 0
    while (pos := text.find("\n\n", start)) != -1:
        if text.count("```", 0, pos) % 2 == 0:
            cut = pos
        start = pos + 2
    if cut == -1:
        return "", text
    return text[:cut], text[cut + 2:]


class AnswerPrinter:
    def __init__(self, console: Any, markdown: bool = True) -> None:
        self.console = console
        self.live_mode = bool(console.is_terminal)
        self.markdown = markdown and self.live_mode
        self.pending = ""
        self.started = False
        self._live: Any = None
        self._stage = ""
        self._blocks = 0

    def __enter__(self) -> AnswerPrinter:
        if self.live_mode:
            from rich.live import Live

            self._live = Live(self._renderable(), console=self.console, transient=True,
                              refresh_per_second=12, vertical_overflow="crop")
            self._live.start()
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        interrupted = exc_type is not None
        if self._live is not None:
            if interrupted and self.started:
                self._live.transient = False  # leave the partial paragraph where it is
            self._live.stop()
            self._live = None
        if self.live_mode and self.pending.strip() and not (interrupted and self.started):
            self._print_block(self.pending)
        elif not self.live_mode and self.started:
            self.console.file.write("\n")
            self.console.file.flush()
        self.pending = ""

    def stage(self, node: str) -> None:
        self._stage = STAGE_LABELS.get(node) or safe_line(node)
        self._refresh()

    def add(self, text: str) -> None:
        text = safe(text)
        self.started = True
        if not self.live_mode:
            self.console.file.write(text)
            self.console.file.flush()
            return
        finished, self.pending = split_finished(self.pending + text)
        if finished.strip():
            self._print_block(finished)
        self._refresh()

    def _print_block(self, text: str) -> None:
        target = self._live.console if self._live is not None else self.console
        if self._blocks:
            target.print("")
        self._blocks += 1
        if self.markdown:  # code, commands, paths and URLs stay whole, for copying
            from ragchat.cli.markdown import AnswerMarkdown

            target.print(AnswerMarkdown(text), crop=False)
        else:
            from ragchat.cli.layout import wrap_keeping_code

            target.print(wrap_keeping_code(text, target.width), markup=False, highlight=False,
                         soft_wrap=True)

    def _renderable(self) -> Any:
        if not self.started:
            from rich.spinner import Spinner
            from rich.text import Text

            return Spinner("dots", text=Text(self._stage or "thinking"), style="dim")
        if self.markdown:
            from ragchat.cli.markdown import AnswerMarkdown

            return AnswerMarkdown(self.pending)
        from rich.text import Text

        return Text(self.pending)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._renderable(), refresh=True)
