import pytest

from ragchat.ingest.document import UnreadableFileError
from ragchat.ingest.htmltext import html_to_text
from ragchat.ingest.readers import file_kind, read_sections
from tests.ingest.pdfgen import write_pdf

KOREAN = "대한민국의 수도는 서울이다. 한글은 세종대왕이 만들었다.\n두 번째 줄입니다."


@pytest.mark.parametrize("encoding", ["cp949", "euc-kr", "utf-8", "utf-16"])
def test_korean_text_reads_correctly_in_each_encoding(tmp_path, encoding):
    path = tmp_path / "note.txt"
    path.write_bytes(KOREAN.encode(encoding))
    [section] = read_sections(path)
    assert section.text == KOREAN


def test_binary_content_is_refused(tmp_path):
    path = tmp_path / "data.txt"
    path.write_bytes(b"\x00\x01\x02binary\x00" * 100)
    with pytest.raises(UnreadableFileError):
        read_sections(path)


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


def test_every_kind_has_one_reader_with_the_one_signature():
    import inspect

    from ragchat.ingest.readers import KIND_OF_SUFFIX, READERS, SUFFIXES, reader_for

    assert set(SUFFIXES) == set(READERS)
    assert sum(len(s) for s in SUFFIXES.values()) == len(KIND_OF_SUFFIX)  # one kind a suffix
    for kind in READERS:
        parameters = list(inspect.signature(reader_for(kind)).parameters)
        assert parameters == ["path", "options"], kind


def test_reader_modules_take_their_types_from_document_not_from_the_dispatcher():
    import ast
    import importlib

    from ragchat.ingest.readers import READERS

    for module in {entry.split(":")[0] for entry in READERS.values()}:
        source = importlib.import_module(f"ragchat.ingest.{module}").__file__
        tree = ast.parse(open(source, encoding="utf-8").read())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "ragchat.ingest.readers" not in imported, module


def test_a_readers_library_is_imported_only_when_its_kind_is_read(tmp_path):
    import subprocess
    import sys

    (tmp_path / "a.md").write_text("# Title\n\ntext\n", encoding="utf-8")
    code = ("import sys; from pathlib import Path; from ragchat.ingest.readers import "
            f"read_document; read_document(Path({str(tmp_path / 'a.md')!r})); "
            "print(sorted(m for m in ('pypdf', 'pypdfium2', 'docx', 'pptx', 'openpyxl', "
            "'olefile', 'lxml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
