"""OCR of a hostile PDF stays within its budgets: pixels of a rendered page, pages and seconds
of OCR per file; blank pages cost no OCR. Tesseract is faked (a script on RAGCHAT_TESSERACT
that logs its calls) where a test counts calls or time, and real where it reads text."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ragchat.ingest import ocr
from ragchat.ingest.budgets import Budgets, ReadOptions
from ragchat.ingest.pdf import MIN_OCR_DPI, OCR_DPI, ocr_dpi
from ragchat.ingest.readers import read_document
from tests.ingest.pdfgen import A4, BOX, write_drawn_pdf
from tests.ingest.test_pdf_pages import SCANNED, no_tesseract, require_tesseract  # noqa: F401

FAKE_TESSERACT = '''#!{python}
import pathlib, sys, time
args = sys.argv[1:]
if args == ["--version"]:
    sys.exit(print("tesseract 5.3.0 (fake)"))
if args == ["--list-langs"]:
    sys.exit(print('List of available languages in "fake" (2):\\neng\\nkor'))
sys.stdin.buffer.read()
with open({log!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
time.sleep({sleep})
out = pathlib.Path(args[1])
out.with_suffix(".txt").write_text("Fake text read from a drawn page\\n")
out.with_suffix(".tsv").write_text("level\\tpage_num\\tblock_num\\tpar_num\\tline_num\\tword_num"
    "\\tleft\\ttop\\twidth\\theight\\tconf\\ttext\\n4\\t1\\t1\\t1\\t1\\t0\\t0\\t0\\t900\\t40\\t-1\\t\\n"
    "5\\t1\\t1\\t1\\t1\\t1\\t0\\t0\\t900\\t40\\t95\\tFake_text_read_from_a_drawn_page\\n")
'''


@pytest.fixture
def fake_tesseract(tmp_path, monkeypatch):
    """Install a fake Tesseract; returns a function that sets how long each call takes and
    gives the log of calls (one line each)."""
    log = tmp_path / "tesseract-calls.log"
    log.touch()
    program = tmp_path / "tesseract"

    def install(sleep: float = 0.0) -> Path:
        program.write_text(FAKE_TESSERACT.format(python=sys.executable, log=str(log),
                                                 sleep=sleep))
        program.chmod(0o755)
        return log

    install()
    monkeypatch.setenv("RAGCHAT_TESSERACT", str(program))
    ocr.find_tesseract.cache_clear()
    yield install
    ocr.find_tesseract.cache_clear()


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines()


def test_ocr_dpi_stays_within_the_pixel_budget():
    assert ocr_dpi(*A4, 40_000_000) == OCR_DPI
    dpi = ocr_dpi(*A4, 4_000_000)
    assert dpi is not None and MIN_OCR_DPI <= dpi < OCR_DPI
    assert (A4[0] * dpi / 72) * (A4[1] * dpi / 72) <= 4_000_000
    assert ocr_dpi(*A4, 1_000_000) is None  # under 150 dpi: not rendered
    assert ocr_dpi(19000, 19000, 40_000_000) is None
    assert ocr_dpi(0, 842, 40_000_000) is None and ocr_dpi(float("inf"), 1, 40_000_000) is None


def test_page_over_the_pixel_budget_is_named_not_rendered(tmp_path, monkeypatch,
                                                          fake_tesseract):
    import pypdfium2

    def render(*args, **kwargs):
        raise AssertionError("a page over the pixel budget was rendered")

    monkeypatch.setattr(pypdfium2.PdfPage, "render", render)
    path = tmp_path / "huge.pdf"
    write_drawn_pdf(path, [BOX], size=(19000, 19000))  # 6 gigapixels at 300 dpi
    document = read_document(path)
    assert document.sections == () and document.needs_ocr == () and document.ocr_pages == ()
    [problem] = document.problems
    assert problem.startswith("page 1: no text layer; not rendered: 19,000 x 19,000 pt")
    assert "over max_page_megapixels (40); raise max_page_megapixels " \
           "(RAGCHAT_MAX_PAGE_MEGAPIXELS) to read it" in problem
    assert calls(fake_tesseract()) == []


def test_blank_pages_are_named_blank_and_never_ocrd(tmp_path, fake_tesseract):
    path = tmp_path / "blank.pdf"
    write_drawn_pdf(path, [b""] * 300 + [BOX] + [b"BT /F1 12 Tf 72 720 Td () Tj ET"] * 2)
    document = read_document(path)
    assert document.problems == ("pages 1-300, 302-303: blank",)
    assert document.ocr_pages == (301,) and document.needs_ocr == ()
    assert len(calls(fake_tesseract())) == 1


def test_blank_pages_do_not_need_ocr_without_tesseract(tmp_path, no_tesseract):  # noqa: F811
    path = tmp_path / "blank.pdf"
    write_drawn_pdf(path, [b""] * 3)
    document = read_document(path)
    assert document.problems == ("pages 1-3: blank",) and document.needs_ocr == ()


def five_scanned_pages(path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(5):
        writer.append(str(SCANNED))
    writer.write(str(path))


def test_ocr_stops_after_ocr_max_pages_and_names_the_rest(tmp_path):
    require_tesseract()
    path = tmp_path / "five.pdf"
    five_scanned_pages(path)
    document = read_document(path, ReadOptions(Budgets(ocr_pages=2)))
    assert document.ocr_pages == (1, 2) and [s.page for s in document.sections] == [1, 2]
    assert "시설관리팀" in "".join(document.sections[1].text.split())
    assert document.problems == ("pages 3-5: not OCR'd: over ocr_max_pages (2); raise "
                                 "ocr_max_pages (RAGCHAT_OCR_MAX_PAGES) to read them",)
    assert document.needs_ocr == ()  # a budget, not a missing Tesseract: no re-read


def test_ocr_stops_after_ocr_max_seconds_and_names_the_rest(tmp_path, fake_tesseract):
    log = fake_tesseract(sleep=30)  # longer than the budget: its call is cut short
    path = tmp_path / "drawn.pdf"
    write_drawn_pdf(path, [BOX] * 3)
    document = read_document(path, ReadOptions(Budgets(ocr_seconds=1.5)))
    assert document.ocr_pages == () and document.sections == ()
    assert document.problems == ("pages 1-3: not OCR'd: over ocr_max_seconds (1.5 s); raise "
                                 "ocr_max_seconds (RAGCHAT_OCR_MAX_SECONDS) to read them",)
    assert len(calls(log)) == 1


def test_ocr_seconds_count_across_pages(tmp_path, fake_tesseract):
    log = fake_tesseract(sleep=0.4)
    path = tmp_path / "drawn.pdf"
    write_drawn_pdf(path, [BOX] * 30)
    document = read_document(path, ReadOptions(Budgets(ocr_seconds=2)))
    read = len(document.ocr_pages)
    assert 1 <= read < 30 and document.ocr_pages == tuple(range(1, read + 1))
    [problem] = document.problems
    assert problem.startswith(f"pages {read + 1}-30: not OCR'd: over ocr_max_seconds (2 s)")
    assert len(calls(log)) in (read, read + 1)  # the last call may be the one cut short


MEMO = Path(__file__).parents[1] / "fixtures" / "sparse-korean-memo.pdf"


def test_sparse_korean_memo_is_read():
    """Four short lines on an A4 scan: Tesseract's automatic segmentation reads nothing."""
    require_tesseract()
    document = read_document(MEMO)
    assert document.ocr_pages == (1,), document.problems
    squashed = "".join(" ".join(s.text for s in document.sections).split())
    for word in ("회의안내", "본관삼층", "신규장비구매예산검토"):
        assert word in squashed


