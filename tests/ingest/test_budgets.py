"""Bombs and traps in office and Hancom files: each stays within its budget, checked before
the memory is spent, and the file is skipped or read in part with the budget named."""

from __future__ import annotations

import shutil
import zipfile
import zlib
from pathlib import Path

import pytest

from ragchat.ingest.budgets import Budgets, OverBudgetError, ReadOptions
from ragchat.ingest.readers import read_document
from tests.ingest.officegen import write_docx, write_pptx

HWP_FIXTURES = Path(__file__).parents[1] / "fixtures" / "hwp"
SMALL = Budgets(inflated_bytes=2_000_000, xml_elements=20_000, sheet_cells=1_000)


def with_part(plain: Path, path: Path, name: str, data: bytes) -> Path:
    """A copy of a zip container with one part replaced (deflated, as Office writes it)."""
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.filename != name:
                out.writestr(info, src.read(info))
        out.writestr(name, data)
    return path


def empty_paragraphs(count: int, head: bytes, tail: bytes, para: bytes) -> bytes:
    return head + para * count + tail


W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


@pytest.mark.timeout(60)
def test_a_docx_that_unpacks_to_more_than_the_budget_is_skipped_unopened(tmp_path):
    xml = empty_paragraphs(400_000, b"<w:document " + W + b"><w:body>", b"</w:body></w:document>",
                           b"<w:p/>")  # 2.4 MB of paragraphs in a few KB
    bomb = with_part(write_docx(tmp_path / "plain.docx"), tmp_path / "bomb.docx",
                     "word/document.xml", xml)
    assert bomb.stat().st_size < 50_000
    with pytest.raises(OverBudgetError, match=r"unpacks to 3.1 MB, more than max_inflated_mb \(1.9 MB\)") as info:
        read_document(bomb, ReadOptions(SMALL))
    assert info.value.budget == "inflated_bytes"
    assert "RAGCHAT_MAX_INFLATED_MB" in info.value.hint


@pytest.mark.parametrize("maker, part", [(write_docx, "word/document.xml"),
                                         (write_pptx, "ppt/slides/slide1.xml")])
def test_a_part_with_more_xml_elements_than_the_budget_is_not_parsed(tmp_path, maker, part):
    xml = b"<a:x xmlns:a='urn:x'>" + b"<a:y/>" * 30_000 + b"</a:x>"  # 180 KB: under 2 MB
    suffix = maker.__name__.removeprefix("write_")
    bomb = with_part(maker(tmp_path / f"plain.{suffix}"), tmp_path / f"many.{suffix}", part, xml)
    with pytest.raises(OverBudgetError, match="more than 20,000 XML elements") as info:
        read_document(bomb, ReadOptions(SMALL))
    assert info.value.budget == "xml_elements"


def test_an_xml_part_in_utf16_is_counted_too(tmp_path):
    xml = ("<a:x xmlns:a='urn:x'>" + "<a:y/>" * 30_000 + "</a:x>").encode("utf-16")
    bomb = with_part(write_docx(tmp_path / "plain.docx"), tmp_path / "wide.docx",
                     "word/document.xml", xml)
    with pytest.raises(OverBudgetError, match="XML elements"):
        read_document(bomb, ReadOptions(Budgets(xml_elements=20_000)))


def test_a_normal_docx_is_read_within_the_small_budgets(tmp_path):
    document = read_document(write_docx(tmp_path / "r.docx"), ReadOptions(SMALL))
    assert "이번 분기 매출은" in document.sections[0].text


