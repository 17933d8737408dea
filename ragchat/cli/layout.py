"""Lines for a terminal or a pipe: wrapped at word boundaries to the terminal's width with
indented continuation lines, and never wrapped when the output is not a terminal (a pipe, a
file), so that `grep` and `cut` see one record per line."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap


def output_width(stream=None) -> int | None:
    """Columns to wrap at: the terminal's width, or None (no wrapping) when not a terminal."""
    stream = stream or sys.stdout
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return shutil.get_terminal_size((100, 24)).columns


def wrap(text: str, width: int | None, indent: str = "", first_indent: str | None = None) -> str:
    """`text` on lines of at most `width` columns (None: one line), breaking between words
    only: a path or a URL longer than the line stays whole."""
    first = indent if first_indent is None else first_indent
    if width is None:
        return first + text
    return "\n".join(textwrap.wrap(text, width=max(width, len(indent) + 20),
                                   initial_indent=first, subsequent_indent=indent,
                                   break_long_words=False, break_on_hyphens=False)) or first


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[:cut if cut > limit // 2 else limit].rstrip() + "…"
