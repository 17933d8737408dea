"""Zip containers (DOCX, PPTX, XLSX, HWPX) checked against the budgets before they are unpacked.

A 20 KB DOCX can unpack to gigabytes, and a part of a few megabytes can hold millions of
XML elements that a reader builds a tree of. Both are known before anything is parsed:
the zip's central directory declares each part's unpacked size (Python's zipfile never
returns more than the declared size: a part that lies fails its CRC check), and a part's
start tags can be counted in one streaming pass over its bytes (every element has exactly
one start tag; `<` not followed by `/` starts a tag, a comment or a declaration, so the
count is an upper bound that is exact for real files).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from ragchat.ingest.budgets import Budgets, megabytes, over_budget
from ragchat.ingest.document import UnreadableFileError

CHUNK = 1024 * 1024


def check_zip(path: Path, kind: str, budgets: Budgets,
              parsed_whole: Callable[[str], bool]) -> None:
    """Raise OverBudgetError when the parts together unpack to more than
    budgets.inflated_bytes, or when the parts for which `parsed_whole(name)` is true hold
    more than budgets.xml_elements XML elements together (a reader builds their trees)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(info.file_size for info in infos)
            if total > budgets.inflated_bytes:
                raise over_budget("inflated_bytes", (
                    f"it unpacks to {megabytes(total)}, more than max_inflated_mb "
                    f"({megabytes(budgets.inflated_bytes)}): a zip bomb or a huge document"))
            elements = 0
            for info in infos:
                if parsed_whole(info.filename):
                    elements += xml_elements(zf, info, budgets.xml_elements - elements)
                    if elements > budgets.xml_elements:
                        raise over_budget("xml_elements", (
                            f"{info.filename} and the parts before it hold more than "
                            f"{budgets.xml_elements:,} XML elements (max_xml_elements)"))
    except zipfile.BadZipFile as exc:
        raise UnreadableFileError(f"not a valid {kind.upper()} file (broken zip: {exc})") from exc


def xml_elements(zf: zipfile.ZipFile, info: zipfile.ZipInfo, stop_above: int) -> int:
    """Start tags in one part (0 for an image or another known binary part), counted up to
    just past `stop_above`: the caller only needs to know that the budget is spent. A part
    in UTF-16 or UTF-32 (lxml reads those too) counts every `<` byte: more, never fewer."""
    count = 0
    previous = b""
    with zf.open(info) as part:
        data = part.read(CHUNK)
        if data.startswith(BINARY_MAGIC):
            return 0
        wide = b"\x00" in data[:64]
        while data:
            count += data.count(b"<") - (0 if wide else data.count(b"</"))
            if not wide and previous.endswith(b"<") and data.startswith(b"/"):
                count -= 1  # a `</` split across two reads
            if count > stop_above:
                return count
            previous, data = data, part.read(CHUNK)
    return count


# images, fonts, embedded objects and media: never parsed as XML
BINARY_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*",
                b"\xd0\xcf\x11\xe0", b"PK\x03\x04", b"RIFF", b"%PDF", b"\x01\x00\x00\x00",
                b"\xd7\xcd\xc6\x9a", b"\x00\x01\x00\x00", b"OTTO", b"wOFF", b"wOF2",
                b"\x00\x00\x00\x18ftyp", b"\x00\x00\x00\x20ftyp", b"ID3", b"\x1aE\xdf\xa3")
