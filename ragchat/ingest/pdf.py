"""PDF pages: the text layer (pypdf), checked page by page; pages without usable text are
OCR'd (pypdfium2 renders them, Tesseract reads them) or named as needing OCR.

A page needs OCR when it has no text layer (a scan), when its text is font codes that map
to no characters (a CID font with Identity encoding and no ToUnicode map, common in Korean
PDFs, whose text extracts as `(cid:12)` or as arbitrary characters; or text that is mostly
private-use, replacement or control characters), or when it is an image with almost no text.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ragchat.ingest.budgets import Budgets
from ragchat.ingest.readers import Document, Section, UnreadableFileError

CID = re.compile(r"\(cid:\d+\)")
GARBAGE_SHARE = 0.3  # more unmapped than this and the text layer is useless
FEW_CHARACTERS = 20  # an image page with fewer characters than this is a scan
OCR_DPI = 300


def garbage(char: str) -> bool:
    """A character that stands for no real text: replacement, private use, controls."""
    code = ord(char)
    return (char == "\ufffd" or 0xE000 <= code <= 0xF8FF or code >= 0xF0000
            or (code < 32 and char not in "\t\n\r") or 0x7F <= code < 0xA0)


def page_problem(text: str, has_image: bool, unmapped_font: bool = False) -> str | None:
    """Why this page's text layer cannot be used as it is, or None when it can."""
    cids = len(CID.findall(text))
    chars = [c for c in CID.sub("", text) if not c.isspace()]
    total = cids + len(chars)
    if total == 0:
        return "no text layer"
    if unmapped_font or (cids + sum(map(garbage, chars))) / total > GARBAGE_SHARE:
        return "text is unmapped font codes (CID)"
    if has_image and len(chars) < FEW_CHARACTERS:
        return "a scanned image with almost no text layer"
    return None


def clean(text: str) -> str:
    """The usable part of a page's text: CID codes and garbage characters removed."""
    return "".join(c for c in CID.sub("", text) if not garbage(c)).strip()


def read_pdf(path: Path, ocr: str = "auto", budgets: Budgets | None = None) -> Document:
    """Every page with usable text, OCR'd where needed and possible; the rest reported."""
    reader = _open(path)
    sections: list[Section] = []
    bad: dict[int, str] = {}
    try:
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            unmapped = _unmapped_font(page)
            problem = page_problem(text, _has_image(page), unmapped)
            if problem:
                bad[number] = problem
            kept = "" if unmapped else clean(text) if problem else text.strip()
            if kept:
                sections.append(Section(kept, "pdf", page=number))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise UnreadableFileError(f"broken PDF ({type(exc).__name__}: {exc})") from exc
    return _with_ocr(path, len(reader.pages), sections, bad, ocr)


def _open(path: Path):
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as exc:
                raise UnreadableFileError("the PDF is encrypted (password-protected)") from exc
        len(reader.pages)
        return reader
    except UnreadableFileError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise UnreadableFileError(f"broken PDF ({type(exc).__name__}: {exc})") from exc


def _has_image(page) -> bool:
    """An image XObject on the page (looked up, not decoded)."""
    try:
        xobjects = page.get("/Resources", {}).get_object().get("/XObject")
        if xobjects is None:
            return False
        return any(x.get_object().get("/Subtype") == "/Image" for x in xobjects.get_object().values())
    except Exception:  # noqa: BLE001 - a strange resource dictionary is not an image
        return False


def _unmapped_font(page) -> bool:
    """A CID font with Identity encoding and no ToUnicode map: its codes are glyph numbers
    that no reader can turn into characters (pypdf then makes up characters from them)."""
    try:
        fonts = page.get("/Resources", {}).get_object().get("/Font")
        for font in (fonts.get_object().values() if fonts is not None else ()):
            font = font.get_object()
            encoding = font.get("/Encoding")
            if font.get("/Subtype") == "/Type0" and "/ToUnicode" not in font \
                    and encoding in ("/Identity-H", "/Identity-V"):
                return True
    except Exception:  # noqa: BLE001 - a strange font dictionary: trust the text check instead
        return False
    return False


def _with_ocr(path: Path, n_pages: int, sections: list[Section], bad: dict[int, str],
              ocr: str) -> Document:
    if not bad:
        return Document(tuple(sections), "page", n_pages)
    from ragchat.ingest.ocr import find_tesseract, install_hint

    tesseract = find_tesseract()
    if ocr == "off" or not tesseract.usable:
        why = ("OCR is off (ocr = \"off\")" if ocr == "off" else
               f"needs OCR: install Tesseract with Korean ({install_hint()}) and ingest again")
        problems = tuple(f"{_pages(ps)}: {reason}; {why}" for reason, ps in _by_reason(bad))
        return Document(tuple(sections), "page", n_pages, problems, needs_ocr=tuple(sorted(bad)))
    return _ocr_pages(path, n_pages, sections, bad, tesseract)


def _ocr_pages(path: Path, n_pages: int, sections: list[Section], bad: dict[int, str],
               tesseract) -> Document:
    from ragchat.ingest.ocr import OcrError, ocr_png

    by_page = {s.page: s for s in sections if s.page is not None}
    done: list[int] = []
    failed: dict[int, str] = {}
    for number, png in render_pages(path, sorted(bad)):
        try:
            text = ocr_png(png, tesseract).strip()
        except OcrError as exc:
            failed[number] = f"OCR failed ({exc})"
            continue
        if sum(c.isalnum() for c in text) == 0:
            failed[number] = f"{bad[number]}; OCR found no text"
            continue
        by_page[number] = Section(text, "pdf", page=number)
        done.append(number)
    problems = [f"{_pages(ps)}: {reason}" for reason, ps in _by_reason(failed)]
    if done and tesseract.missing_languages:
        problems.append(f"{_pages(done)}: OCR without language data "
                        f"{'+'.join(tesseract.missing_languages)}")
    ordered = tuple(by_page[p] for p in sorted(by_page))
    return Document(ordered, "page", n_pages, tuple(problems), ocr_pages=tuple(done))


def render_pages(path: Path, numbers: list[int]):
    """(page number, PNG bytes) of the given 1-based pages, rendered at OCR_DPI in grayscale."""
    import io

    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(path))
    try:
        for number in numbers:
            page = pdf[number - 1]
            bitmap = page.render(scale=OCR_DPI / 72, grayscale=True)
            buffer = io.BytesIO()
            bitmap.to_pil().save(buffer, format="PNG")
            yield number, buffer.getvalue()
            page.close()
    finally:
        pdf.close()


def _by_reason(bad: dict[int, str]) -> list[tuple[str, list[int]]]:
    reasons: dict[str, list[int]] = {}
    for page, reason in sorted(bad.items()):
        reasons.setdefault(reason, []).append(page)
    return sorted(reasons.items(), key=lambda item: item[1][0])


def _pages(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> 'pages 1-3, 7'."""
    if not numbers:
        return "no pages"
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    text = ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
    return ("page " if len(numbers) == 1 else "pages ") + text
