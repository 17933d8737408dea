"""Markdown for a terminal that keeps code, commands, paths and URLs whole, so that a person
can copy them.

rich's Markdown wraps a paragraph at spaces and folds a word longer than the line (a URL is
cut in two), wraps code blocks inside the block, and crops what a block quote or a list item
holds to its width. Here:

- paragraphs break only at spaces outside `inline code`; a word longer than the line (a URL,
  a path) stays whole and runs past the edge (the terminal shows the rest on the next row,
  and a copy of it is the whole token);
- code blocks are printed as they are, line for line, never wrapped, cropped or padded, and
  without the quote's bar in front when they stand in a block quote (the quote fallback
  quotes commands): what is copied is the command;
- block quotes and list items keep every line as long as it is.

Print it with `console.print(AnswerMarkdown(text), crop=False)`. This module imports rich:
import it only where rich is loaded anyway (the chat).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, cast

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import (
    BlockQuote,
    CodeBlock,
    Heading,
    ListItem,
    Markdown,
    MarkdownElement,
    Paragraph,
)
from rich.segment import Segment

KEEP = "\ue000"  # stands for a space inside `inline code` while a paragraph is wrapped
CODE_STYLE = "cyan"


def _lines(console: Console, renderables: Iterable[Any], options: ConsoleOptions,
           style: Any) -> list[list[Segment]]:
    """Rendered lines, as long as they are (rich's render_lines crops them to the width)."""
    segments: list[Segment] = []
    for renderable in renderables:
        segments.extend(console.render(renderable, options))
    return list(Segment.split_lines(Segment.apply_style(segments, style)))


def _children(elements: Any) -> list[Any]:
    """What a quote or a list item holds (rich types its Renderables as a bare Iterable)."""
    return list(cast(Any, elements))


class WholeParagraph(Paragraph):
    """Wrapped at spaces outside inline code; a longer word is never folded."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich._wrap import divide_line  # what Text.wrap uses, without its cropping

        for paragraph_line in self.text.split(allow_blank=True):
            offsets = divide_line(str(paragraph_line), options.max_width, fold=False)
            for line in paragraph_line.divide(offsets):
                line.rstrip()
                if KEEP in line.plain:
                    line.plain = line.plain.replace(KEEP, " ")  # same length: styles stay
                yield from line.render(console)
                yield Segment.line()


class WholeHeading(Heading):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = self.text.copy()
        text.plain = text.plain.replace(KEEP, " ")
        text.justify = self.LEVEL_ALIGN.get(self.tag, "left")
        text.overflow = "ignore"
        yield text


class RawCode(CodeBlock):
    """A code block as it is: one terminal line per line of code, nothing added."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in str(self.text).rstrip().split("\n"):
            yield Segment(line, console.get_style(CODE_STYLE))
            yield Segment.line()


class WholeBlockQuote(BlockQuote):
    """A quote's lines behind a bar, none cropped; its code blocks without the bar."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        inner = options.update(width=max(options.max_width - 4, 1))
        bar = Segment("▌ ", self.style)
        for number, element in enumerate(_children(self.elements)):
            if number:  # a bar alone between a quote's paragraphs and code blocks
                yield Segment("▌", self.style)
                yield Segment.line()
            if isinstance(element, RawCode):
                yield from console.render(element, options)
                continue
            for line in _lines(console, [element], inner, self.style):
                yield bar
                yield from line
                yield Segment.line()


class WholeListItem(ListItem):
    """A list item whose lines are never cropped."""

    def _item(self, console: Console, options: ConsoleOptions, first: Segment,
              rest: Segment) -> RenderResult:
        lines = _lines(console, _children(self.elements), options, self.style)
        for number, line in enumerate(lines):
            yield first if number == 0 else rest
            yield from line
            yield Segment.line()

    def render_bullet(self, console: Console, options: ConsoleOptions) -> RenderResult:
        style = console.get_style("markdown.item.bullet", default="none")
        inner = options.update(width=max(options.max_width - 3, 1))
        yield from self._item(console, inner, Segment(" • ", style), Segment("   ", style))

    def render_number(self, console: Console, options: ConsoleOptions, number: int,
                      last_number: int) -> RenderResult:
        width = len(str(last_number)) + 2
        style = console.get_style("markdown.item.number", default="none")
        inner = options.update(width=max(options.max_width - width, 1))
        yield from self._item(console, inner, Segment(f"{number}".rjust(width - 1) + " ", style),
                              Segment(" " * width, style))


class AnswerMarkdown(Markdown):
    """An answer as Markdown that keeps code, commands, paths and URLs whole."""

    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **Markdown.elements,
        "paragraph_open": WholeParagraph,
        "heading_open": WholeHeading,
        "fence": RawCode,
        "code_block": RawCode,
        "blockquote_open": WholeBlockQuote,
        "list_item_open": WholeListItem,
    }

    def __init__(self, markup: str, **options: Any) -> None:
        options.setdefault("hyperlinks", False)  # a link shows its target: never hidden
        super().__init__(markup, **options)
        if KEEP not in markup:  # (a text that holds the stand-in itself keeps it as it is)
            _keep_inline_code_whole(self.parsed)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """As rich renders it, without the blank line rich puts before a text that opens
        with a quote (the chat puts one blank line between blocks itself)."""
        started = False
        for segment in super().__rich_console__(console, options):
            if not started and isinstance(segment, Segment) and segment.text == "\n":
                continue
            started = True
            yield segment


def _keep_inline_code_whole(tokens: list[Any]) -> None:
    """Spaces in the `inline code` of paragraphs and headings as KEEP, so that a paragraph
    is never broken inside it (tables keep theirs: rich lays out their cells)."""
    in_table = 0
    for token in tokens:
        in_table += {"table_open": 1, "table_close": -1}.get(token.type, 0)
        if token.type == "inline" and not in_table:
            for child in token.children or ():
                if child.type == "code_inline" and child.content:
                    child.content = child.content.replace(" ", KEEP)
