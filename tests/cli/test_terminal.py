"""The one function that makes text safe for a terminal, and JSON that stays exact."""

from __future__ import annotations

import io
import json

import pytest

from ragchat.cli.terminal import SafeWriter, console, json_text, markup, safe, safe_line

CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"
CLIPBOARD = "\x1b]52;c;cHduZWQ=\x07"
CLIPBOARD_ST = "\x1b]52;c;cHduZWQ=\x1b\\"
DCS = "\x1bP1$r0m\x1b\\"
HOSTILE = f"{CLEAR}{TITLE}{CLIPBOARD}{CLIPBOARD_ST}{DCS}\x07\x7f\x9b2J\x9d0;t\x9c\u202e\u2066"


def inert(text: str) -> bool:
    """No byte a terminal acts on: C0 (but newline and tab), DEL, C1, bidi controls."""
    return not any((ord(c) < 0x20 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f
                   or 0x202a <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069 for c in text)


@pytest.mark.parametrize("function", [safe, safe_line])
def test_escape_sequences_are_shown_whole_and_inert(function):
    shown = function(f"a{HOSTILE}b")
    assert inert(shown)
    assert "\\x1b[2J" in shown  # CSI
    assert "\\x1b]0;pwned\\x07" in shown  # OSC 0 (window title), to BEL
    assert "\\x1b]52;c;cHduZWQ=\\x07" in shown and "\\x1b]52;c;cHduZWQ=\\x1b\\" in shown
    assert "\\x1bP1$r0m\\x1b\\" in shown  # DCS, to ST
    assert "\\x7f" in shown and "\\x9b2J" in shown and "\\x9d0;t\\x9c" in shown  # DEL, C1
    assert "<U+202E>" in shown and "<U+2066>" in shown  # bidi override and isolate


def test_prose_keeps_lines_and_tabs_a_field_shows_them():
    text = "one\ttwo\nthree\r\nfour\rover"
    assert safe(text) == "one\ttwo\nthree\r\nfour\\rover"  # a lone CR would overwrite
    assert safe_line(text) == "one\\ttwo\\nthree\\r\\nfour\\rover"
    assert safe_line("name\u2028forged\u2029") == "name<U+2028>forged<U+2029>"
    assert safe_line("\x0b\x0c\x00") == "\\x0b\\x0c\\x00"


@pytest.mark.parametrize("text", [
    "보고서 초안: 한국어 문서를 검색합니다.",
    "café naïve e\u0301 (combining acute)",
    "emoji 😀 👍🏽 family 👨\u200d👩\u200d👧 heart ❤\ufe0f",
    "flag \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f (Scotland)",
    "العربية עברית 中文 日本語 — “quotes” and a path C:\\Users\\me\\notes.md",
    "zero width non-joiner: می\u200cخواهم",
])
def test_ordinary_text_of_every_script_is_kept(text):
    assert safe(text) == text and safe_line(text) == text


def test_invisible_characters_that_hide_text_are_shown():
    assert safe("a\U000e0041\U000e0042b") == "a<U+E0041><U+E0042>b"  # tags outside a flag
    assert safe("x\u206ay\ufff9z") == "x<U+206A>y<U+FFF9>z"


def test_a_byte_that_was_not_utf8_in_a_name_is_shown_as_that_byte():
    name = b"report-\xff\x9b.txt".decode("utf-8", "surrogateescape")
    assert safe_line(name) == "report-\\xff\\x9b.txt"
    safe_line(name).encode("utf-8")  # printable: no lone surrogate left


def test_a_sequence_split_across_streamed_pieces_stays_inert():
    pieces = ["the answer \x1b", "]52;c;cHduZWQ=", "\x07 and \x1b[", "2J done \x9b", "2J"]
    shown = "".join(safe(p) for p in pieces)
    assert inert(shown)
    assert shown == safe("".join(pieces))


def test_safe_is_idempotent_and_takes_any_object(tmp_path):
    once = safe_line(HOSTILE)
    assert safe_line(once) == once and safe(once) == once
    assert safe_line(tmp_path / "a\nb") == f"{tmp_path}/a\\nb"


def test_long_hostile_text_is_linear():
    text = ("\U0001f3f4" + "\U000e0061" * 40 + "\x1b[" + "1;" * 50) * 20_000
    shown = safe(text)  # would take minutes if a pattern backtracked
    assert inert(shown)


def test_json_holds_the_exact_text_and_is_inert():
    data = {"path": f"docs/{HOSTILE}\nline\udcff.md", "text": "한국어 😀"}
    text = json_text(data)
    assert json.loads(text) == data
    assert inert(text.replace("\n", "")) and "\n" not in text
    assert "한국어 😀" in text  # not escaped to \u: readable
    assert json.loads(json_text([data], indent=2)) == [data]


def test_rich_markup_in_a_name_is_shown_not_applied():
    out = io.StringIO()
    term = console(file=out, force_terminal=True, color_system="truecolor", width=200)
    term.print(f"[dim]{markup('[bold red]boom[/bold red] :smile:' + CLEAR)}[/dim]")
    shown = out.getvalue()
    assert "[bold red]boom[/bold red] :smile:\\x1b[2J" in shown
    assert "\x1b[1;31m" not in shown and "😄" not in shown


def test_safe_writer_makes_click_messages_safe():
    out = io.StringIO()
    SafeWriter(out).write(f"Error: no such file '{TITLE}'\n")
    assert out.getvalue() == "Error: no such file '\\x1b]0;pwned\\x07'\n"


def test_console_reports_a_closed_pipe_as_broken_pipe_not_exit_1():
    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    term = console(file=Closed())
    with pytest.raises(BrokenPipeError):
        term.print("text")
