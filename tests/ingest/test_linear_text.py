"""Every pattern and splitter that sees document text runs in linear time: adversarial lines
of 100,000 characters (benchmarks/adversarial_text.py, which times them) go through each
text reader, the chunker and the index tokenizer. The timeout only guards against a hang
(before: a heading line with 100,000 inner spaces never finished); it asserts no speed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ragchat.ingest.budgets import Budgets
from ragchat.ingest.chunking import _markdown_title, _split_long_line
from ragchat.ingest.markup import is_rst_comment, without_html_comments
from ragchat.ingest.worker import ReadJob, read_and_chunk

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from adversarial_text import SUFFIXES, adversarial_lines  # noqa: E402

LINES = adversarial_lines(100_000)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(LINES))
def test_an_adversarial_line_is_read_and_chunked_in_every_text_kind(tmp_path, name):
    from ragchat.index.tokenize import index_string

    for kind, suffix in SUFFIXES.items():
        path = tmp_path / f"case{suffix}"
        path.write_text(LINES[name], encoding="utf-8")
        result = read_and_chunk(ReadJob(str(path), "off", 1000, 150, True), Budgets())
        assert all(len(chunk.text) <= 1000 for chunk in result.chunks), kind
        for chunk in result.chunks:
            index_string(chunk.index_text)


@pytest.mark.parametrize("line, title", [
    ("# Title", (1, "Title")), ("## Title ##", (2, "Title")), ("# C#", (1, "C#")),
    ("### a  #  b ###   ", (3, "a  #  b")), ("#NoSpace", None), ("#", None), ("#   ", None),
    ("####### seven", None), ("# ###", None), ("#\tTabbed", (1, "Tabbed")),
])
def test_markdown_headings_are_parsed_by_hand(line, title):
    assert _markdown_title(line) == title


def test_html_comments_are_removed_and_an_unclosed_one_is_kept():
    assert without_html_comments("a<!-- x -->b<!--y-->c") == "abc"
    assert without_html_comments("a<!-- x --> b <!-- open") == "a b <!-- open"
    assert without_html_comments("<!--" * 5) == "<!--" * 5


@pytest.mark.parametrize("line, comment", [
    ("..", True), (".. a note to editors", True), ("   .. indented", True),
    (".. _label:", False), (".. |sub| replace:: x", False), (".. note::", False),
    ("..no space", False), ("text", False), (".. " + " " * 1000 + ":", False),
])
def test_rest_comments(line, comment):
    assert is_rst_comment(line) is comment


def test_a_long_line_is_cut_into_pieces_no_longer_than_the_size():
    line = ("word " * 50 + "end. ") * 400 + "x" * 5000
    pieces = list(_split_long_line(line, 300))
    assert all(0 < len(p) <= 300 for p in pieces)
    assert "".join(pieces).replace(" ", "") == line.replace(" ", "")
