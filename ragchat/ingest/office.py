"""Office documents: DOCX (python-docx), PPTX (python-pptx), XLSX (openpyxl) and CSV/TSV.

Each keeps a place a person can open: a DOCX chunk its heading path, a slide its number and
title, a sheet its name and cell range. Table rows become lines: `a | b | c` in documents,
`header: value | header: value` in sheets and CSV files, so that a row found by search
still says what each value is.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ragchat.ingest.budgets import DEFAULT_OPTIONS, ReadOptions, raise_hint
from ragchat.ingest.containers import check_zip
from ragchat.ingest.document import Document, Section, UnreadableFileError, read_text_file
from ragchat.ingest.tables import dense_rows, table_sections

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
HEADING_STYLE = re.compile(r"(?:heading|제목)\s*(\d)", re.IGNORECASE)


def check_zip_container(path: Path, kind: str) -> None:
    """Password-protected OOXML files are OLE2 files holding an EncryptedPackage stream."""
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(b"PK"):
        return
    if head == OLE_MAGIC:
        import olefile

        with olefile.OleFileIO(str(path)) as ole:
            if ole.exists("EncryptedPackage"):
                raise UnreadableFileError(
                    f"the {kind.upper()} file is password-protected",
                    hint="save an unprotected copy, then ingest again")
        raise UnreadableFileError(
            f"an old binary Office file named .{kind} (not supported)",
            hint=f"save it as .{kind} from Office or LibreOffice")
    raise UnreadableFileError(f"not a valid {kind.upper()} file (not a zip container)")


def every_part(name: str) -> bool:
    """python-docx and python-pptx parse every XML part of the package when they open it."""
    return True


# --- DOCX -----------------------------------------------------------------------------------

def read_docx(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
    """Paragraphs with Word's headings as `#` headings (so chunks get heading paths) and
    tables as rows, in document order."""
    check_zip_container(path, "docx")
    check_zip(path, "docx", options.budgets, every_part)
    import docx

    document = docx.Document(str(path))
    lines: list[str] = []
    tables = 0
    for block in document.iter_inner_content():
        if hasattr(block, "rows"):
            tables += 1
            lines.extend(["", *_table_rows(block), ""])
        else:
            lines.extend(_paragraph_lines(block))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    sections = (Section(text, "markdown", first_line=None),) if text else ()
    return Document(sections, "file", 1)


def _paragraph_lines(paragraph) -> list[str]:
    text = paragraph.text.strip()
    if not text:
        return [""]
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    level = 1 if style.lower() == "title" else _heading_level(style)
    if level:
        return ["", "#" * level + " " + " ".join(text.split()), ""]
    return [text, ""]


def _heading_level(style: str) -> int:
    m = HEADING_STYLE.search(style)
    return min(6, int(m.group(1))) if m and int(m.group(1)) > 0 else 0


def _table_rows(table) -> list[str]:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell repeats itself across the span
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


# --- PPTX -----------------------------------------------------------------------------------

def read_pptx(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
    """One section per slide: its title as the heading, text frames, tables, then notes."""
    check_zip_container(path, "pptx")
    check_zip(path, "pptx", options.budgets, every_part)
    import pptx

    presentation = pptx.Presentation(str(path))
    sections = []
    slides = list(presentation.slides)
    for number, slide in enumerate(slides, start=1):
        title_shape = slide.shapes.title
        title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None \
            and title_shape.has_text_frame else ""
        title_id = title_shape.shape_id if title_shape is not None else None
        body = [t for shape in slide.shapes if shape.shape_id != title_id
                for t in _shape_texts(shape)]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                body.append("Notes: " + notes)
        text = "\n\n".join(t for t in body if t.strip())
        if text or title:
            sections.append(Section(text or title, "text", first_line=None,
                                    place=f"slide {number}", heading=title or None))
    return Document(tuple(sections), "slide", len(slides))


def _shape_texts(shape) -> list[str]:
    if shape.shape_type is not None and getattr(shape, "shapes", None) is not None:  # a group
        return [t for inner in shape.shapes for t in _shape_texts(inner)]
    if getattr(shape, "has_table", False) and shape.has_table:
        return ["\n".join(_table_rows(shape.table))]
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        return [shape.text_frame.text.strip()]
    return []


# --- CSV (XLSX: xlsx.py) ------------------------------------------------------------------

def read_table(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
    """A CSV or TSV file: the first row names the columns; each row a `header: value` line."""
    budgets = options.budgets
    text = read_text_file(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff(text)
    rows = csv.reader(text.splitlines(), delimiter=delimiter)
    cells_left = budgets.sheet_cells
    kept: list[list[str]] = []
    problems: tuple[str, ...] = ()
    for row in rows:
        cells_left -= max(len(row), 1)
        if cells_left < 0:
            problems = (f"rows {len(kept) + 1} and later: not read (the first "
                        f"{budgets.sheet_cells:,} cells were read: max_sheet_cells; "
                        f"{raise_hint('sheet_cells')})",)
            break
        kept.append([c.strip() for c in row])
    table = table_sections(dense_rows(kept), "rows {start}-{end}")
    return Document(table.sections, "file", 1, problems)


def _sniff(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","
