"""HWP 5 and HWPX readers on real files from public repositories (see tests/fixtures/hwp)."""

from pathlib import Path

import pytest

from ragchat.ingest import hwp
from ragchat.ingest.document import UnreadableFileError
from ragchat.ingest.readers import file_kind, read_document

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hwp"


def text_of(name: str) -> str:
    return "\n".join(s.text for s in read_document(FIXTURES / name).sections)


@pytest.mark.parametrize("name", ["example.hwp", "example.hwpx"])
def test_paragraphs_in_reading_order(name):
    text = text_of(name)
    assert text.startswith("삼강오륜\n")
    assert text.index("군위신강: 임금과 신하 사이") < text.index("붕우유신: 친구 사이에는 믿음")


def test_the_same_document_saved_as_hwp_and_hwpx_reads_the_same():
    assert text_of("example.hwp") == text_of("example.hwpx")


def test_hwp_table_rows_with_caption_and_cells_in_order():
    lines = text_of("table.hwp").splitlines()
    assert lines[0] == "표"  # the caption
    assert lines[1:] == ["ABC 123 | DEF | GHI", "LMN | OPQ | STR", "UVM | 123 | 456"]


def test_hwpx_table_rows():
    text = text_of("table.hwpx")
    assert "이름 | 국어 | 영어 | 수학" in text
    assert "개똥이 | 89 | 65 | 78" in text


def test_hwpx_table_captions_are_read():
    assert "표  아래 캡션" in text_of("table-caption.hwpx")


def test_footnotes_and_endnotes_are_read():
    text = text_of("footnote-endnote.hwp")
    assert "각주 두 번째입니다." in text and "미주 두 번째입니다." in text


def test_sections_are_the_place_of_the_text():
    document = read_document(FIXTURES / "example.hwp")
    assert (document.unit, document.units) == ("section", 1)
    assert [s.place for s in document.sections] == ["section 1"]
    assert document.sections[0].first_line is None


@pytest.mark.parametrize("name, reason", [
    ("password-12345.hwp", "password-protected"),
    ("password-12345.hwpx", "password-protected"),
    ("distribution.hwp", "distribution-only"),
])
def test_protected_files_get_a_reason_not_a_crash(name, reason):
    with pytest.raises(UnreadableFileError, match=reason) as info:
        read_document(FIXTURES / name)
    assert info.value.hint


def test_not_an_hwp_file(tmp_path):
    fake = tmp_path / "fake.hwp"
    fake.write_text("just text")
    with pytest.raises(UnreadableFileError, match="not an HWP 5 file"):
        read_document(fake)
    zipped = tmp_path / "zipped.hwp"
    zipped.write_bytes((FIXTURES / "example.hwpx").read_bytes())
    with pytest.raises(UnreadableFileError, match="rename it to .hwpx"):
        read_document(zipped)


def test_a_damaged_hwpx_is_a_reason(tmp_path):
    broken = tmp_path / "broken.hwpx"
    broken.write_bytes((FIXTURES / "example.hwpx").read_bytes()[:3000])
    with pytest.raises(UnreadableFileError):
        read_document(broken)


def test_para_text_controls():
    def units(*codes: int) -> bytes:
        return b"".join(c.to_bytes(2, "little") for c in codes)

    text = "가나".encode("utf-16-le") + units(9, 0, 0, 0, 0, 0, 0, 0) + "다".encode("utf-16-le") \
        + units(11, *b"tbl ", 0, 0, 0) + units(10) + "😀".encode("utf-16-le") + units(13)
    assert hwp.para_text(text) == "가나\t다\n😀"


def test_long_records_use_the_extended_size():
    payload = "긴 문단 ".encode("utf-16-le") * 600  # > 4095 bytes
    header = (0xFFF << 20) | (0 << 10) | hwp.TAG_PARA_TEXT
    data = header.to_bytes(4, "little") + len(payload).to_bytes(4, "little") + payload
    [(tag, level, body)] = list(hwp.records(data))
    assert (tag, level, body) == (hwp.TAG_PARA_TEXT, 0, payload)


def test_file_kinds():
    assert file_kind(Path("a.HWP")) == "hwp"
    assert file_kind(Path("a.hwpx")) == "hwpx"
