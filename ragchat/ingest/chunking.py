"""Split sections into chunks by structure: headings, then paragraphs, then lines, then characters.

Each chunk keeps where it came from (heading path, line range or page) for citations.
Neighbouring chunks of one section overlap so that a fact cut at a boundary is still found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ragchat.ingest.document import Section
from ragchat.ingest.markup import content_blocks
from ragchat.locations import format_location


@dataclass(frozen=True)
class Chunk:
    text: str
    heading: str | None
    start_line: int | None
    end_line: int | None
    page: int | None
    place: str | None = None  # "slide 3", "sheet Sales, A2:D40": where pages and lines don't fit
    heading_in_index: bool = True  # setting index_headings

    @property
    def location(self) -> str:
        return format_location(self.page, self.start_line, self.end_line, self.heading,
                               self.place)

    @property
    def index_text(self) -> str:
        """What the embedder and BM25 see: the heading path gives the chunk its context."""
        return f"{self.heading}\n{self.text}" if self.heading and self.heading_in_index \
            else self.text


@dataclass(frozen=True)
class Block:
    """A paragraph (or a heading) with its line range."""

    text: str
    start: int
    end: int
    heading_level: int = 0  # > 0: this block is a heading of that level


MD_HEADING_OPEN = re.compile(r"(#{1,6})\s")  # the rest of the line is parsed by hand: linear
FENCE = re.compile(r"^\s*(```|~~~)")
RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+.:_])\1{2,}\s*$")


def split_blocks(section: Section) -> list[Block]:
    """Paragraphs separated by blank lines; headings (markdown or rst) as their own blocks."""
    lines = section.text.split("\n")
    blocks: list[Block] = []
    para: list[str] = []
    para_start = 0
    in_fence = False
    rst_levels: list[str] = []
    base = section.first_line or 1
    i = 0

    def flush(end: int) -> None:
        nonlocal para
        if any(x.strip() for x in para):
            blocks.append(Block("\n".join(para).strip("\n"), base + para_start, base + end))
        para = []

    while i < len(lines):
        line = lines[i]
        if section.kind == "markdown" and FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _heading(section.kind, lines, i, rst_levels)
        if heading:
            level, title, used = heading
            if para and _is_overline(para[-1], lines, i):
                para.pop()  # the line above an overlined reST title is part of the title
            flush(i - 1)
            blocks.append(Block(title, base + i, base + i + used - 1, heading_level=level))
            i += used
            para_start = i
            continue
        if not line.strip() and not in_fence:
            flush(i - 1)
            para_start = i + 1
        else:
            if not para:
                para_start = i
            para.append(line)
        i += 1
    flush(len(lines) - 1)
    return blocks


def _heading(kind: str, lines: list[str], i: int, rst_levels: list[str]):
    line = lines[i]
    if kind == "markdown":
        title = _markdown_title(line)
        if title is not None:
            return title[0], title[1], 1
    if kind == "rst" and line.strip() and i + 1 < len(lines):
        m = RST_UNDERLINE.match(lines[i + 1])
        if m and len(lines[i + 1].rstrip()) >= len(line.rstrip()) and not RST_UNDERLINE.match(line):
            # an overlined title is a style of its own: "=== / Title / ===" ranks above
            # "Title / ===" (Sphinx pages often use the first for the page title)
            style = m.group(1) + ("/" if _is_overline(lines[i - 1] if i else "", lines, i) else "")
            if style not in rst_levels:
                rst_levels.append(style)
            return rst_levels.index(style) + 1, line.strip(), 2
    return None


def _markdown_title(line: str) -> tuple[int, str] | None:
    """`## Title ##` -> (2, "Title"); None for a line that is not an ATX heading. A closing
    run of `#` counts only after a space (CommonMark), so `# C#` is titled "C#"."""
    opening = MD_HEADING_OPEN.match(line)
    if opening is None:
        return None
    title = line[opening.end():].strip()
    unclosed = title.rstrip("#")
    if unclosed != title and (not unclosed or unclosed[-1].isspace()):
        title = unclosed.rstrip()
    return (len(opening.group(1)), title) if title else None


def _is_overline(above: str, lines: list[str], i: int) -> bool:
    """`above` (the line before lines[i]) repeats lines[i + 1]'s underline: an overline."""
    below = lines[i + 1].rstrip() if i + 1 < len(lines) else ""
    return bool(below) and above.rstrip() == below and bool(RST_UNDERLINE.match(above))