@pytest.mark.timeout(60)  # openpyxl's read-only mode fills the range: 17 billion cells
def test_a_sheet_declaring_a1_to_xfd1048576_reads_its_two_cells(tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Far"
    sheet["A1"] = "name"
    sheet["XFD1048576"] = "the far corner"
    workbook.save(tmp_path / "far.xlsx")
    assert (tmp_path / "far.xlsx").stat().st_size < 10_000
    document = read_document(tmp_path / "far.xlsx", ReadOptions(SMALL))
    [section] = document.sections
    assert section.text == "column 16384: the far corner"
    assert section.first_line == 1048576
    assert section.place == "sheet Far, A{start}:XFD{end}"
    assert document.problems == ()


def test_cells_over_the_budget_are_left_out_and_named(tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Log"
    sheet.append(["day", "event"])
    for day in range(1, 1001):
        sheet.append([day, f"check {day}"])
    workbook.create_sheet("Later")["A1"] = "never reached"
    workbook.save(tmp_path / "log.xlsx")
    document = read_document(tmp_path / "log.xlsx", ReadOptions(SMALL))
    text = "\n".join(s.text for s in document.sections)
    assert "day: 1 | event: check 1" in text
    assert "check 600" not in text and "never reached" not in text
    assert document.problems[0].startswith("sheet Log: read in part (the file's first 1,000 "
                                           "cells were read (max_sheet_cells")
    assert document.problems[1].startswith("sheet Later: not read")


def test_csv_cells_over_the_budget_are_left_out_and_named(tmp_path):
    rows = "a,b\n" + "".join(f"{i},row {i}\n" for i in range(2000))
    (tmp_path / "big.csv").write_text(rows)
    document = read_document(tmp_path / "big.csv", ReadOptions(SMALL))
    assert "b: row 10" in document.sections[0].text
    assert "row 1500" not in document.sections[0].text
    assert "max_sheet_cells" in document.problems[0]


@pytest.mark.timeout(60)
def test_a_hwpx_section_of_many_empty_paragraphs_is_read_up_to_the_budget(tmp_path):
    hp = b'xmlns:hp="http://www.hancom.co.kr/hwpml/2011/paragraph"'
    xml = (b"<hs:sec xmlns:hs='urn:s' " + hp + b"><hp:p><hp:run><hp:t>first words</hp:t>"
           b"</hp:run></hp:p>" + b"<hp:p/>" * 100_000 + b"</hs:sec>")  # 700 KB
    bomb = with_part(HWP_FIXTURES / "example.hwpx", tmp_path / "bomb.hwpx",
                     "Contents/section0.xml", xml)
    document = read_document(bomb, ReadOptions(SMALL))
    assert document.sections[0].text == "first words"
    assert document.problems == ("section 1: read up to its first 20,000 XML elements only "
                                 "(max_xml_elements; raise max_xml_elements "
                                 "(RAGCHAT_MAX_XML_ELEMENTS) to read it)",)


def test_a_hwpx_over_the_inflated_budget_is_skipped(tmp_path):
    xml = b"<s>" + b"<p/>" * 600_000 + b"</s>"
    bomb = with_part(HWP_FIXTURES / "example.hwpx", tmp_path / "bomb.hwpx",
                     "Contents/section0.xml", xml)
    with pytest.raises(OverBudgetError, match="max_inflated_mb"):
        read_document(bomb, ReadOptions(SMALL))


def test_a_hwp_section_that_unpacks_past_the_budget_is_named(tmp_path):
    import olefile

    bomb = tmp_path / "bomb.hwp"
    shutil.copy(HWP_FIXTURES / "example.hwp", bomb)
    with olefile.OleFileIO(str(bomb), write_mode=True) as ole:
        size = ole.get_size("BodyText/Section0")
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = packer.compress(b"\0" * 600_000) + packer.flush()
        assert len(data) < size
        ole.write_stream("BodyText/Section0", data + b"\0" * (size - len(data)))
    document = read_document(bomb, ReadOptions(Budgets(inflated_bytes=100_000)))
    assert document.sections == ()
    assert document.problems[0].startswith("section 1: not read (the sections unpack to more "
                                           "than max_inflated_mb")
    assert read_document(HWP_FIXTURES / "example.hwp",
                         ReadOptions(Budgets(inflated_bytes=100_000))).problems == ()
