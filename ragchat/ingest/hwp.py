"""Hancom Office documents: HWP 5.x, an OLE2 file of zlib-compressed record streams (HWPX,
the zip of OWPML XML, is read by hwpx.py). Paragraphs in reading order; tables as rows of
`cell | cell`.

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
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ragchat.ingest.budgets import DEFAULT_OPTIONS, Budgets, ReadOptions, megabytes, raise_hint
from ragchat.ingest.document import Document, Section, UnreadableFileError

HWP_SIGNATURE = b"HWP Document File"
TAG_PARA_HEADER, TAG_PARA_TEXT, TAG_CTRL_HEADER, TAG_LIST_HEADER, TAG_TABLE = 66, 67, 71, 72, 77
CTRL_TABLE = b" lbt"  # 'tbl ' as a little-endian uint32
ONE_UNIT_CONTROLS = {0, 10, 13, 24, 25, 26, 27, 28, 29, 30, 31}
SPACES = {9: "\t", 10: "\n", 24: "-", 30: " ", 31: " "}


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


def read_hwp(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
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
        sections: list[Section] = []
        left = options.budgets.inflated_bytes
        for number, name in enumerate(names, start=1):
            data = ole.openstream(name).read()
            unpacked = _inflate(data, left) if flags & 1 else data
            left -= len(unpacked) if unpacked is not None else left + 1
            if unpacked is None or left < 0:
                return Document(tuple(sections), "section", len(names),
                                (_unread_sections(number, len(names), options.budgets),))
            text = section_text(unpacked)
            if text.strip():
                sections.append(Section(text, "text", first_line=None, place=f"section {number}"))
    return Document(tuple(sections), "section", len(names))


def _unread_sections(first: int, last: int, budgets: Budgets) -> str:
    limit = budgets.inflated_bytes
    which = f"section {first}" if first == last else f"sections {first}-{last}"
    return (f"{which}: not read (the sections unpack to more than max_inflated_mb, "
            f"{megabytes(limit)}; {raise_hint('inflated_bytes')})")


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


def _inflate(data: bytes, limit: int) -> bytes | None:
    """The section unpacked, or None when it unpacks to more than `limit` bytes (the memory
    is never spent: zlib stops at the limit)."""
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, max(limit, 0) + 1)
    except zlib.error as exc:
        raise UnreadableFileError(f"damaged HWP section ({exc})") from exc
    return None if len(out) > limit else out


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
    return tidy("\n".join(lines))


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


def tidy(text: str) -> str:
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")
