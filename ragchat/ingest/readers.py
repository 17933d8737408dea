"""Turn a file into text sections: decode (UTF-8, UTF-16, CP949/EUC-KR, ...), strip HTML, split PDF pages."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from ragchat.errors import RagchatError

MARKDOWN = {".md", ".markdown", ".mdx"}
RST = {".rst"}
HTML = {".html", ".htm", ".xhtml"}
PDF = {".pdf"}
PLAIN = {".txt", ".text", ".log", ".csv", ".tsv", ".org", ".adoc", ".tex", ".bib"}
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
SUPPORTED = MARKDOWN | RST | HTML | PDF | PLAIN | SOURCE | CONFIG


class UnreadableFileError(RagchatError):
    """This one file cannot be read as text (binary, undecodable, broken PDF)."""


@dataclass(frozen=True)
class Section:
    """A piece of a document with its own page (PDF) or starting line (text)."""

    text: str
    kind: str  # "markdown", "rst", "text", "code", "html", "pdf"
    page: int | None = None
    first_line: int = 1


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


def decode(data: bytes) -> tuple[str, str]:
    """Decode bytes to text; returns (text, encoding). Raises UnreadableFileError."""
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                     (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(enc, errors="replace"), enc
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
    kind = file_kind(path)
    if kind == "pdf":
        return _read_pdf(path)
    data = path.read_bytes()
    if looks_binary(data[:8192]):
        raise UnreadableFileError("binary content")
    text, _ = decode(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if kind == "html":
        return [Section(html_to_text(text), "markdown")]
    return [Section(text, kind or "text")]


def _read_pdf(path: Path) -> list[Section]:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as exc:
                raise UnreadableFileError("the PDF is encrypted") from exc
        pages = []
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if text:
                pages.append(Section(text, "pdf", page=number))
        return pages
    except UnreadableFileError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise UnreadableFileError(f"broken PDF ({type(exc).__name__}: {exc})") from exc


class _HTMLText(HTMLParser):
    """HTML to markdown-ish text: headings become '#' lines, scripts and styles are dropped."""

    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    BLOCK = {"p", "div", "br", "li", "tr", "section", "article", "pre", "blockquote", "table",
             "ul", "ol", "dd", "dt", "header", "footer", "main", "nav", "aside", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip_depth = 0
        self.title: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self.skip_depth += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n")
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip_depth == 0:
            self.out.append(re.sub(r"[ \t\n]+", " ", data) if data.strip() else data.strip(" \t"))


def html_to_text(html: str) -> str:
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.out)
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