def reading(text: str, psm: int, confidence: float, line_length: float = 20) -> ocr.OcrText:
    return ocr.OcrText(text, psm, len("".join(text.split())), confidence, line_length)


@pytest.fixture
def readings(monkeypatch) -> tuple[dict[int, ocr.OcrText], list[int]]:
    """What the fake read_image returns per page segmentation mode, and the modes tried."""
    given: dict[int, ocr.OcrText] = {}
    tried: list[int] = []

    def read_image(png, tesseract, psm, timeout):
        tried.append(psm)
        return given[psm]

    monkeypatch.setattr(ocr, "read_image", read_image)
    return given, tried


FOUND = ocr.Tesseract("tesseract", "5", ("kor", "eng"))
LINE = "The night opening of the library ends at ten."


def test_a_sure_first_reading_is_kept_alone(readings):
    given, tried = readings
    given[3] = reading(LINE, 3, 95.0)
    assert ocr.ocr_png(b"png", FOUND) == LINE and tried == [3]


@pytest.mark.parametrize("first", [
    reading("", 3, 0.0),  # nothing read: the sparse memo
    reading("회의 안내", 3, 92.0, 6.9),  # few characters
    reading("것이다. 도서관 " * 20, 3, 86.0, 2.3),  # a page read in pieces of lines
])
def test_an_unsure_reading_is_replaced_by_one_that_reads_far_more(readings, first):
    given, tried = readings
    given[3], given[6] = first, reading("회의 안내 일시 장소 안건 대회의실 " * 20, 6, 93.0)
    assert ocr.ocr_png(b"png", FOUND) == given[6].text and tried == [3, 6]


def test_a_second_reading_that_reads_little_more_is_not_kept(readings):
    """psm 6 reads a two-column page across its columns: a few more characters, wrong order."""
    given, tried = readings
    given[3] = reading(LINE * 20, 3, 70.0)  # unsure: low confidence
    given[6] = reading(LINE * 21, 6, 70.0)
    assert ocr.ocr_png(b"png", FOUND) == given[3].text and tried == [3, 6]


def test_tesseract_tsv_gives_characters_confidence_and_line_length():
    tsv = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight"
           "\tconf\ttext\n1\t1\t0\t0\t0\t0\t0\t0\t900\t900\t-1\t\n"
           "4\t1\t1\t1\t1\t0\t10\t10\t400\t40\t-1\t\n"
           "5\t1\t1\t1\t1\t1\t10\t10\t80\t40\t90\t회의\n"
           "5\t1\t1\t1\t1\t2\t100\t10\t300\t40\t60\tnote\n"
           "4\t1\t1\t1\t2\t0\t10\t60\t900\t40\t-1\t\n")  # a line without words
    assert ocr.read_tsv(tsv) == (6, pytest.approx((90 * 2 + 60 * 4) / 6), 10.0)
    assert ocr.read_tsv("") == (0, 0.0, 0.0)