def chunk_sections(sections: list[Section], size: int, overlap: int) -> list[Chunk]:
    """Chunk every section; chunks never cross a page or a heading."""
    chunks: list[Chunk] = []
    for section in sections:
        chunks.extend(_chunk_section(section, size, overlap))
    return chunks


def _chunk_section(section: Section, size: int, overlap: int) -> Iterator[Chunk]:
    root = [(0, section.heading)] if section.heading else []
    stack: list[tuple[int, str]] = list(root)  # (level, title)
    group: list[Block] = []
    blocks = split_blocks(section)
    if section.kind in ("markdown", "rst"):
        blocks = list(content_blocks(blocks, section.kind))
    for block in blocks:
        if block.heading_level:
            yield from _pack(group, _path(stack), section, size, overlap)
            group = []
            stack = [(lvl, t) for lvl, t in stack if lvl < block.heading_level]
            stack.append((block.heading_level, block.text))
        else:
            group.append(block)
    yield from _pack(group, _path(stack), section, size, overlap)


def _path(stack: list[tuple[int, str]]) -> str | None:
    return " > ".join(t for _, t in stack) if stack else None


def _pack(blocks: list[Block], heading: str | None, section: Section, size: int,
          overlap: int) -> Iterator[Chunk]:
    """Greedily pack blocks up to `size` characters, carrying `overlap` characters over."""
    pieces = [p for b in blocks for p in _split_block(b, size)]
    current: list[Block] = []
    length = 0
    for piece in pieces:
        if current and length + len(piece.text) + 2 > size:
            yield _make(current, heading, section)
            current = _tail(current, overlap, size - len(piece.text))
            length = sum(len(b.text) + 2 for b in current)
        current.append(piece)
        length += len(piece.text) + 2
    if current:
        yield _make(current, heading, section)


def _tail(blocks: list[Block], overlap: int, room: int) -> list[Block]:
    """The last blocks of a chunk, up to `overlap` characters, to start the next one with."""
    kept: list[Block] = []
    total = 0
    for block in reversed(blocks):
        total += len(block.text) + 2
        if total > min(overlap, room):
            break
        kept.insert(0, block)
    return kept


def _make(blocks: list[Block], heading: str | None, section: Section) -> Chunk:
    text = "\n\n".join(b.text for b in blocks)
    if section.page is not None:
        return Chunk(text, heading, None, None, section.page)
    start, end = blocks[0].start, blocks[-1].end
    if section.place:
        place = section.place.format(start=start, end=end) if section.first_line else section.place
        return Chunk(text, heading, None, None, None, place)
    if section.first_line is None:
        return Chunk(text, heading, None, None, None)
    return Chunk(text, heading, start, end, None)


def _split_block(block: Block, size: int) -> Iterator[Block]:
    """A block longer than `size`: split by lines, then by sentence, then hard."""
    if len(block.text) <= size:
        yield block
        return
    lines = block.text.split("\n")
    buf: list[str] = []
    length = 0  # of "\n".join(buf) + "\n", kept as lines are added
    start = block.start
    for offset, line in enumerate(lines):
        if buf and length + len(line) > size:
            yield Block("\n".join(buf), start, block.start + offset - 1)
            buf, length, start = [], 0, block.start + offset
        if len(line) > size:
            for part in _split_long_line(line, size):
                yield Block(part, block.start + offset, block.start + offset)
            start = block.start + offset + 1
            continue
        buf.append(line)
        length += len(line) + 1
    if buf:
        yield Block("\n".join(buf), start, block.end)


SENTENCE_END = re.compile(r"(?<=[.!?。？！])\s+")


def _split_long_line(line: str, size: int) -> Iterator[str]:
    """A line longer than `size` in pieces: whole sentences where they fit, else cut at a
    space (or hard). Linear: the rest of a long sentence is walked by index, not copied."""
    buf = ""
    for part in SENTENCE_END.split(line):
        part = part.strip()
        start = 0
        while len(part) - start > size:
            cut = part.rfind(" ", start, start + size)
            cut = cut if cut > start + size // 2 else start + size
            if buf:
                yield buf
                buf = ""
            yield part[start:cut].strip()
            start = _skip_spaces(part, cut)
        rest = part[start:]
        if not rest:
            continue
        if buf and len(buf) + len(rest) + 1 > size:
            yield buf
            buf = rest
        else:
            buf = f"{buf} {rest}" if buf else rest
    if buf:
        yield buf


def _skip_spaces(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at
