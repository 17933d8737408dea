"""How a chunk's place in its file is written in search results and citations."""

from __future__ import annotations


def format_location(page: int | None, start: int | None, end: int | None,
                    heading: str | None, place: str | None = None) -> str:
    """'page 3', 'lines 4-9 (Setup > Install)', 'slide 2 (Budget)', or just the heading."""
    if place:
        where = place
    elif page:
        where = f"page {page}"
    elif start is None:
        where = ""
    else:
        where = f"line {start}" if start == end else f"lines {start}-{end}"
    if heading and where and heading not in where:
        return f"{where} ({heading})"
    return where or heading or ""
