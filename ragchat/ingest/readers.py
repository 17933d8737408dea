"""Turn a file into text sections: decode (UTF-8, UTF-16, CP949/EUC-KR, ...), strip HTML, and
hand PDF, office (DOCX, PPTX, XLSX, CSV) and Hancom (HWP, HWPX) files to their own readers."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

from ragchat.errors import RagchatError

MARKDOWN = {".md", ".markdown", ".mdx"}
RST = {".rst"}
HTML = {".html", ".htm", ".xhtml"}
PDF = {".pdf"}
PLAIN = {".txt", ".text", ".log", ".org", ".adoc", ".tex", ".bib"}
TABLE = {".csv", ".tsv"}
OFFICE = {".docx": "docx", ".pptx": "pptx", ".xlsx": "xlsx", ".xlsm": "xlsx",
          ".hwp": "hwp", ".hwpx": "hwpx"}
SOURCE = {
    ".py", ".pyi", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".kts", ".scala",
    ".go", ".rs", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cs", ".swift", ".m", ".mm",
    ".rb", ".php", ".pl", ".pm", ".lua", ".r", ".jl", ".dart", ".ex", ".exs", ".erl", ".hs",
    ".clj", ".sql", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".bat", ".vue", ".svelte", ".css",
    ".scss", ".less", ".proto", ".graphql", ".cmake", ".gradle",
}
CONFIG = {
    ".json", ".jsonl", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".env.example", ".xml",
    ".properties", ".editorconfig",
}
KNOWN_NAMES = {"readme", "license", "makefile", "dockerfile", "changelog", "authors", "copying",
               "notice", "contributing", "todo", "install", "news"}
SUPPORTED = MARKDOWN | RST | HTML | PDF | PLAIN | TABLE | SOURCE | CONFIG | set(OFFICE)


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


def file_kind(path: Path) -> str | None:
    """The reader for this file, or None when ragchat does not read such files."""
    suffix = path.suffix.lower()
    if suffix in MARKDOWN:
        return "markdown"
    if suffix in RST:
        return "rst"
    if suffix in HTML:
        return "html"
    if suffix in PDF:
        return "pdf"
    if suffix in OFFICE:
        return OFFICE[suffix]
    if suffix in TABLE:
        return "table"
    if suffix in PLAIN:
        return "text"
    if suffix in SOURCE or suffix in CONFIG:
        return "code"
    if not suffix and path.name.lower() in KNOWN_NAMES:
        return "text"
    return None


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


HANGUL = re.compile(r"[\uac00-\ud7a3]")


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


def read_sections(path: Path) -> list[Section]:
    """Read one file into sections. Raises UnreadableFileError or OSError."""
    return list(read_document(path).sections)


def read_document(path: Path, ocr: str = "auto", budgets=None) -> Document:
    """Read one file within `budgets` (ingest/budgets.py; None: the defaults).
    Raises UnreadableFileError (with the reason; OverBudgetError names the budget) or OSError.

    A reader library that fails in an unforeseen way on a damaged file must not end an
    ingest of thousands of files: such failures become UnreadableFileError too, and so do
    MemoryError and RecursionError (a bomb or a trap is that file's failure).
    """
    from ragchat.ingest.budgets import Budgets

    budgets = budgets or Budgets()
    kind = file_kind(path)
    reader = _structured_reader(kind)
    try:
        if reader is None:
            return Document((_read_text(path, kind),))
        return reader(path, ocr, budgets) if kind == "pdf" else reader(path, budgets)
    except (UnreadableFileError, OSError):
        raise
    except MemoryError as exc:
        raise UnreadableFileError("reading it ran out of memory") from exc
    except RecursionError as exc:
        raise UnreadableFileError("it is nested too deeply to read") from exc
    except Exception as exc:  # noqa: BLE001 - one damaged file, not the whole ingest
        raise UnreadableFileError(
            f"cannot read this {(kind or '').upper()} file ({type(exc).__name__}: {exc})") from exc


def _structured_reader(kind: str | None):
    if kind == "pdf":
        from ragchat.ingest.pdf import read_pdf

        return read_pdf
    if kind == "hwp":
        from ragchat.ingest.hwp import read_hwp

        return read_hwp
    if kind == "hwpx":
        from ragchat.ingest.hwpx import read_hwpx

        return read_hwpx
    if kind == "xlsx":
        from ragchat.ingest.xlsx import read_xlsx

        return read_xlsx
    if kind in ("docx", "pptx", "table"):
        from ragchat.ingest import office

        return {"docx": office.read_docx, "pptx": office.read_pptx,
                "table": office.read_table}[kind]
    return None


def read_text_file(path: Path) -> str:
    """The file's text with any encoding detected and line ends made \\n."""
    data = path.read_bytes()
    if looks_binary(data[:8192]):
        raise UnreadableFileError("binary content")
    text, _ = decode(data)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_text(path: Path, kind: str | None) -> Section:
    text = read_text_file(path)
    if kind == "html":
        from ragchat.ingest.htmltext import html_to_text

        return Section(html_to_text(text), "markdown")
    return Section(text, kind or "text")
