"""What a person copies from the terminal works: on a narrow terminal a URL, a path and a
command line come out whole on one line (the answer's Markdown, its code blocks, a quoted
command, the banner's notices), and nothing is wrapped inside a word."""

from __future__ import annotations

import io
import re

from rich.console import Console

from ragchat.cli.layout import wrap_keeping_code
from ragchat.cli.repl.app import Repl
from ragchat.cli.repl.stream import AnswerPrinter

URL = "https://github.com/simonw/llm-gpt4all/archive/b16f1bdc6c6af13a4bc5f7d3e7f2a3cc50c8.zip"
COMMAND = f"llm install '{URL}'"
QUOTE = (f"The model gave no usable answer. The most relevant lines of [2] plugins.md:\n\n"
         f"> Install the plugin from its archive:\n>\n> ```bash\n> {COMMAND}\n> ```\n\n"
         f"See {URL} for the archive, or run `llm install --upgrade llm-gpt4all` again.\n\n"
         "1. check the list with `llm plugins --all` and the page https://llm.datasette.io/"
         "en/stable/plugins/installing-plugins.html\n")


def narrow_terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=40, force_terminal=True, color_system=None), out


def lines_of(text: str) -> list[str]:
    """The lines as a terminal shows them, cursor movements and styles left out."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return [line.split("\r")[-1].rstrip() for line in text.split("\n")]


def test_a_quoted_command_and_urls_stay_whole_at_40_columns():
    console, out = narrow_terminal()
    AnswerPrinter(console)._print_block(QUOTE)
    lines = lines_of(out.getvalue())
    assert COMMAND in lines  # the command alone on its line: no bar, no wrap, no crop
    assert any(line.strip() == URL for line in lines)  # longer than the line: whole
    assert any("llm install --upgrade llm-gpt4all" in line for line in lines)  # inline code
    assert any("https://llm.datasette.io/en/stable/plugins/installing-plugins.html" in line
               for line in lines)  # in a list item
    assert any(line.startswith("The model gave no usable") and len(line) <= 40
               for line in lines)  # prose still wrapped to the terminal
    words = QUOTE.replace(">", " ").replace("`", " ").split()
    shown = " ".join(lines).replace("▌", " ").split()
    assert all(word in words for word in shown if word not in ("1", "bash")), \
        [w for w in shown if w not in words]  # no word cut in two


def test_a_streamed_answer_keeps_the_command_whole(fake_llm):
    console, out = narrow_terminal()
    with AnswerPrinter(console) as printer:
        for at in range(0, len(QUOTE), 7):
            printer.add(QUOTE[at:at + 7])
    assert COMMAND in lines_of(out.getvalue())


def test_code_blocks_are_printed_as_they_are():
    console, out = narrow_terminal()
    code = "def f():\n    return 'a line of code much longer than forty columns, kept whole'"
    AnswerPrinter(console)._print_block(f"Like this:\n\n```python\n{code}\n```")
    assert "\n".join(lines_of(out.getvalue())).strip().endswith(code)


def test_the_banner_wraps_between_words_and_keeps_commands_whole(fake_llm, fake_searcher,
                                                                  tmp_path):
    from ragchat.config import load_settings

    console, out = narrow_terminal()
    notice = ("ragchat · session s1 · collection default · llamacpp (demo)\nIts answers are "
              "short. For real ones on this machine: `ragchat model pull qwen2.5-1.5b-gguf` "
              f"(see `ragchat doctor`); the archive is at {URL}.")
    Repl(None, load_settings({}), console).say(notice)
    lines = lines_of(out.getvalue())
    assert any("`ragchat model pull qwen2.5-1.5b-gguf`" in line for line in lines)
    assert any(URL in line for line in lines)
    assert " ".join(lines).split() == notice.split()  # every word whole, in order
    assert all(len(line) <= 40 for line in lines if URL not in line)


def test_wrapping_breaks_only_between_words_outside_backticks():
    text = "  hint: run `ragchat ingest PATH --collection notes` to make it, then ask again"
    wrapped = wrap_keeping_code(text, 30).split("\n")
    assert "  `ragchat ingest PATH --collection notes`" in wrapped
    assert all(line.startswith("  ") for line in wrapped)
    assert " ".join(wrapped).split() == text.split()
    assert wrap_keeping_code(text, None) == text  # a pipe or a file: one line
    assert wrap_keeping_code("한국어 " * 10, 25).split("\n")[0] == "한국어 한국어 한국어"  # wide


def test_errors_and_notices_on_a_terminal_wrap_between_words(capsys, monkeypatch):
    """stderr on a 40-column terminal: `ragchat: error:` and its hint wrap between words,
    the commands in them whole; on a pipe (the other tests) one line each."""
    import ragchat.cli.layout as layout
    from tests.helpers import cli

    monkeypatch.setattr(layout, "output_width", lambda stream=None: 40)
    code, _, err = cli(capsys, "model", "pull", "qwen2.5-1.5b-gguf")  # offline: a long hint
    lines = err.splitlines()
    assert code != 0 and len(lines) > 4
    assert any("`ragchat model use PATH/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf`" in line
               for line in lines)
    # a line is longer only when it is one token (a URL, a name) or holds a `command`
    assert all(len(line) <= 40 or " " not in line.strip() or "`" in line for line in lines)
    assert all(line.startswith("  ") for line in lines[lines.index(
        next(x for x in lines if x.startswith("  hint:"))):])
