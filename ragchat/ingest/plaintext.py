"""Text files: Markdown, reST, plain text, source code and configuration. The whole file is
one section, decoded (document.py) and cut later by its structure (chunking.py, markup.py)."""

from __future__ import annotations

from pathlib import Path

from ragchat.ingest.budgets import DEFAULT_OPTIONS, ReadOptions
from ragchat.ingest.document import Document, Section, read_text_file


def read_markdown(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
    return _whole(path, "markdown")


def read_rst(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
    return _whole(path, "rst")


def read_plain(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
    return _whole(path, "text")


def read_code(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
    return _whole(path, "code")


def _whole(path: Path, kind: str) -> Document:
    return Document((Section(read_text_file(path), kind),))
