"""HWPX (Hancom Office's zip of OWPML XML): paragraphs in reading order, tables as rows of
`cell | cell`, text boxes and notes after the paragraph that holds them.

Each Contents/sectionN.xml is parsed as a stream: a top-level paragraph is turned into
lines when it ends and then dropped, so memory holds one paragraph, not the section's tree
(250 MB of empty paragraphs made a 5.7 GB ElementTree). Every element counts against
max_xml_elements; a section over it keeps what was read, and the report says so.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from ragchat.ingest.budgets import DEFAULT_OPTIONS, ReadOptions, raise_hint
from ragchat.ingest.containers import check_zip
from ragchat.ingest.document import Document, Section, UnreadableFileError
from ragchat.ingest.hwp import tidy

SECTION_XML = re.compile(r"Contents/section(\d+)\.xml")


def read_hwpx(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
    """The text of an HWPX file, one Section per Contents/sectionN.xml."""
    budgets = options.budgets
    check_zip(path, "hwpx", budgets, lambda name: False)  # sizes only: sections stream below
    problems: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            _check_hwpx(zf, names)
            parts = sorted((int(m.group(1)), n) for n in names if (m := SECTION_XML.fullmatch(n)))
            sections = []
            for number, (_, name) in enumerate(parts, start=1):
                with zf.open(name) as stream:
                    text, complete = section_lines(stream, budgets.xml_elements)
                if not complete:
                    problems.append(f"section {number}: read up to its first "
                                    f"{budgets.xml_elements:,} XML elements only "
                                    f"(max_xml_elements; {raise_hint('xml_elements')})")
                if text.strip():
                    sections.append(Section(text, "text", first_line=None,
                                            place=f"section {number}"))
    except zipfile.BadZipFile as exc:
        raise UnreadableFileError(f"not an HWPX file (broken zip: {exc})") from exc
    except ElementTree.ParseError as exc:
        raise UnreadableFileError(f"broken HWPX section XML ({exc})") from exc
    return Document(tuple(sections), "section", len(parts), tuple(problems))


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
    """One section's text (the whole XML in memory: for tests and small parts)."""
    import io

    return section_lines(io.BytesIO(xml), 10**12)[0]


def section_lines(stream, max_elements: int) -> tuple[str, bool]:
    """(the section's text, whether all of it was read within `max_elements`)."""
    lines: list[str] = []
    depth = elements = 0
    root: ElementTree.Element | None = None
    for event, element in ElementTree.iterparse(stream, events=("start", "end")):
        if event == "start":
            depth += 1
            root = element if root is None else root
            continue
        depth -= 1
        elements += 1
        if elements > max_elements:
            return tidy("\n".join(lines)), False
        if depth == 1:  # a child of the section: read it whole, then let it go
            if _local(element.tag) == "p":
                _hwpx_paragraph(element, lines)
            element.clear()
            if root is not None:
                del root[:]
    return tidy("\n".join(lines)), True


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
