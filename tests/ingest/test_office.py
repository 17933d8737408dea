"""DOCX, PPTX, XLSX and CSV readers on files written by the libraries themselves."""

import pytest

from ragchat.ingest.chunking import chunk_sections
from ragchat.ingest.document import UnreadableFileError
from ragchat.ingest.readers import read_document
from tests.ingest.officegen import write_docx, write_encrypted, write_pptx, write_xlsx


def chunks_of(path, size=800):
    return chunk_sections(list(read_document(path).sections), size, 100)


def test_docx_headings_become_heading_paths_and_tables_rows(tmp_path):
    chunks = chunks_of(write_docx(tmp_path / "r.docx"))
    by_heading = {c.heading: c.text for c in chunks}
    assert by_heading["분기 보고서"] == "이번 분기 매출은 전년 대비 12% 증가했습니다."
    assert "서울 | 김민수 | 3억" in by_heading["분기 보고서 > Hiring"]
    assert by_heading["분기 보고서 > Risks"].startswith("Supply of lithium")
    assert all(c.start_line is None and c.page is None for c in chunks)  # no fake line numbers
    assert chunks[-1].location == "분기 보고서 > Risks"


def test_pptx_slides_keep_number_title_tables_and_notes(tmp_path):
    document = read_document(write_pptx(tmp_path / "p.pptx"))
    assert (document.unit, document.units) == ("slide", 3)
    chunks = chunk_sections(list(document.sections), 800, 100)
    assert [c.location for c in chunks] == ["slide 1 (프로젝트 개요)", "slide 2 (Timeline)",
                                            "slide 3 (예산)"]
    assert "토양 습도" in chunks[0].text and "Notes: 발표 시간은 10분입니다." in chunks[0].text
    assert "프로젝트 개요" not in chunks[0].text  # the title is the heading, not repeated
    assert "센서 구입 | 4500만원" in chunks[2].text
    assert chunks[2].index_text.startswith("예산\n")


def test_xlsx_rows_are_header_value_lines_cited_by_cell_range(tmp_path):
    document = read_document(write_xlsx(tmp_path / "s.xlsx"))
    assert (document.unit, document.units) == ("sheet", 3)
    chunks = chunk_sections(list(document.sections), 800, 100)
    assert chunks[0].place == "sheet 재고, A2:C5"
    assert chunks[0].text.splitlines()[0] == "품목: 무선 키보드 | 수량: 42 | 창고: 인천"
    assert "품목: 모니터 받침대 | 수량: 8 | 창고: 광주" in chunks[0].text
    assert chunks[1].location == "sheet Notes, A1:A1"
    assert chunks[0].index_text.startswith("재고\n")


def test_a_long_sheet_is_cited_by_the_rows_of_each_chunk(tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Log"
    sheet.append(["day", "event"])
    for day in range(1, 201):
        sheet.append([day, f"sensor check number {day} passed"])
    workbook.save(tmp_path / "log.xlsx")
    chunks = chunks_of(tmp_path / "log.xlsx", size=400)
    assert len(chunks) > 5
    assert chunks[0].place.startswith("sheet Log, A2:B")
    last = chunks[-1]
    assert last.place.endswith(":B201") and "day: 200 | event: sensor check number 200" in last.text


def test_csv_and_tsv_rows(tmp_path):
    (tmp_path / "t.csv").write_text('name,city\nKim,Seoul\n"Lee, J",Busan\n', encoding="utf-8")
    [chunk] = chunks_of(tmp_path / "t.csv")
    assert chunk.text == "name: Kim | city: Seoul\nname: Lee, J | city: Busan"
    assert chunk.location == "rows 2-3"
    (tmp_path / "t.tsv").write_bytes("이름\t도시\n박\t대구\n".encode("cp949"))
    [chunk] = chunks_of(tmp_path / "t.tsv")
    assert chunk.text == "이름: 박 | 도시: 대구"


@pytest.mark.parametrize("maker, suffix", [(write_docx, "docx"), (write_xlsx, "xlsx"),
                                           (write_pptx, "pptx")])
def test_password_protected_office_files_get_a_reason(tmp_path, maker, suffix):
    plain = maker(tmp_path / f"plain.{suffix}")
    locked = write_encrypted(plain, tmp_path / f"locked.{suffix}")
    with pytest.raises(UnreadableFileError, match="password-protected") as info:
        read_document(locked)
    assert "unprotected copy" in info.value.hint


def test_a_damaged_office_file_is_a_reason_not_a_crash(tmp_path):
    plain = write_docx(tmp_path / "plain.docx")
    broken = tmp_path / "broken.docx"
    broken.write_bytes(plain.read_bytes()[:2000])
    with pytest.raises(UnreadableFileError, match="DOCX"):
        read_document(broken)
    (tmp_path / "text.xlsx").write_text("not a workbook")
    with pytest.raises(UnreadableFileError, match="not a valid XLSX file"):
        read_document(tmp_path / "text.xlsx")
