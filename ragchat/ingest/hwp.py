"""Hancom Office documents: HWP 5.x (an OLE2 file of zlib-compressed record streams) and
HWPX (a zip of OWPML XML). Paragraphs in reading order; tables as rows of `cell | cell`.

HWP 5.x layout (Hancom's published "HWP 5.0 file format" document):
- `FileHeader`: signature, version, flags (bit 0 compressed, 1 password, 2 distribution
  document, 4 DRM); `BodyText/SectionN`: raw-deflate record streams, one per section.
- A record header is one little-endian uint32: tag (10 bits), level (10 bits), size (12
  bits; 0xFFF means the size follows as a uint32).
- PARA_TEXT holds UTF-16LE text in which codes below 32 are controls: some are one code unit
  long (line break, paragraph end, special spaces), the others take eight (a tab, or an
  inline/extended control such as a table, a field or a footnote, whose records follow).
- A table is a CTRL_HEADER 'tbl ', a TABLE record, then one LIST_HEADER per cell (column
  and row at bytes 8 and 10) followed by that cell's paragraphs, one level deeper.
"""

from __future__ import annotations

import re
import struct
import sys
import zipfile
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from ragchat.ingest.budgets import Budgets
from ragchat.ingest.readers import Document, Section, UnreadableFileError

HWP_SIGNATURE = b"HWP Document File"
TAG_PARA_HEADER, TAG_PARA_TEXT, TAG_CTRL_HEADER, TAG_LIST_HEADER, TAG_TABLE = 66, 67, 71, 72, 77
CTRL_TABLE = b" lbt"  # 'tbl ' as a little-endian uint32
ONE_UNIT_CONTROLS = {0, 10, 13, 24, 25, 26, 27, 28, 29, 30, 31}
SPACES = {9: "\t", 10: "\n", 24: "-", 30: " ", 31: " "}
MAX_SECTION_BYTES = 256 * 1024 * 1024  # decompressed; a bigger section is a zip bomb, not a document


@dataclass
class _Table:
    level: int
    cells: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    cell: tuple[int, int] | None = None
    caption: list[str] = field(default_factory=list)  # paragraphs before the TABLE record
    started: bool = False

    def add(self, text: str) -> None:
        if self.cell is None:
            self.caption.append(text)
        else:
            self.cells[self.cell].append(text)

    def rows(self) -> list[str]:
        rows: dict[int, list[tuple[int, str]]] = {}
        for (row, col), parts in self.cells.items():
            text = " ".join(" ".join(parts).split())
            rows.setdefault(row, []).append((col, text))
        return [" | ".join(t for _, t in sorted(cells)) for _, cells in sorted(rows.items())
                if any(t for _, t in cells)]


def read_hwp(path: Path, budgets: Budgets | None = None) -> Document:
    """The text of an HWP 5.x file, one Section per BodyText section."""
    import olefile

    if not olefile.isOleFile(str(path)):
        raise UnreadableFileError(_not_hwp5(path))
    with olefile.OleFileIO(str(path)) as ole:
        flags = _header_flags(ole)
        if flags & 0b10:
            raise UnreadableFileError("the HWP file is password-protected",
                                      hint="save an unprotected copy from Hancom Office")
        if flags & 0b100 or ole.exists("ViewText/Section0") and not ole.exists("BodyText/Section0"):
            raise UnreadableFileError(
                "distribution-only HWP (배포용 문서): its text is encrypted for viewing only",
                hint="ask the author for an editable copy, or print it to PDF")
        if flags & 0b10000:
            raise UnreadableFileError("the HWP file is DRM-protected")
        names = _section_names(ole)
        sections = []
        for number, name in enumerate(names, start=1):
            data = ole.openstream(name).read()
            text = section_text(_inflate(data) if flags & 1 else data)
            if text.strip():
                sections.append(Section(text, "text", first_line=None, place=f"section {number}"))
    return Document(tuple(sections), "section", len(names))


