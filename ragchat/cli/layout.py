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


def cells(text: str) -> int:
    """Columns `text` takes on a terminal: 2 for wide (CJK) characters, 0 for combining marks."""
    import unicodedata

    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wrap_keeping_code(text: str, width: int | None) -> str:
    """Each line of `text` on lines of at most `width` columns (None: as it is), broken only at
    spaces outside `backtick spans`: a command, a path or a URL is never cut, and one longer
    than the line stays whole on a line of its own (the terminal shows the rest; a copy of it
    is the whole token). Continuation lines keep the line's indent."""
    if width is None:
        return text
    return "\n".join(_wrap_line(line, width) for line in text.split("\n"))


def _wrap_line(line: str, width: int) -> str:
    if cells(line) <= width:
        return line
    body = line.lstrip(" ")
    pad = line[:len(line) - len(body)]
    room = max(width - len(pad), 20)
    widths = [0]  # widths[i]: columns of body[:i]
    for char in body:
        widths.append(widths[-1] + (len(char) if char.isascii() else cells(char)))
    pieces, start = [], 0
    breaks = _break_points(body)
    b = 0
    while widths[-1] - widths[start] > room:
        while b < len(breaks) and breaks[b] <= start:
            b += 1
        if b == len(breaks):
            break  # no space left to break at: the rest stays whole
        end = breaks[b]  # the first break; then the last one that still fits
        while b + 1 < len(breaks) and widths[breaks[b + 1]] - widths[start] <= room:
            b += 1
            end = breaks[b]
        pieces.append(body[start:end].rstrip(" "))
        start = end
        while start < len(body) and body[start] == " ":
            start += 1
    pieces.append(body[start:])
    return "\n".join(pad + piece for piece in pieces if piece) or line


def _break_points(text: str) -> list[int]:
    """Positions of the spaces a line may be broken at: not inside a `backtick span` (an
    unpaired backtick opens none)."""
    last_tick = text.rfind("`")
    points, in_code = [], False
    for i, char in enumerate(text):
        if char == "`" and (in_code or i < last_tick):
            in_code = not in_code
        elif char == " " and not in_code:
            points.append(i)
    return points


def for_stderr(text: str) -> str:
    """A notice or an error for stderr: wrapped between words (never inside a command or a
    URL) when stderr is a terminal, one line when it is a pipe or a file."""
    return wrap_keeping_code(text, output_width(sys.stderr))
