"""HTML to Markdown-ish text: headings become `#` lines, blocks become lines, scripts,
styles and comments go.

Parsed by libxml2's HTML parser (lxml) as a stream of events into a target, never a tree:
it is linear in the input, where Python's html.parser is quadratic on unclosed tags and
comments (`<a <a <a ...` of 20,000 characters took 4 s), and it recovers from any markup.
"""

from __future__ import annotations

import re
from pathlib import Path

from ragchat.ingest.budgets import DEFAULT_OPTIONS, ReadOptions
from ragchat.ingest.document import Document, Section, read_text_file

SKIP = {"script", "style", "noscript", "template", "svg", "head"}
BLOCK = {"p", "div", "br", "li", "tr", "section", "article", "pre", "blockquote", "table",
         "ul", "ol", "dd", "dt", "header", "footer", "main", "nav", "aside", "hr"}
HEADING = re.compile(r"h[1-6]")
SPACES = re.compile(r"[ \t\n]+")
BLANK_LINES = re.compile(r"\n{3,}")


class _TextTarget:
    """The parser's events made text (lxml's target interface)."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.skip_depth = 0

    def start(self, tag: str, attrib: dict) -> None:
        tag = str(tag).lower()
        if tag in SKIP:
            self.skip_depth += 1
        elif HEADING.fullmatch(tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in BLOCK:
            self.out.append("\n")

    def end(self, tag: str) -> None:
        tag = str(tag).lower()
        if tag in SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif HEADING.fullmatch(tag):
            self.out.append("\n\n")
        elif tag in BLOCK:
            self.out.append("\n")

    def data(self, data: str) -> None:
        if self.skip_depth == 0:
            self.out.append(SPACES.sub(" ", data) if data.strip() else data.strip(" \t"))

    def comment(self, text: str) -> None:
        pass

    def close(self) -> str:
        return "".join(self.out)


def read_html(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
    """An HTML file as one Markdown section: its text, its headings as `#` lines."""
    return Document((Section(html_to_text(read_text_file(path)), "markdown"),))


def html_to_text(html: str) -> str:
    """The text a reader of the page sees, with its headings as Markdown headings."""
    from lxml import etree

    parser = etree.HTMLParser(target=_TextTarget(), encoding="utf-8", no_network=True,
                              remove_pis=True)
    parser.feed(html.encode("utf-8", "replace"))
    text = parser.close()
    lines = [line.strip() for line in text.split("\n")]
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
