"""PDF pages without a usable text layer: found page by page, OCR'd with Tesseract when it is
installed, named with the install command when it is not. Never dropped silently."""

import os
import shutil
from pathlib import Path

import pytest

from ragchat.ingest import ocr
from ragchat.ingest.budgets import ReadOptions
from ragchat.ingest.pdf import page_problem
from ragchat.ingest.readers import read_document
from tests.ingest.pdfgen import BOX, write_cid_pdf, write_drawn_pdf

SCANNED = Path(__file__).parents[1] / "fixtures" / "scanned-korean.pdf"


@pytest.fixture
def no_tesseract(monkeypatch):
    monkeypatch.setenv("RAGCHAT_TESSERACT", "/nonexistent/tesseract")
    ocr.find_tesseract.cache_clear()
    yield
    ocr.find_tesseract.cache_clear()


def require_tesseract() -> ocr.Tesseract:
    ocr.find_tesseract.cache_clear()
    found = ocr.find_tesseract()
    if not (found.usable and "kor" in found.languages):
        message = f"Tesseract with Korean is not installed ({ocr.install_hint()})"
        if os.environ.get("CI"):  # .ci/run installs it: there, a missing OCR path is a failure
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_page_problems():
    assert page_problem("", False) == "no text layer"
    assert page_problem("  \n ", True) == "no text layer"
    assert "CID" in page_problem("(cid:53)(cid:51)(cid:12) (cid:9)", False)
    assert "CID" in page_problem("\ue000\ue001\ue002\ufffd ab", False)
    assert "CID" in page_problem("안녕하세요", False, unmapped_font=True)
    assert "scanned" in page_problem("3", True)
    assert page_problem("3", False) is None
    assert page_problem("서울은 한국의 수도이다. Seoul is the capital.", True) is None


def test_image_only_page_is_named_with_the_install_command(no_tesseract):
    document = read_document(SCANNED)
    assert document.sections == ()
    assert document.needs_ocr == (1,)
    [problem] = document.problems
    assert problem.startswith("page 1: no text layer; needs OCR: install Tesseract")
    assert ocr.install_hint() in problem


def test_cid_font_pages_are_not_indexed_as_garbage(tmp_path):
    path = tmp_path / "cid.pdf"
    write_cid_pdf(path, ["0012003400560078009a00bc00de", "0003000400050006"])
    document = read_document(path, ReadOptions(ocr="off"))
    assert document.sections == ()
    assert document.needs_ocr == (1, 2)
    assert document.problems == ('pages 1-2: text is unmapped font codes (CID); '
                                 'OCR is off (ocr = "off")',)


def test_good_pages_are_kept_and_bad_ones_named(tmp_path, no_tesseract):
    path = tmp_path / "mixed.pdf"
    text = [b"BT /F1 12 Tf 72 720 Td (Page one has real text about apples.) Tj ET",
            b"BT /F1 12 Tf 72 720 Td (Page five is fine too.) Tj ET"]
    write_drawn_pdf(path, [text[0], BOX, BOX, b"", text[1]])  # 2-3 drawn, no text; 4 blank
    document = read_document(path)
    assert [s.page for s in document.sections] == [1, 5]
    assert document.needs_ocr == (2, 3)
    assert document.problems[0].startswith("pages 2-3: no text layer; needs OCR")
    assert document.problems[1] == "page 4: blank"


def test_scanned_korean_page_is_read_by_ocr():
    require_tesseract()
    document = read_document(SCANNED)
    assert document.ocr_pages == (1,) and document.needs_ocr == ()
    text = " ".join(s.text for s in document.sections)
    squashed = "".join(text.split())
    assert "야간개방" in squashed and "시설관리팀" in squashed
    assert "library" in text


def test_doctor_facts_about_tesseract(no_tesseract):
    assert not ocr.find_tesseract().usable
    ocr.find_tesseract.cache_clear()
    os.environ.pop("RAGCHAT_TESSERACT")
    found = ocr.find_tesseract()
    assert found.usable == bool(shutil.which("tesseract") and found.lang_arg)