def _not_hwp5(path: Path) -> str:
    head = path.read_bytes()[:32]
    if head.startswith(b"PK"):
        return "an HWPX (zip) file named .hwp: rename it to .hwpx"
    if head.startswith(b"HWP Document File V3"):
        return "HWP 3.x (Hangul 97 or older) is not supported: save it as HWP 5 or HWPX"
    return "not an HWP 5 file (no OLE2 header)"


def _header_flags(ole) -> int:
    if not ole.exists("FileHeader"):
        raise UnreadableFileError("not an HWP 5 file (no FileHeader stream)")
    header = ole.openstream("FileHeader").read(256)
    if not header.startswith(HWP_SIGNATURE) or len(header) < 40:
        raise UnreadableFileError("not an HWP 5 file (bad signature)")
    return struct.unpack_from("<I", header, 36)[0]


def _section_names(ole) -> list[str]:
    numbers = sorted(int(m.group(1)) for entry in ole.listdir()
                     if len(entry) == 2 and entry[0] == "BodyText"
                     and (m := re.fullmatch(r"Section(\d+)", entry[1])))
    return [f"BodyText/Section{n}" for n in numbers]


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, MAX_SECTION_BYTES)
    except zlib.error as exc:
        raise UnreadableFileError(f"damaged HWP section ({exc})") from exc
    if inflater.unconsumed_tail:
        raise UnreadableFileError("an HWP section unpacks to more than 256 MB")
    return out


