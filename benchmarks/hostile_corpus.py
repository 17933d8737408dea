"""The hostile folder of benchmarks/hostile_ingest.py: good files beside one of each trap.

`build(folder, "full")` writes the full-size files (zip bombs that unpack to gigabytes, a PDF
of 5,000 blank pages, an 8 MB line, ...), `"small"` the same traps at a size a test can
afford. Every file is made here, from nothing but ragchat's own dependencies (the office
libraries write the base files that the bombs are grafted into).
"""

from __future__ import annotations

import os
import shutil
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SECRET = "swordfish-launch-code"  # in a file outside the folder, reached only through links
GOOD_QUERIES = {"greenhouse watering Tuesdays": "notes.md",
                "lithium supply risk": "report.docx",
                "장비 구매 예산": "memo-scan.pdf"}
GB = 2**30
MB = 2**20


@dataclass(frozen=True)
class Entry:
    name: str
    what: str
    make: Callable[[Path, bool], None]  # (path, full size?)


def build(folder: Path, scale: str, only: str | None = None) -> list[Entry]:
    """Write the corpus (or the one entry named `only`) into `folder`; its entries."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    for entry in ENTRIES:
        if only is None or entry.name == only:
            entry.make(folder / entry.name, scale == "full")
    return ENTRIES


# --- good files -------------------------------------------------------------------------

def _notes(path: Path, full: bool) -> None:
    path.write_text("# Greenhouse\n\nThe greenhouse needs watering on Tuesdays and Fridays.\n")


def _report(path: Path, full: bool) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Risks", level=1)
    document.add_paragraph("Supply of lithium cells remains the largest risk this year.")
    document.save(str(path))


def _memo(path: Path, full: bool) -> None:
    shutil.copy(FIXTURES / "sparse-korean-memo.pdf", path)


# --- bombs ------------------------------------------------------------------------------

def _zip_with_part(base: Path, path: Path, part: str, chunks: Iterator[bytes]) -> None:
    """`base` with `part` replaced by the streamed bytes (deflated: a bomb stays small)."""
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.filename != part:
                out.writestr(info, src.read(info))
        info = zipfile.ZipInfo(part)
        info.compress_type = zipfile.ZIP_DEFLATED
        with out.open(info, "w", force_zip64=True) as stream:
            for chunk in chunks:
                stream.write(chunk)


def _repeated(head: bytes, unit: bytes, total: int, tail: bytes) -> Iterator[bytes]:
    yield head
    block = unit * max(1, MB // len(unit))
    for _ in range(total // len(block)):
        yield block
    yield tail


W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _docx_bomb(path: Path, full: bool) -> None:
    import docx

    base = path.with_suffix(".base")
    docx.Document().save(str(base))
    _zip_with_part(base, path, "word/document.xml", _repeated(
        b"<w:document " + W + b"><w:body>", b"<w:p/>", 2 * GB if full else 4 * MB,
        b"</w:body></w:document>"))
    base.unlink()


def _pptx_bomb(path: Path, full: bool) -> None:
    import pptx

    base = path.with_suffix(".base")
    presentation = pptx.Presentation()
    presentation.slides.add_slide(presentation.slide_layouts[6])
    presentation.save(str(base))
    _zip_with_part(base, path, "ppt/slides/slide1.xml", _repeated(
        b"<p:sld xmlns:p='http://schemas.openxmlformats.org/presentationml/2006/main' "
        b"xmlns:a='http://schemas.openxmlformats.org/drawingml/2006/main'><p:cSld><p:spTree>",
        b"<a:p/>", 2 * GB if full else 4 * MB, b"</p:spTree></p:cSld></p:sld>"))
    base.unlink()


def _xlsx_corners(path: Path, full: bool) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "top left"
    workbook.active["XFD1048576"] = "bottom right"
    workbook.save(str(path))


def _xlsx_bomb(path: Path, full: bool) -> None:
    import openpyxl

    base = path.with_suffix(".base")
    openpyxl.Workbook().save(str(base))
    row = b'<row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c></row>'
    _zip_with_part(base, path, "xl/worksheets/sheet1.xml", _repeated(
        b"<worksheet xmlns='http://schemas.openxmlformats.org/spreadsheetml/2006/main'>"
        b"<sheetData>", row, 4 * GB if full else 8 * MB, b"</sheetData></worksheet>"))
    base.unlink()


def _hwpx_paragraphs(path: Path, full: bool) -> None:
    _zip_with_part(FIXTURES / "hwp" / "example.hwpx", path, "Contents/section0.xml", _repeated(
        b"<hs:sec xmlns:hs='http://www.hancom.co.kr/hwpml/2011/section' "
        b"xmlns:hp='http://www.hancom.co.kr/hwpml/2011/paragraph'>",
        b"<hp:p/>", 250 * MB if full else 2 * MB, b"</hs:sec>"))


def _hwp_bomb(path: Path, full: bool) -> None:
    import olefile

    shutil.copy(FIXTURES / "hwp" / "example.hwp", path)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        size = ole.get_size("BodyText/Section0")
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = packer.compress(b"\0" * (1000 * size)) + packer.flush()  # deflate's best ratio
        ole.write_stream("BodyText/Section0", data[:size] + b"\0" * (size - len(data[:size])))


# --- PDFs -------------------------------------------------------------------------------

def _pdf(pages: list[tuple[float, float, bytes]]) -> bytes:
    """A PDF of pages (width, height in points, content stream), no fonts, no text layer."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for width, height, content in pages:
        stream = len(objects) + 2
        kids.append(f"{len(objects) + 1} 0 R".encode())
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] "
                       f"/Contents {stream} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % len(pages)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def _huge_page(path: Path, full: bool) -> None:
    """One 19,000 pt page (6.6 m) with a drawn line: 300 dpi would be 6 gigapixels."""
    path.write_bytes(_pdf([(19000, 19000, b"10 w 100 100 m 18900 18900 l S")]))


