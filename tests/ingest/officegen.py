"""Write small real office files with the libraries that read them (python-docx, python-pptx,
openpyxl), in Korean and English, for the reader and ingest tests."""

from __future__ import annotations

from pathlib import Path


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("분기 보고서", level=1)
    document.add_paragraph("이번 분기 매출은 전년 대비 12% 증가했습니다.")
    document.add_heading("Hiring", level=2)
    document.add_paragraph("The team hired two data engineers in Busan.")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([("지역", "담당자", "예산"), ("서울", "김민수", "3억"),
                             ("부산", "이영희", "2억")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_heading("Risks", level=2)
    document.add_paragraph("Supply of lithium cells remains the largest risk.")
    document.save(str(path))
    return path


def write_pptx(path: Path) -> Path:
    import pptx
    from pptx.util import Inches

    presentation = pptx.Presentation()
    slides = [("프로젝트 개요", "스마트 농장 센서는 토양 습도를 측정합니다.", "발표 시간은 10분입니다."),
              ("Timeline", "Field trials start in the spring near Jeonju.", ""),
              ("예산", "", "")]
    for title, body, notes in slides:
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = title
        if body:
            slide.placeholders[1].text_frame.text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    table_slide = presentation.slides[2]
    shape = table_slide.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1))
    for (r, c), value in {(0, 0): "항목", (0, 1): "금액", (1, 0): "센서 구입",
                          (1, 1): "4500만원"}.items():
        shape.table.cell(r, c).text = value
    presentation.save(str(path))
    return path


def write_xlsx(path: Path) -> Path:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "재고"
    sheet.append(["품목", "수량", "창고"])
    sheet.append(["무선 키보드", 42, "인천"])
    sheet.append(["Ergonomic mouse", 17, "Daejeon"])
    sheet.append([None, None, None])
    sheet.append(["모니터 받침대", 8, "광주"])
    other = workbook.create_sheet("Notes")
    other["A1"] = "Stocktaking happens every last Friday of the month."
    workbook.create_sheet("Empty")
    workbook.save(str(path))
    return path


def write_encrypted(plain: Path, path: Path, password: str = "secret") -> Path:
    """A password-protected copy of an office file, as Office writes it (msoffcrypto-tool)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    with plain.open("rb") as f, path.open("wb") as out:
        OOXMLFile(f).encrypt(password, out)
    return path
