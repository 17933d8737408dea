"""Which reader reads a file: a table of file suffixes to kinds, and of kinds to readers.

Every reader has one signature, `read(path, options) -> Document` (options: the budgets and
the OCR mode, budgets.py), and lives in its own module, named here as "module:function": the
module, and the library it reads with (pypdf, python-docx, openpyxl, olefile, lxml), is
imported when a file of its kind is read, never before. The readers import document.py for
the types they return, never this module.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import cast

from ragchat.ingest.budgets import DEFAULT_OPTIONS, ReadOptions
from ragchat.ingest.document import Document, Section, UnreadableFileError

Reader = Callable[[Path, ReadOptions], Document]

SOURCE = (
    ".py", ".pyi", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".kts", ".scala",
    ".go", ".rs", ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cs", ".swift", ".m", ".mm",
    ".rb", ".php", ".pl", ".pm", ".lua", ".r", ".jl", ".dart", ".ex", ".exs", ".erl", ".hs",
    ".clj", ".sql", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".bat", ".vue", ".svelte", ".css",
    ".scss", ".less", ".proto", ".graphql", ".cmake", ".gradle",
)
CONFIG = (
    ".json", ".jsonl", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".env.example", ".xml",
    ".properties", ".editorconfig",
)
# kind -> the suffixes of its files (lower case)
SUFFIXES: dict[str, tuple[str, ...]] = {
    "markdown": (".md", ".markdown", ".mdx"),
    "rst": (".rst",),
    "html": (".html", ".htm", ".xhtml"),
    "pdf": (".pdf",),
    "docx": (".docx",),
    "pptx": (".pptx",),
    "xlsx": (".xlsx", ".xlsm"),
    "hwp": (".hwp",),
    "hwpx": (".hwpx",),
    "table": (".csv", ".tsv"),
    "text": (".txt", ".text", ".log", ".org", ".adoc", ".tex", ".bib"),
    "code": SOURCE + CONFIG,
}
# kind -> its reader, "module:function" in ragchat.ingest
READERS: dict[str, str] = {
    "markdown": "plaintext:read_markdown",
    "rst": "plaintext:read_rst",
    "text": "plaintext:read_plain",
    "code": "plaintext:read_code",
    "html": "htmltext:read_html",
    "pdf": "pdf:read_pdf",
    "docx": "office:read_docx",
    "pptx": "office:read_pptx",
    "table": "office:read_table",
    "xlsx": "xlsx:read_xlsx",
    "hwp": "hwp:read_hwp",
    "hwpx": "hwpx:read_hwpx",
}
# files without a suffix that are read as text
KNOWN_NAMES = {"readme", "license", "makefile", "dockerfile", "changelog", "authors", "copying",
               "notice", "contributing", "todo", "install", "news"}
KIND_OF_SUFFIX = {suffix: kind for kind, suffixes in SUFFIXES.items() for suffix in suffixes}
SUPPORTED = set(KIND_OF_SUFFIX)


def file_kind(path: Path) -> str | None:
    """The kind of reader for this file, or None when ragchat does not read such files."""
    suffix = path.suffix.lower()
    if not suffix and path.name.lower() in KNOWN_NAMES:
        return "text"
    return KIND_OF_SUFFIX.get(suffix)


def reader_for(kind: str) -> Reader:
    """The reader of `kind` (a key of READERS), its module imported now."""
    module, function = READERS[kind].split(":")
    return cast(Reader, getattr(import_module(f"ragchat.ingest.{module}"), function))


def read_document(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
    """Read one file with `options` (its budgets and OCR mode). Raises UnreadableFileError
    (with the reason; OverBudgetError names the budget) or OSError.

    A reader library that fails in an unforeseen way on a damaged file must not end an
    ingest of thousands of files: such failures become UnreadableFileError too, and so do
    MemoryError and RecursionError (a bomb or a trap is that file's failure).
    """
    kind = file_kind(path) or "text"
    reader = reader_for(kind)
    try:
        return reader(path, options)
    except (UnreadableFileError, OSError):
        raise
    except MemoryError as exc:
        raise UnreadableFileError("reading it ran out of memory") from exc
    except RecursionError as exc:
        raise UnreadableFileError("it is nested too deeply to read") from exc
    except Exception as exc:  # noqa: BLE001 - one damaged file, not the whole ingest
        raise UnreadableFileError(
            f"cannot read this {kind.upper()} file ({type(exc).__name__}: {exc})") from exc


def read_sections(path: Path) -> list[Section]:
    """Read one file into sections. Raises UnreadableFileError or OSError."""
    return list(read_document(path).sections)
