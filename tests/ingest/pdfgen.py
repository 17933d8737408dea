"""Write a small real PDF (one text line per page, or content streams as given) without any
PDF library."""

from __future__ import annotations

from pathlib import Path

A4 = (595, 842)
LETTER = (612, 792)
BOX = b"0 g 72 300 450 300 re f"  # a filled black rectangle: ink, and no text layer


def write_pdf(path: Path, pages: list[str], size: tuple[float, float] = LETTER) -> None:
    """One line of text a page ("" draws an empty line: the page is blank)."""
    streams = []
    for text in pages:
        safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        streams.append(f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode("latin-1"))
    write_drawn_pdf(path, streams, size)


def write_drawn_pdf(path: Path, streams: list[bytes], size: tuple[float, float] = LETTER) -> None:
    """Pages of `size` points that draw the given content streams (b"": nothing at all),
    with the font Helvetica as /F1."""
    objects, font_id = page_tree(len(streams))
    for i, stream in enumerate(streams):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {size[0]:g} {size[1]:g}] "
            f"/Contents {4 + 2 * i} 0 R /Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    write_objects(path, objects)


def write_cid_pdf(path: Path, glyph_runs: list[str]) -> None:
    """A PDF whose pages show text in a CID-keyed font (Identity-H) with no ToUnicode map:
    like many Korean PDFs, its text layer maps to no characters. Each run is hex glyph ids."""
    objects, font_id = page_tree(len(glyph_runs))
    for i, run in enumerate(glyph_runs):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode())
        stream = f"BT /F1 12 Tf 72 720 Td <{run}> Tj ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(f"<< /Type /Font /Subtype /Type0 /BaseFont /HYGoThic-Medium /Encoding "
                   f"/Identity-H /DescendantFonts [{font_id + 1} 0 R] >>".encode())
    objects.append(b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /HYGoThic-Medium "
                   b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
                   b"/DW 1000 >>")
    write_objects(path, objects)


def write_objects(path: Path, objects: list[bytes]) -> None:
    """The objects (1, 2, ...; 1 is the catalog) as a PDF file with its cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))


def page_tree(n: int) -> tuple[list[bytes], int]:
    """The catalog and the page tree of n pages (page i is object 3 + 2i, its content the
    next one), and the object number the font after the pages will have."""
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode()]
    return objects, 3 + 2 * n
