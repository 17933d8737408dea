import pytest

from ragchat.ingest.htmltext import html_to_text
from ragchat.ingest.readers import (
    UnreadableFileError,
    decode,
    file_kind,
    looks_binary,
    read_sections,
)
from tests.ingest.pdfgen import write_pdf

KOREAN = "대한민국의 수도는 서울이다. 한글은 세종대왕이 만들었다.\n두 번째 줄입니다."


@pytest.mark.parametrize("encoding", ["cp949", "euc-kr", "utf-8", "utf-16"])
def test_korean_text_reads_correctly_in_each_encoding(tmp_path, encoding):
    path = tmp_path / "note.txt"
    path.write_bytes(KOREAN.encode(encoding))
    [section] = read_sections(path)
    assert section.text == KOREAN


def test_short_cp949_text_is_not_mistaken_for_another_encoding():
    text, encoding = decode("서울".encode("cp949"))
    assert text == "서울"
    assert encoding == "cp949"


def test_latin1_text_decodes_without_error():
    text, _ = decode("café crème brûlée, naïve résumé".encode("latin-1"))
    assert "caf" in text and "r" in text


def test_binary_content_is_refused(tmp_path):
    path = tmp_path / "data.txt"
    path.write_bytes(b"\x00\x01\x02binary\x00" * 100)
    with pytest.raises(UnreadableFileError):
        read_sections(path)


def test_binary_detection():
    assert looks_binary(b"abc\x00def")
    assert not looks_binary(b"plain text\n")
    assert not looks_binary("한국어".encode("utf-16"))


def test_html_keeps_text_and_headings_drops_script_and_style():
    html = ("<html><head><title>T</title><style>p{color:red}</style></head><body>"
            "<h1>Title</h1><p>First &amp; para.</p><script>alert(1)</script>"
            "<h2>Sub</h2><ul><li>one</li><li>two</li></ul></body></html>")
    text = html_to_text(html)
    assert "# Title" in text and "## Sub" in text
    assert "First & para." in text and "one" in text and "two" in text
    assert "alert" not in text and "color" not in text


def test_pdf_pages_keep_their_numbers(tmp_path):
    path = tmp_path / "doc.pdf"
    write_pdf(path, ["The first page talks about apples.", "", "The third page is about pears."])
    sections = read_sections(path)
    assert [s.page for s in sections] == [1, 3]
    assert "apples" in sections[0].text and "pears" in sections[1].text


def test_broken_pdf_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\nthis is not a pdf at all")
    with pytest.raises(UnreadableFileError):
        read_sections(path)


def test_file_kinds():
    from pathlib import Path

    assert file_kind(Path("a.md")) == "markdown"
    assert file_kind(Path("a.PDF")) == "pdf"
    assert file_kind(Path("main.py")) == "code"
    assert file_kind(Path("README")) == "text"
    assert file_kind(Path("photo.jpg")) is None


def test_a_latin1_file_that_starts_with_ff_fe_is_not_read_as_utf16():
    text = "ÿþ" + "Le café au lait est servi chaque matin; le dessert préféré des élèves.\n" * 3
    decoded, encoding = decode(text.encode("latin-1"))
    assert encoding != "utf-16"
    assert "café au lait est servi chaque matin" in decoded and "préféré" in decoded


@pytest.mark.parametrize("data", [
    "한국어 문서입니다.\nsecond line\n".encode("utf-16"),
    "hello world\n".encode("utf-16-le").join([b"\xff\xfe", b""]),
    b"\xfe\xff" + "hello world\n".encode("utf-16-be"),
    "hello world\n".encode("utf-16") + b"x",  # a last odd byte
])
def test_utf16_with_a_byte_order_mark_is_still_read(data):
    decoded, encoding = decode(data)
    assert encoding == "utf-16"
    assert "hello world" in decoded or "한국어 문서입니다." in decoded