def _blank_pages(path: Path, full: bool) -> None:
    path.write_bytes(_pdf([(595, 842, b"")] * (5000 if full else 40)))


# --- traps in text ----------------------------------------------------------------------

def _heading_spaces(path: Path, full: bool) -> None:
    path.write_text("# a" + " " * 10_000 + "b\n\nText.\n")


def _html_comments(path: Path, full: bool) -> None:
    path.write_text("<p>start</p>" + "<!--" * ((1 * MB if full else 100_000) // 4))


def _rst_comment(path: Path, full: bool) -> None:
    path.write_text(".. " + " " * (1 * MB if full else 100_000) + ":\n\nText.\n")


def _long_line(path: Path, full: bool) -> None:
    sentence = "All work and no play makes a long line. "
    path.write_text(sentence * ((8 * MB if full else 200_000) // len(sentence)) + "\n")


# --- traps in the folder ----------------------------------------------------------------

def _fifo(path: Path, full: bool) -> None:
    os.mkfifo(path)


def _unreadable(path: Path, full: bool) -> None:
    path.mkdir()
    (path / "private.md").write_text("Nobody may read this folder.\n")
    os.chmod(path, 0)


def _outside(folder: Path) -> Path:
    outside = folder.parent / f"{folder.name}-outside"
    outside.mkdir(exist_ok=True)
    (outside / f"{SECRET}.txt").write_text(f"The secret is {SECRET}.\n")
    return outside


def _link_to_etc(path: Path, full: bool) -> None:
    os.symlink("/etc", path)


def _link_to_secret(path: Path, full: bool) -> None:
    os.symlink(_outside(path.parent) / f"{SECRET}.txt", path)


ENTRIES = [
    Entry("notes.md", "a good Markdown file", _notes),
    Entry("report.docx", "a good DOCX", _report),
    Entry("memo-scan.pdf", "a clean scan of a sparse four-line Korean memo (OCR)", _memo),
    Entry("bomb.docx", "a DOCX whose document.xml unpacks to 2 GB", _docx_bomb),
    Entry("bomb.pptx", "a PPTX whose slide unpacks to 2 GB", _pptx_bomb),
    Entry("corners.xlsx", "an XLSX holding cells A1 and XFD1048576", _xlsx_corners),
    Entry("bomb.xlsx", "an XLSX whose sheet unpacks to 4 GB", _xlsx_bomb),
    Entry("paragraphs.hwpx", "an HWPX section of 250 MB of empty paragraphs", _hwpx_paragraphs),
    Entry("bomb.hwp", "an HWP whose section unpacks ~1000 times its size", _hwp_bomb),
    Entry("huge-page.pdf", "a PDF with one 19,000 pt page", _huge_page),
    Entry("blank.pdf", "a PDF of 5,000 blank pages", _blank_pages),
    Entry("heading.md", "a heading line with 10,000 inner spaces", _heading_spaces),
    Entry("comments.html", "1 MB of <!-- with no -->", _html_comments),
    Entry("comment.rst", "a reST comment line of 1 MB of spaces", _rst_comment),
    Entry("long-line.txt", "one 8 MB line", _long_line),
    Entry("pipe.txt", "a FIFO", _fifo),
    Entry("locked", "a folder nobody may read", _unreadable),
    Entry("etc", "a link to /etc", _link_to_etc),
    Entry("secret.txt", "a link to a file outside the folder", _link_to_secret),
]
