"""Rows of a sheet or a CSV file as text: the first row names the columns, every later row
becomes a `header: value | header: value` line whose line number is its row number, so
that a chunk cites the rows it holds ("sheet Sales, A2:D40").

Rows are sparse, `(row number, {column number: text})` with empty cells left out: a 5 KB
sheet may declare cells A1 and XFD1048576, and nothing here allocates the range between.
A long run of empty rows starts a new section instead of a million blank lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ragchat.ingest.document import Section

Row = tuple[int, dict[int, str]]
MAX_GAP = 50  # empty rows kept as blank lines; a longer gap starts a new section


@dataclass(frozen=True)
class Table:
    sections: tuple[Section, ...]
    width: int  # the last column that holds a value


def table_sections(rows: Iterable[Row], place: str, heading: str | None = None) -> Table:
    """Sections of `header: value` lines, their first_line the row number of their first row."""
    filled = [(number, cells) for number, cells in rows if any(cells.values())]
    if not filled:
        return Table((), 0)
    width = max(max(cells) for _, cells in filled)
    (first, header), rest = filled[0], filled[1:]
    if not rest:  # a lone row is data, not a header
        text = " | ".join(header[c] for c in sorted(header) if header[c])
        return Table((Section(text, "text", first_line=first, place=place, heading=heading),),
                     width)
    names = {c: header.get(c) or f"column {c}" for c in range(1, max(header) + 1)}
    sections = []
    lines: list[str] = []
    start = previous = rest[0][0]
    for number, cells in rest:
        if number - previous > MAX_GAP and lines:
            sections.append(Section("\n".join(lines), "text", first_line=start, place=place,
                                    heading=heading))
            lines, start = [], number
        else:
            lines.extend([""] * max(number - previous - 1, 0))
        lines.append(row_line(names, cells))
        previous = number
    sections.append(Section("\n".join(lines), "text", first_line=start, place=place,
                            heading=heading))
    return Table(tuple(sections), width)


def row_line(names: dict[int, str], cells: dict[int, str]) -> str:
    return " | ".join(f"{names.get(c) or f'column {c}'}: {cells[c]}" for c in sorted(cells)
                      if cells[c])


def dense_rows(rows: Iterable[list[str]], first_row: int = 1) -> Iterable[Row]:
    """Rows given as lists (CSV) as sparse rows, numbered from `first_row`."""
    for number, row in enumerate(rows, start=first_row):
        yield number, {c: v for c, v in enumerate(row, start=1) if v}
