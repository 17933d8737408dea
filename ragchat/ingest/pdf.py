"""PDF pages: the text layer (pypdf), checked page by page; pages without usable text are
OCR'd (pypdfium2 renders them, Tesseract reads them) or named as needing OCR.

A page needs OCR when it has no text layer (a scan), when its text is font codes that map
to no characters (a CID font with Identity encoding and no ToUnicode map, common in Korean
PDFs, whose text extracts as `(cid:12)` or as arbitrary characters; or text that is mostly
private-use, replacement or control characters), or when it is an image with almost no text.

OCR is spent within the file's budgets (ingest/budgets.py), each checked before it is spent:
a page is rendered at OCR_DPI, or at the highest resolution down to MIN_OCR_DPI that stays
within max_page_megapixels, else not at all; a page without text that renders blank costs a
small rendering and no OCR; OCR stops after ocr_max_pages pages or ocr_max_seconds seconds.
Every page left unread is named in the Document's problems, with the setting that reads it.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import replace
from pathlib import Path

from ragchat.ingest.budgets import DEFAULT_OPTIONS, SETTING_OF, Budgets, ReadOptions, raise_hint
from ragchat.ingest.document import Document, Section, UnreadableFileError

CID = re.compile(r"\(cid:\d+\)")
GARBAGE_SHARE = 0.3  # more unmapped than this and the text layer is useless
FEW_CHARACTERS = 20  # an image page with fewer characters than this is a scan
OCR_DPI = 300
# Below 150 dpi the x-height of 10 pt text falls under 10 pixels, where Tesseract's own
# documentation expects little accuracy: a page that fits the pixel budget only below that
# is not rendered but named with the setting.
MIN_OCR_DPI = 150
# The blank check: a rendering at 72 dpi and its histogram cost under a millisecond for an
# A4 page (5,000 blank pages read in 4 s). Ink is a pixel that differs from the page's
# background (its median) by more than INK_CONTRAST levels of 255; a page with at most
# BLANK_INK_SHARE of ink is blank. On an A4 page that is 50 pixels: a sheet with hundreds of
# scanner specks (47) or only a page number (17) is blank, one line of 6 pt text (79) is not.
BLANK_DPI = 72
INK_CONTRAST = 96
BLANK_INK_SHARE = 1e-4


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


def read_pdf(path: Path, options: ReadOptions = DEFAULT_OPTIONS) -> Document:
    """Every page with usable text, OCR'd where needed and possible (options.ocr) within
    the budgets; the rest reported."""
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
    return _with_ocr(path, len(reader.pages), sections, bad, options)


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
              options: ReadOptions) -> Document:
    if not bad:
        return Document(tuple(sections), "page", n_pages)
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError as exc:
        notes = {n: f"{reason}; cannot be rendered (pdfium: {exc})" for n, reason in bad.items()}
        return Document(tuple(sections), "page", n_pages, _problems(notes))
    try:
        return _rendered(pdf, Document(tuple(sections), "page", n_pages), bad, options)
    finally:
        pdf.close()


def _rendered(pdf, read: Document, bad: dict[int, str], options: ReadOptions) -> Document:
    """`read` (the text layer's pages) with the `bad` pages OCR'd where possible, the others
    named."""
    from ragchat.ingest.ocr import find_tesseract

    notes, todo = triage(pdf, bad, options.budgets)
    tesseract = find_tesseract()
    if options.ocr == "off" or not tesseract.usable or not todo:
        notes.update({n: f"{bad[n]}; {_why_not(options.ocr)}" for n in todo})
        return replace(read, problems=_problems(notes), needs_ocr=tuple(sorted(todo)))
    texts = _ocr_pages(pdf, todo, bad, notes, tesseract, options.budgets)
    by_page = {s.page: s for s in read.sections if s.page is not None}
    by_page.update({n: Section(text, "pdf", page=n) for n, text in texts.items()})
    problems = _problems(notes)
    if texts and tesseract.missing_languages:
        problems += (f"{_pages(list(texts))}: OCR without language data "
                     f"{'+'.join(tesseract.missing_languages)}",)
    return replace(read, sections=tuple(by_page[p] for p in sorted(by_page)),
                   problems=problems, ocr_pages=tuple(sorted(texts)))


def _why_not(ocr: str) -> str:
    from ragchat.ingest.ocr import install_hint

    if ocr == "off":
        return "OCR is off (ocr = \"off\")"
    return f"needs OCR: install Tesseract with Korean ({install_hint()}) and ingest again"


def triage(pdf, bad: dict[int, str], budgets: Budgets) -> tuple[dict[int, str], dict[int, int]]:
    """Of the pages without usable text: those not worth OCR, with the reason (over the pixel
    budget, blank), and the others, with the resolution each is to be rendered at."""
    import pypdfium2

    notes: dict[int, str] = {}
    todo: dict[int, int] = {}
    for number in sorted(bad):
        try:
            verdict = _triage_page(pdf, number, bad[number], budgets)
        except pypdfium2.PdfiumError as exc:
            verdict = f"{bad[number]}; cannot be rendered (pdfium: {exc})"
        if isinstance(verdict, str):
            notes[number] = verdict
        else:
            todo[number] = verdict
    return notes, todo


def _triage_page(pdf, number: int, reason: str, budgets: Budgets) -> str | int:
    """The page's dpi for OCR, or why it gets none."""
    page = pdf[number - 1]
    try:
        width, height = page.get_size()
        dpi = ocr_dpi(width, height, budgets.page_pixels)
        if dpi is None:
            return f"{reason}; {_too_big(width, height, budgets)}"
        return "blank" if reason == "no text layer" and blank(page) else dpi
    finally:
        page.close()


def ocr_dpi(width: float, height: float, page_pixels: int) -> int | None:
    """The resolution a page of width x height points is rendered at for OCR: OCR_DPI, or the
    highest that stays within `page_pixels`; None below MIN_OCR_DPI or without a size."""
    area = width * height / 72 / 72  # square inches
    if not (area > 0 and math.isfinite(area)):
        return None
    dpi = min(OCR_DPI, math.floor(math.sqrt(page_pixels / area)))
    while dpi >= MIN_OCR_DPI and _pixels(width, height, dpi) > page_pixels:
        dpi -= 1  # each side is rounded up
    return dpi if dpi >= MIN_OCR_DPI else None


def _pixels(width: float, height: float, dpi: float) -> int:
    return math.ceil(width * dpi / 72) * math.ceil(height * dpi / 72)


def _too_big(width: float, height: float, budgets: Budgets) -> str:
    if not (width * height > 0 and math.isfinite(width * height)):
        return f"not rendered: the page has no valid size ({width:g} x {height:g} pt)"
    megapixels = _pixels(width, height, MIN_OCR_DPI) / 1e6
    return (f"not rendered: {width:,.0f} x {height:,.0f} pt is {megapixels:,.0f} megapixels "
            f"at {MIN_OCR_DPI} dpi, over max_page_megapixels ({budgets.page_pixels / 1e6:g}); "
            f"{_raise_hint('page_pixels', 1)}")


def blank(page) -> bool:
    """Whether a page renders as an empty sheet: nothing, or next to nothing, stands out from
    its background (a scanner's grain, faint show-through and a few specks do not)."""
    import numpy as np

    bitmap = page.render(scale=BLANK_DPI / 72, grayscale=True)
    pixels = bitmap.to_numpy()
    if pixels.size == 0:
        return True
    histogram = np.bincount(pixels.ravel(), minlength=256)
    background = int(np.searchsorted(np.cumsum(histogram), pixels.size / 2))  # the median
    ink = (histogram[:max(background - INK_CONTRAST, 0)].sum()
           + histogram[background + INK_CONTRAST + 1:].sum())
    return bool(ink <= BLANK_INK_SHARE * pixels.size)


class _OcrBudget:
    """The OCR a file may still spend: pages and seconds, counted as they are spent."""

    def __init__(self, budgets: Budgets) -> None:
        self.budgets = budgets
        self.pages = 0
        self.deadline = time.monotonic() + budgets.ocr_seconds

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    def spent(self) -> str | None:
        """The budget that is used up, 'ocr_pages' or 'ocr_seconds'; None while neither is."""
        if self.pages >= self.budgets.ocr_pages:
            return "ocr_pages"
        return "ocr_seconds" if self.seconds_left() <= 0 else None

    def note(self, budget: str, pages: int) -> str:
        """"not OCR'd: over ocr_max_pages (200); raise ocr_max_pages (...) to read them"."""
        value = getattr(self.budgets, budget)
        limit = f"{value:g} s" if budget == "ocr_seconds" else f"{value:,}"
        return f"not OCR'd: over {SETTING_OF[budget]} ({limit}); {_raise_hint(budget, pages)}"


class _OutOfTime(Exception):
    """The file's OCR seconds ran out while Tesseract read a page."""


def _ocr_pages(pdf, todo: dict[int, int], bad: dict[int, str], notes: dict[int, str],
               tesseract, budgets: Budgets) -> dict[int, str]:
    """The text OCR reads in the pages of `todo` (page -> dpi), within the file's budgets;
    the pages it does not read get their reason in `notes`."""
    import pypdfium2

    from ragchat.ingest.ocr import OcrError

    texts: dict[int, str] = {}
    budget = _OcrBudget(budgets)
    numbers = sorted(todo)
    for index, number in enumerate(numbers):
        spent = budget.spent()
        if spent is None:
            try:
                text = _ocr_page(pdf, number, todo[number], tesseract, budget)
            except _OutOfTime:
                spent = "ocr_seconds"
            except (OcrError, pypdfium2.PdfiumError) as exc:
                notes[number] = f"OCR failed ({exc})"
                continue
        if spent:
            rest = numbers[index:]
            notes.update(dict.fromkeys(rest, budget.note(spent, len(rest))))
            break
        if any(c.isalnum() for c in text):
            texts[number] = text
        else:
            notes[number] = f"{bad[number]}; OCR found no text"
    return texts


def _ocr_page(pdf, number: int, dpi: int, tesseract, budget: _OcrBudget) -> str:
    """The text of one page, rendered at `dpi` and read by Tesseract within the seconds
    left (raises _OutOfTime when those, not Tesseract's own page limit, ran out)."""
    from ragchat.ingest.ocr import PAGE_TIMEOUT_S, OcrTimeoutError, ocr_png

    budget.pages += 1
    png = render_png(pdf, number, dpi)
    seconds = budget.seconds_left()
    try:
        return ocr_png(png, tesseract, min(PAGE_TIMEOUT_S, seconds)).strip()
    except OcrTimeoutError:
        if seconds < PAGE_TIMEOUT_S:
            raise _OutOfTime from None
        raise


def render_png(pdf, number: int, dpi: int) -> bytes:
    """PNG bytes of 1-based page `number`, rendered at `dpi` in grayscale."""
    import io

    page = pdf[number - 1]
    try:
        bitmap = page.render(scale=dpi / 72, grayscale=True)
        buffer = io.BytesIO()
        bitmap.to_pil().save(buffer, format="PNG")
        return buffer.getvalue()
    finally:
        page.close()


def _problems(notes: dict[int, str]) -> tuple[str, ...]:
    return tuple(f"{_pages(ps)}: {reason}" for reason, ps in _by_reason(notes))


def _raise_hint(budget: str, pages: int) -> str:
    """raise_hint, of `pages` pages: '... to read it' or '... to read them'."""
    hint = raise_hint(budget)
    return hint if pages == 1 else hint.removesuffix("it") + "them"


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