def records(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(tag, level, payload) of every record in a section stream."""
    pos, end = 0, len(data)
    while pos + 4 <= end:
        header = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        size = header >> 20
        if size == 0xFFF:
            if pos + 4 > end:
                return
            size = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        yield header & 0x3FF, (header >> 10) & 0x3FF, data[pos:pos + size]
        pos += size


def para_text(payload: bytes) -> str:
    """A PARA_TEXT record as text: controls dropped, tabs, breaks and special spaces kept."""
    units = array("H")
    units.frombytes(payload[:len(payload) // 2 * 2])
    if sys.byteorder == "big":
        units.byteswap()
    out: list[str] = []
    i = start = 0
    while i < len(units):
        code = units[i]
        if code >= 32:
            i += 1
            continue
        out.append(payload[2 * start:2 * i].decode("utf-16-le", errors="replace"))
        out.append(SPACES.get(code, ""))
        i += 1 if code in ONE_UNIT_CONTROLS else 8
        start = i
    out.append(payload[2 * start:2 * len(units)].decode("utf-16-le", errors="replace"))
    return "".join(out)


def section_text(data: bytes) -> str:
    """Paragraphs one per line (an empty paragraph is a blank line); tables as row lines."""
    lines: list[str] = []
    tables: list[_Table] = []
    for tag, level, payload in records(data):
        while tables and level <= tables[-1].level:
            _close_table(tables, lines)
        table = tables[-1] if tables else None
        if tag == TAG_CTRL_HEADER and payload[:4] == CTRL_TABLE:
            tables.append(_Table(level))
        elif tag == TAG_TABLE and table and level == table.level + 1:
            table.started = True
        elif tag == TAG_LIST_HEADER and table and table.started and level == table.level + 1 \
                and len(payload) >= 12:
            col, row = struct.unpack_from("<HH", payload, 8)
            table.cell = (row, col)
            table.cells.setdefault((row, col), [])
        elif tag == TAG_PARA_TEXT:
            text = para_text(payload).rstrip("\n")
            if table:
                table.add(text)
            else:
                lines.append(text)
        elif tag == TAG_PARA_HEADER and not tables and not _has_text(payload):
            lines.append("")
    while tables:
        _close_table(tables, lines)
    return _tidy("\n".join(lines))


def _has_text(para_header: bytes) -> bool:
    """PARA_HEADER's first field counts the paragraph's characters (1 = only its end mark)."""
    return len(para_header) >= 4 and (struct.unpack_from("<I", para_header)[0] & 0x7FFFFFFF) > 1


def _close_table(tables: list[_Table], lines: list[str]) -> None:
    table = tables.pop()
    rows = [c for c in table.caption if c.strip()] + table.rows()
    if tables and tables[-1].cell is not None:  # a table inside a cell
        tables[-1].cells[tables[-1].cell].extend(rows)
    elif rows:
        lines.extend(["", *rows, ""])


def _tidy(text: str) -> str:
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# --- HWPX -----------------------------------------------------------------------------------

SECTION_XML = re.compile(r"Contents/section(\d+)\.xml")
MAX_XML_BYTES = 256 * 1024 * 1024


def read_hwpx(path: Path, budgets: Budgets | None = None) -> Document:
    """The text of an HWPX file, one Section per Contents/sectionN.xml."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = {n for n in zf.namelist()}
            _check_hwpx(zf, names)
            parts = sorted((int(m.group(1)), n) for n in names if (m := SECTION_XML.fullmatch(n)))
            sections = []
            for number, (_, name) in enumerate(parts, start=1):
                if zf.getinfo(name).file_size > MAX_XML_BYTES:
                    raise UnreadableFileError(f"{name} unpacks to more than 256 MB")
                text = hwpx_section_text(zf.read(name))
                if text.strip():
                    sections.append(Section(text, "text", first_line=None,
                                            place=f"section {number}"))
    except zipfile.BadZipFile as exc:
        raise UnreadableFileError(f"not an HWPX file (broken zip: {exc})") from exc
    except ElementTree.ParseError as exc:
        raise UnreadableFileError(f"broken HWPX section XML ({exc})") from exc
    return Document(tuple(sections), "section", len(parts))


def _check_hwpx(zf: zipfile.ZipFile, names: set[str]) -> None:
    manifest = next((n for n in names if n.lower() == "meta-inf/manifest.xml"), None)
    if manifest and b"encryption-data" in zf.read(manifest):
        raise UnreadableFileError("the HWPX file is password-protected",
                                  hint="save an unprotected copy from Hancom Office")
    if not any(SECTION_XML.fullmatch(n) for n in names):
        raise UnreadableFileError("not an HWPX file (no Contents/section0.xml)")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def hwpx_section_text(xml: bytes) -> str:
    root = ElementTree.fromstring(xml)
    lines: list[str] = []
    for child in root:
        if _local(child.tag) == "p":
            _hwpx_paragraph(child, lines)
    return _tidy("\n".join(lines))


def _hwpx_paragraph(p, lines: list[str]) -> None:
    """One hp:p: its own text as a line, then its tables (and text boxes) as their lines."""
    parts: list[str] = []
    after: list[str] = []
    for run in p:
        if _local(run.tag) != "run":
            continue
        for item in run:
            name = _local(item.tag)
            if name == "t":
                parts.append(_hwpx_t(item))
            elif name == "tbl":
                after.extend(["", *_hwpx_table(item), ""])
            else:  # drawing objects, text boxes, notes, headers carry paragraphs of their own
                for sub in item.iter():
                    if _local(sub.tag) == "subList":
                        for inner in sub:
                            if _local(inner.tag) == "p":
                                _hwpx_paragraph(inner, after)
    lines.append("".join(parts))
    lines.extend(after)


def _hwpx_sublists(element) -> list[str]:
    """The lines of the paragraphs in an element's direct hp:subList children."""
    lines: list[str] = []
    for sub in element:
        if _local(sub.tag) == "subList":
            for p in sub:
                if _local(p.tag) == "p":
                    _hwpx_paragraph(p, lines)
    return lines


def _hwpx_t(t) -> str:
    out = [t.text or ""]
    for child in t:
        out.append({"tab": "\t", "lineBreak": "\n"}.get(_local(child.tag), " "
                   if _local(child.tag) in ("fwSpace", "nbSpace") else ""))
        out.append(child.tail or "")
    return "".join(out)


def _hwpx_table(tbl) -> list[str]:
    rows: list[str] = []
    for tr in tbl:
        if _local(tr.tag) == "caption":
            rows.extend(line for line in _hwpx_sublists(tr) if line.strip())
        if _local(tr.tag) != "tr":
            continue
        cells = []
        for tc in tr:
            if _local(tc.tag) != "tc":
                continue
            cells.append(" ".join(" ".join(_hwpx_sublists(tc)).split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return rows
