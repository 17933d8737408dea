from ragchat.ingest.chunking import chunk_sections, split_blocks
from ragchat.ingest.document import Section

MD = """# Guide

Intro paragraph.

## Install

Run the installer.
It takes a minute.

```sh
# not a heading
make install
```

## Use

Type a question.
"""


def test_headings_give_each_chunk_its_path_and_line_range():
    chunks = chunk_sections([Section(MD, "markdown")], size=800, overlap=100)
    by_heading = {c.heading: c for c in chunks}
    assert set(by_heading) == {"Guide", "Guide > Install", "Guide > Use"}
    install = by_heading["Guide > Install"]
    assert "make install" in install.text and "# not a heading" in install.text
    lines = MD.split("\n")
    assert lines[install.start_line - 1] == "Run the installer."
    assert lines[install.end_line - 1] == "```"
    assert install.location == f"lines {install.start_line}-{install.end_line} (Guide > Install)"
    assert by_heading["Guide > Use"].index_text.startswith("Guide > Use\n")


def test_chunks_respect_the_size_and_overlap():
    paragraphs = [f"Paragraph {i} " + "word " * 40 for i in range(30)]
    text = "\n\n".join(paragraphs)
    chunks = chunk_sections([Section(text, "text")], size=600, overlap=250)
    assert len(chunks) > 5
    assert all(len(c.text) <= 600 for c in chunks)
    for a, b in zip(chunks, chunks[1:]):  # the next chunk starts with the end of this one
        assert b.text.split("\n\n")[0] in a.text
    joined = "\n\n".join(c.text for c in chunks)
    assert all(p.strip() in joined for p in paragraphs)


def test_long_lines_and_sentences_are_split_hard_when_needed():
    text = "한국어 문장입니다. " * 300 + "x" * 2000
    chunks = chunk_sections([Section(text, "text")], size=500, overlap=50)
    assert all(len(c.text) <= 500 for c in chunks)
    assert sum(c.text.count("x") for c in chunks) >= 2000


def test_pdf_chunks_keep_the_page():
    chunks = chunk_sections([Section("a\n\nb", "pdf", page=4)], size=800, overlap=0)
    assert [c.page for c in chunks] == [4]
    assert chunks[0].location == "page 4"


def test_rst_headings():
    rst = "Title\n=====\n\nText one.\n\nSection\n-------\n\nText two.\n"
    chunks = chunk_sections([Section(rst, "rst")], size=800, overlap=0)
    assert [c.heading for c in chunks] == ["Title", "Title > Section"]


def test_blank_text_gives_no_chunks():
    assert chunk_sections([Section("\n\n   \n", "text")], size=800, overlap=100) == []


def test_blocks_track_lines():
    blocks = split_blocks(Section("a\nb\n\n\nc", "text"))
    assert [(b.text, b.start, b.end) for b in blocks] == [("a\nb", 1, 2), ("c", 5, 5)]
