"""What every reader makes of a file, and how text files are decoded.

The shared ground of ingest/: `Section` and `Document` (what a reader returns),
`UnreadableFileError` (why one file cannot be read), and the decoding of text files
(UTF-8, UTF-16 with a byte order mark, CP949/EUC-KR, then whatever charset_normalizer
finds). The readers (plaintext, pdf, office, xlsx, hwp, hwpx) import this module; the
dispatcher that picks one of them for a file is readers.py.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

from ragchat.errors import RagchatError

HANGUL = re.compile(r"[\uac00-\ud7a3]")


class UnreadableFileError(RagchatError):
    """This one file cannot be read as text (binary, undecodable, broken PDF)."""


@dataclass(frozen=True)
class Section:
    """A piece of a document with its own page (PDF), starting line (text) or place.

    `place` names where the text is for formats without pages or lines ("slide 3",
    "section 2"); it may hold `{start}` and `{end}`, filled with the first and last line
    number of each chunk (a sheet's rows: "sheet Sales, A{start}:D{end}"). `first_line=None`
    means the section's lines are not worth citing. `heading` starts every chunk's heading path.
    """

    text: str
    kind: str  # "markdown", "rst", "text", "code", "html", "pdf"
    page: int | None = None
    first_line: int | None = 1
    place: str | None = None
    heading: str | None = None


@dataclass(frozen=True)
class Document:
    """What a reader made of one file: its sections, how many pages (slides, sheets, ...)
    it has, and what it could not read, page by page, with the reason."""

    sections: tuple[Section, ...]
    unit: str = "file"  # "page", "slide", "sheet", "section", "file"
    units: int = 1
    problems: tuple[str, ...] = ()  # each a sentence: "pages 3-4: no text layer; ..."
    needs_ocr: tuple[int, ...] = ()  # pages left unread for want of OCR
    ocr_pages: tuple[int, ...] = ()  # pages whose text came from OCR


def looks_binary(head: bytes) -> bool:
    """NUL bytes (outside UTF-16 with a BOM) or many control characters mean binary."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    if b"\x00" in head:
        return True
    if not head:
        return False
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return control / len(head) > 0.1


def _utf16(data: bytes) -> str | None:
    """The text of a file with a UTF-16 byte order mark, or None when it is not UTF-16 after
    all: a Latin-1 file may begin with the bytes FF FE (\"ÿþ\"). UTF-16 it is only when the
    whole file decodes (a last odd byte aside) and reads as text: any real text has spaces
    or line ends, which UTF-16 writes with a zero byte, and no control characters."""
    body = data[:len(data) - len(data) % 2]
    try:
        text = body.decode("utf-16")
    except UnicodeDecodeError:
        return None
    if len(text) >= 4 and not any(ch < "\x80" for ch in text):
        return None  # no ASCII at all, not even a space: bytes of another encoding
    control = sum(1 for ch in text if ch < " " and ch not in "\t\n\r\f")
    return text if control <= len(text) // 100 else None


def decode(data: bytes) -> tuple[str, str]:
    """Decode bytes to text; returns (text, encoding). Raises UnreadableFileError."""
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig", errors="replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = _utf16(data)
        if text is not None:
            return text, "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Korean legacy encodings first: short CP949 texts fool generic detectors.
    try:
        text = data.decode("cp949")
        if HANGUL.search(text):
            return text, "cp949"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise UnreadableFileError("cannot detect the text encoding")
    return str(best), best.encoding


def read_text_file(path: Path) -> str:
    """The file's text with any encoding detected and line ends made \\n."""
    data = path.read_bytes()
    if looks_binary(data[:8192]):
        raise UnreadableFileError("binary content")
    text, _ = decode(data)
    return text.replace("\r\n", "\n").replace("\r", "\n")
