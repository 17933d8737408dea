"""XLSX workbooks, read as streams within the budgets.

openpyxl's read-only mode still fills every gap of a sheet's used range (a 5 KB file with
cells A1 and XFD1048576 asks for 17 billion cells) and keeps objects for row formats and
merged ranges. Here each sheet's XML is parsed as a stream: only cells that are there are
read (counted against max_sheet_cells for the whole file), every element is cleared once
read (counted against max_xml_elements per sheet), and openpyxl only turns one cell at a
time into its value (shared strings, numbers, dates). A sheet cut by a budget keeps what
was read, and the report says what was left out.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ragchat.ingest.budgets import DEFAULT_OPTIONS, Budgets, ReadOptions, raise_hint
from ragchat.ingest.containers import check_zip
from ragchat.ingest.document import Document, Section
from ragchat.ingest.tables import Row, table_sections

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
ROW, CELL = NS + "row", NS + "c"
WORKSHEET_PART = re.compile(r"xl/worksheets/[^/]+\.xml", re.IGNORECASE)


@dataclass
class _Count:
    """What is left of the file's cell budget, and why reading stopped (if it did)."""

    cells_left: int
    stopped: str | None = None


def read_xlsx(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
    """One section per sheet (and per long run of rows): `header: value | ...` lines, cited
    by cell range."""
    from ragchat.ingest.office import check_zip_container

    budgets = options.budgets
    check_zip_container(path, "xlsx")
    # workbook, styles, shared strings: parsed whole by openpyxl; sheets: streamed below
    check_zip(path, "xlsx", budgets, lambda name: not WORKSHEET_PART.fullmatch(name))
    import openpyxl

    workbook = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    try:
        count = _Count(budgets.sheet_cells)
        sections: list[Section] = []
        problems: list[str] = []
        for sheet in workbook.worksheets:
            if count.stopped:
                problems.append(f"sheet {sheet.title}: not read ({count.stopped})")
                continue
            sections.extend(_sheet_sections(sheet, workbook, budgets, count, problems))
        return Document(tuple(sections), "sheet", len(workbook.worksheets), tuple(problems))
    finally:
        workbook.close()


def _sheet_sections(sheet, workbook, budgets: Budgets, count: _Count,
                    problems: list[str]) -> list[Section]:
    from openpyxl.utils import get_column_letter

    rows = list(_rows(sheet, workbook, budgets, count, problems))
    name = sheet.title.replace("{", "{{").replace("}", "}}")
    table = table_sections(rows, "", sheet.title)
    cols = f"A{{start}}:{get_column_letter(max(table.width, 1))}{{end}}"
    return [replace(s, place=f"sheet {name}, {cols}") for s in table.sections]


def _rows(sheet, workbook, budgets: Budgets, count: _Count,
          problems: list[str]) -> Iterator[Row]:
    """(row number, {column: text}) of the rows that hold cells, as the XML streams by."""
    from xml.etree.ElementTree import iterparse

    from openpyxl.worksheet._reader import WorkSheetParser  # one cell at a time

    parser = WorkSheetParser(None, workbook.shared_strings, data_only=True,
                             epoch=workbook.epoch, date_formats=workbook._date_formats,
                             timedelta_formats=workbook._timedelta_formats)
    elements = 0
    stack: list = []
    with sheet._get_source() as source:
        for event, element in iterparse(source, events=("start", "end")):
            if event == "start":
                stack.append(element)
                continue
            stack.pop()
            elements += 1
            if elements > budgets.xml_elements:
                problems.append(f"sheet {sheet.title}: read up to its first "
                                f"{budgets.xml_elements:,} XML elements only (max_xml_elements;"
                                f" {raise_hint('xml_elements')})")
                return
            if element.tag == CELL:
                count.cells_left -= 1
                if count.cells_left < 0:
                    count.stopped = (f"the file's first {budgets.sheet_cells:,} cells were read"
                                     f" (max_sheet_cells; {raise_hint('sheet_cells')})")
                    problems.append(f"sheet {sheet.title}: read in part ({count.stopped})")
                    return
            elif element.tag == ROW:
                yield _row(parser, element)
            if element.tag != CELL and len(stack) <= 2:  # done with it: keep nothing
                element.clear()
                if stack:
                    del stack[-1][:]


def _row(parser, row) -> Row:
    number = row.get("r")
    parser.row_counter = int(number) if number and number.isdigit() else parser.row_counter + 1
    parser.col_counter = 0
    cells: dict[int, str] = {}
    for element in row:
        if element.tag != CELL:
            continue
        try:
            cell = parser.parse_cell(element)
        except (ValueError, IndexError, TypeError, OverflowError):
            continue  # one damaged cell (a shared string index out of range, a bad number)
        text = _text(cell["value"])
        if text:
            cells[int(cell["column"])] = text
    return parser.row_counter, cells


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    return " ".join(str(value).split())
