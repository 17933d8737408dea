"""The reading child: a file that hangs, crashes or eats memory is that file's failure, the
child is replaced, and the next file is read. Hostile behaviour comes from real files where
one exists (a DOCX that lxml cannot fit in the memory limit) and otherwise from a hook the
child loads (tests/ingest/child_hooks), as a library bug would behave."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ragchat.ingest.budgets import Budgets
from ragchat.ingest.document import UnreadableFileError
from ragchat.ingest.worker import ReaderProcess, ReadJob

HOOKS = Path(__file__).parent / "child_hooks"


@pytest.fixture
def hooked(monkeypatch):
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(HOOKS), path) if p))


def job(path: Path) -> ReadJob:
    return ReadJob(str(path), "off", 800, 100, True)


def test_files_are_read_and_chunked_in_the_child(tmp_path):
    (tmp_path / "a.md").write_text("# Title\n\nThe answer is forty-two.\n")
    with ReaderProcess(Budgets()) as reader:
        result = reader.read(job(tmp_path / "a.md"))
        again = reader.read(job(tmp_path / "a.md"))
    assert [c.text for c in result.chunks] == ["The answer is forty-two."]
    assert result.chunks[0].heading == "Title" and result == again
    (tmp_path / "b.bin.txt").write_bytes(b"\x00" * 100)
    with ReaderProcess(Budgets()) as reader, pytest.raises(UnreadableFileError, match="binary"):
        reader.read(job(tmp_path / "b.bin.txt"))


@pytest.mark.timeout(60)
def test_a_file_that_hangs_is_stopped_at_its_deadline_and_the_next_is_read(tmp_path, hooked):
    (tmp_path / "hang.md").write_text("never read")
    (tmp_path / "good.md").write_text("read after the hang")
    with ReaderProcess(Budgets(file_seconds=2)) as reader:
        with pytest.raises(UnreadableFileError, match=r"longer than file_timeout_s \(2 s\)") as info:
            reader.read(job(tmp_path / "hang.md"))
        assert "RAGCHAT_FILE_TIMEOUT_S" in info.value.hint
        assert reader.read(job(tmp_path / "good.md")).chunks[0].text == "read after the hang"


@pytest.mark.timeout(60)
def test_a_crash_in_the_reader_is_the_file_s_failure(tmp_path, hooked):
    (tmp_path / "crash.md").write_text("boom")
    (tmp_path / "good.md").write_text("still here")
    with ReaderProcess(Budgets()) as reader:
        with pytest.raises(UnreadableFileError, match=r"crashed the reader \(SIGABRT\)"):
            reader.read(job(tmp_path / "crash.md"))
        assert reader.read(job(tmp_path / "good.md")).chunks[0].text == "still here"


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "getrlimit") and os.name != "posix",
                    reason="the memory limit is RLIMIT_AS (Linux and macOS)")
def test_memory_past_the_limit_is_the_file_s_failure(tmp_path, hooked):
    (tmp_path / "eat.md").write_text("more")
    (tmp_path / "good.md").write_text("fine")
    with ReaderProcess(Budgets(memory_bytes=600 << 20)) as reader:
        with pytest.raises(UnreadableFileError, match="out of memory"):
            reader.read(job(tmp_path / "eat.md"))
        assert reader.read(job(tmp_path / "good.md")).chunks[0].text == "fine"


@pytest.mark.timeout(120)
def test_a_real_docx_too_big_for_the_memory_limit_fails_alone(tmp_path):
    """No budget stops it (they are raised here): the child's memory limit does. lxml then
    reports a parse error of its own rather than MemoryError; either way the file fails alone."""
    from tests.ingest.officegen import write_docx
    from tests.ingest.test_budgets import W, with_part

    xml = (b"<w:document " + W + b"><w:body>" + b"<w:p><w:r><w:t>x</w:t></w:r></w:p>" * 1_500_000
           + b"</w:body></w:document>")
    big = with_part(write_docx(tmp_path / "plain.docx"), tmp_path / "big.docx",
                    "word/document.xml", xml)
    (tmp_path / "good.md").write_text("fine")
    budgets = Budgets(inflated_bytes=1 << 30, xml_elements=10**8, memory_bytes=500 << 20)
    with ReaderProcess(budgets) as reader:
        with pytest.raises(UnreadableFileError, match="memory|DOCX"):
            reader.read(ReadJob(str(big), "off", 800, 100, True))
        assert reader.read(job(tmp_path / "good.md")).chunks[0].text == "fine"
