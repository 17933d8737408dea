"""Text for a terminal: documents, file names and answers are data, never terminal commands.

Everything ragchat prints for a person passes `safe` (prose: answers, snippets, blocks of
lines) or `safe_line` (one field on one line: a path, a heading, a name, an error message).
What a terminal would act on is shown instead, in one convention:

- C0 controls, DEL and C1 controls as `\\x1b`, `\\x07`, `\\x7f`, `\\x9b` (two hex digits). Since
  ESC itself is always shown, a whole escape sequence (CSI `\\x1b[2J`, OSC `\\x1b]0;title\\x07`,
  DCS, APC, PM, SOS) stays on the screen as inert text, also when it arrives split across
  two streamed pieces: each piece can be escaped on its own.
- Line breaks: `safe` keeps newline and tab (and a CR right before a newline) and shows a
  lone CR as `\\r`; `safe_line` shows newline, tab and CR as `\\n`, `\\t`, `\\r`, and the
  Unicode line and paragraph separators as `<U+2028>`, `<U+2029>`, so a name cannot forge
  a line.
- Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069, the
  "Trojan Source" characters), the deprecated format controls U+206A-U+206F, interlinear
  annotation marks U+FFF9-U+FFFB and tag characters U+E0000-U+E007F (except in an emoji
  flag's tag sequence) as `<U+202E>`.
- A byte that was not valid UTF-8 in a file name (Python's surrogate escape) as `\\xff`.

Letters of every script, emoji (with their joiners and variation selectors) and combining
marks are kept as they are. A backslash is not doubled: the visible form is for reading;
`--json` output holds the exact text (`json_text`). One regex pass, linear in the text.

Rich is imported only by `console` and `markup`, so that importing this module stays light.
"""

from __future__ import annotations

import errno
import json
import re
from typing import IO, Any

_FLAG_TAGS = "\U0001f3f4[\U000e0020-\U000e007e]{1,32}\U000e007f"  # 🏴 + tags: a region's flag
_FORMAT = "\u202a-\u202e\u2066-\u206f\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f"
_PROSE = re.compile(f"{_FLAG_TAGS}|\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_FORMAT}]")
_LINE = re.compile(f"{_FLAG_TAGS}|[\x00-\x1f\x7f-\x9f\u2028\u2029{_FORMAT}]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
# what JSON text must not carry raw to stay inert on a terminal (json.dumps escapes C0)
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u206f\ufff9-\ufffb"
                       "\ud800-\udfff]")


def visible(char: str) -> str:
    """The form shown for one character a terminal would act on."""
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    return f"<U+{code:04X}>"


def _replace(match: re.Match[str]) -> str:
    found = match.group()
    return found if len(found) > 1 else visible(found)  # longer: an emoji flag, kept


def safe(text: object) -> str:
    """Prose for a terminal: newlines and tabs kept, everything a terminal acts on shown."""
    text = text if isinstance(text, str) else str(text)
    return _PROSE.sub(_replace, text)


def safe_line(text: object) -> str:
    """One field on one line (a path, a heading, a name, a message): as `safe`, and line
    breaks and tabs shown as `\\n`, `\\t`, `\\r`."""
    text = text if isinstance(text, str) else str(text)
    return _LINE.sub(_replace, text)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_text(value: Any, **dumps: Any) -> str:
    """JSON that holds the exact data (json.loads gives it back unchanged) and is inert on
    a terminal: C1 controls, DEL, bidi and line-separator characters and undecodable bytes
    are written as \\u escapes (json.dumps already escapes the C0 controls)."""
    dumps.setdefault("ensure_ascii", False)
    return _JSON_RAW.sub(_json_escape, json.dumps(value, **dumps))


def markup(text: object) -> str:
    """A field inside rich markup: made safe, and its brackets escaped so that a name such
    as '[bold red]' is shown, not applied."""
    from rich.markup import escape

    return escape(safe_line(text))


class SafeWriter:
    """A text stream that passes everything written through `safe` (for click's own
    messages, which quote the command line's arguments)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(safe(text))

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False


def console(stderr: bool = False, **options: Any) -> Any:
    """A rich Console for ragchat's output: no emoji codes (':smile:' stays as typed), no
    highlighting, and a reader that went away (`| head`) raises BrokenPipeError, which
    the command line turns into a quiet exit 0 (rich's own handling exits 1)."""
    options.setdefault("highlight", False)
    options.setdefault("emoji", False)
    return _console_class()(stderr=stderr, **options)


_CONSOLE_CLASS: Any = None


def _console_class() -> Any:
    global _CONSOLE_CLASS
    if _CONSOLE_CLASS is None:
        from rich.console import Console

        class QuietPipeConsole(Console):
            def on_broken_pipe(self) -> None:
                self.quiet = True
                raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")

        _CONSOLE_CLASS = QuietPipeConsole
    return _CONSOLE_CLASS
