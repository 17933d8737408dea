"""Documents and file names are data: a real ingest of names and text holding escape
sequences, then every human-facing output shows them inert, and --json holds them exactly."""

from __future__ import annotations

import json
import logging

import pytest

from tests.helpers import cli

CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"
CLIPBOARD = "\x1b]52;c;cHduZWQ=\x07"
HOSTILE = f"{CLEAR} {TITLE} {CLIPBOARD} bell\x07 \u202egnp.exe \x9b2J"
NAME = f"bees {HOSTILE}\nforged: line.md"
TEXT = f"# Bees {HOSTILE}\n\nHoney bees dance {HOSTILE} to show where the flowers are.\n"


def assert_inert(*outputs: str) -> None:
    """No raw ESC, BEL, other C0 control (but newline), C1 control or bidi override."""
    for output in outputs:
        bad = sorted({f"U+{ord(c):04X}" for c in output
                      if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f
                      or 0x202a <= ord(c) <= 0x202e or 0x2066 <= ord(c) <= 0x2069})
        assert not bad, f"raw {bad} in {output!r}"


def assert_no_forged_line(output: str) -> None:
    assert not any(line.startswith("forged: line") for line in output.splitlines())


@pytest.fixture
def hostile_docs(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / NAME).write_text(TEXT, encoding="utf-8")
    (root / f"pic {TITLE}\nforged: line.png").write_bytes(b"\x89PNG")  # skipped
    (root / f"junk {CLIPBOARD}\nforged: line.txt").write_bytes(b"\x00\x01" * 100)  # fails
    return root


@pytest.fixture
def ingested(capsys, hostile_docs):
    code, _, err = cli(capsys, "ingest", str(hostile_docs))
    assert code == 0, err
    return hostile_docs


def test_search_shows_names_headings_and_text_inert(capsys, ingested):
    code, out, err = cli(capsys, "search", "honey bees dance", "-k", "1")
    assert code == 0, err
    assert_inert(out, err)
    assert_no_forged_line(out)
    assert "\\x1b]0;pwned\\x07" in out and "\\x1b]52;c;cHduZWQ=\\x07" in out
    assert "<U+202E>gnp.exe" in out and "\\x9b2J" in out and "\\nforged: line.md" in out


def test_search_json_holds_the_exact_strings(capsys, ingested):
    code, out, _ = cli(capsys, "search", "honey bees dance", "-k", "1", "--json")
    assert code == 0
    assert_inert(out)  # the JSON text itself is inert: escapes, not raw bytes
    [hit] = json.loads(out)["results"]
    assert hit["path"] == str(ingested / NAME)
    assert hit["heading"] == f"Bees {HOSTILE}"
    assert HOSTILE in hit["text"]


def test_ingest_report_and_verbose_lists_are_inert(capsys, hostile_docs):
    code, out, err = cli(capsys, "ingest", str(hostile_docs), "--report", "-v")
    assert code == 0, err
    assert_inert(out, err)
    assert_no_forged_line(out + err)
    assert "\\x1b]0;pwned\\x07\\nforged: line.png" in out  # -v: the skipped file
    assert "\\x1b]52;c;cHduZWQ=\\x07\\nforged: line.txt" in out + err  # could not read
    assert "<U+202E>gnp.exe" in out  # --report: the file read


def test_ingest_json_holds_the_exact_names(capsys, hostile_docs):
    code, out, _ = cli(capsys, "ingest", str(hostile_docs), "--json")
    assert code == 0
    assert_inert(out)
    report = json.loads(out)
    assert str(hostile_docs / NAME) in {f["path"] for f in report["files"]}


def test_errors_naming_a_hostile_path_or_name_are_inert(capsys, tmp_path):
    code, out, err = cli(capsys, "ingest", str(tmp_path / f"missing {TITLE}\nforged: line"))
    assert code == 2 and "\\x1b]0;pwned\\x07" in err
    assert_inert(out, err)
    assert_no_forged_line(err)
    code, _, err = cli(capsys, "search", "x", "--collection", CLIPBOARD)
    assert code == 2 and "\\x1b]52;c;cHduZWQ=\\x07" in err
    assert_inert(err)
    code, _, err = cli(capsys, f"serch{TITLE}")  # click's own message quotes it
    assert code == 2 and "\\x1b]0;pwned\\x07" in err
    assert_inert(err)


def test_library_notices_are_inert(capsys):
    from ragchat.cli.main import show_library_notices

    show_library_notices()
    logging.getLogger("ragchat.index").warning("cannot read %s", f"{TITLE}\nforged: line")
    err = capsys.readouterr().err
    assert err == "ragchat: cannot read \\x1b]0;pwned\\x07\\nforged: line\n"
