"""The issue's acceptance folder, through the real CLI: HWP, HWPX, DOCX, PPTX, XLSX and an
image-only Korean PDF are each found by a phrase of their own content; the report lists
every file; protected files and the scanned page without OCR are named with a reason."""

import json
import shutil
from pathlib import Path

import pytest

from tests.ingest.officegen import write_docx, write_encrypted, write_pptx, write_xlsx
from tests.ingest.test_pdf_pages import require_tesseract

FIXTURES = Path(__file__).parents[1] / "fixtures"
NO_TESSERACT = {"RAGCHAT_TESSERACT": "/nonexistent/tesseract"}

PHRASES = {  # a phrase of each document's own content -> the file it must find first
    "임금과 신하 사이에 마땅히 지켜야 할 도리": "example.hwp",
    "개똥이 칠득이 팔푼이 기말고사": "table.hwpx",
    "이번 분기 매출은 전년 대비 증가": "report.docx",
    "스마트 농장 센서 토양 습도": "farm.pptx",
    "무선 키보드 창고 인천": "stock.xlsx",
}
SCANNED_PHRASE = "도서관 야간 개방 시간 연장"


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "문서"
    root.mkdir()
    for name in ("example.hwp", "table.hwpx", "distribution.hwp", "password-12345.hwpx"):
        shutil.copy(FIXTURES / "hwp" / name, root / name)
    shutil.copy(FIXTURES / "scanned-korean.pdf", root / "scanned.pdf")
    write_docx(root / "report.docx")
    write_pptx(root / "farm.pptx")
    write_xlsx(root / "stock.xlsx")
    write_encrypted(root / "report.docx", root / "locked.xlsx")
    (root / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    return root


def ingest(run_cli, folder: Path, env: dict | None = None) -> dict:
    result = run_cli("ingest", str(folder), "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def search(run_cli, queries: list[str]) -> list[dict]:
    result = run_cli("search", "-", "--json", "-k", "3", input="\n".join(queries) + "\n")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def first_file(answer: dict) -> str:
    return Path(answer["results"][0]["path"]).name if answer["results"] else ""


@pytest.mark.slow
def test_every_document_is_found_and_the_report_lists_every_file(run_cli, folder):
    report = ingest(run_cli, folder, env=NO_TESSERACT)
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert set(files) | {Path(p).name for p in report["skipped"]["unsupported type"]} == \
        {p.name for p in folder.iterdir()}
    assert files["farm.pptx"]["unit"] == "slide" and files["farm.pptx"]["units"] == 3
    assert files["stock.xlsx"]["unit"] == "sheet" and files["stock.xlsx"]["chunks"] == 2
    assert files["example.hwp"]["chars"] > 200
    for name, reason in [("distribution.hwp", "distribution-only"),
                         ("password-12345.hwpx", "password-protected"),
                         ("locked.xlsx", "password-protected")]:
        assert files[name]["status"] == "failed" and reason in files[name]["problems"][0]
    scanned = files["scanned.pdf"]
    assert scanned["partial"] and scanned["needs_ocr"] == [1] and scanned["chunks"] == 0
    assert "needs OCR: install Tesseract" in scanned["problems"][0]
    assert report["partial"] == [scanned["path"]]

    answers = search(run_cli, list(PHRASES))
    assert [first_file(a) for a in answers] == list(PHRASES.values())
    assert answers[4]["results"][0]["location"] == "sheet 재고, A2:C5"
    assert answers[3]["results"][0]["location"] == "slide 1 (프로젝트 개요)"


@pytest.mark.slow
def test_report_text_names_partly_read_and_unread_files(run_cli, folder):
    result = run_cli("ingest", str(folder), "--report", env=NO_TESSERACT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "partly read" in out and "scanned.pdf" in out and "needs OCR" in out
    assert "3 slides" in out and "3 sheets" in out and "photo.jpg" in out
    assert "read in part" in result.stderr and "could not read" in result.stderr


@pytest.mark.slow
def test_scanned_pdf_is_found_through_ocr_once_tesseract_is_there(run_cli, folder):
    require_tesseract()
    first = ingest(run_cli, folder, env=NO_TESSERACT)
    assert first["partial"]
    # Nothing changed on disk, but OCR is available now: the scanned file is read again.
    again = ingest(run_cli, folder)
    entry = next(f for f in again["files"] if f["path"].endswith("scanned.pdf"))
    assert entry["status"] == "changed" and entry["ocr_pages"] == [1] and entry["chunks"] >= 1
    assert again["partial"] == [] and again["changed"] == 1
    [answer] = search(run_cli, [SCANNED_PHRASE])
    assert first_file(answer) == "scanned.pdf"
    assert answer["results"][0]["location"] == "page 1"
