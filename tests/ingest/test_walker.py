import os

import pytest

from ragchat.errors import UsageError
from ragchat.ingest.walker import WalkReport, walk


def make(path, text="hello"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_walk_skips_what_it_should_and_counts_it(tmp_path):
    keep = make(tmp_path / "notes" / "a.md")
    make(tmp_path / ".hidden" / "b.md")
    make(tmp_path / "node_modules" / "pkg" / "c.md")
    make(tmp_path / ".git" / "HEAD.txt")
    venv = tmp_path / "myenv"
    make(venv / "pyvenv.cfg")
    make(venv / "lib" / "d.md")
    make(tmp_path / "big.txt", "x" * 5000)
    make(tmp_path / "photo.jpg")
    make(tmp_path / ".secret.md")
    report = WalkReport()
    found = [c.path for c in walk([tmp_path], max_bytes=1000, report=report)]
    assert found == [keep.resolve()]
    counts = report.counts()
    assert counts["too large"] == 1
    assert counts["unsupported type"] == 1
    assert counts["hidden"] == 1
    assert counts["hidden folder"] == 2
    assert counts["dependency or build folder"] == 2


def test_symlink_loops_are_not_followed(tmp_path):
    make(tmp_path / "a" / "x.md")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    report = WalkReport()
    found = list(walk([tmp_path], max_bytes=10_000, report=report))
    assert len(found) == 1
    assert report.counts().get("symlink loop", 0) >= 1


def test_missing_path_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        list(walk([tmp_path / "nope"], 1000, WalkReport()))


def test_an_explicit_file_is_taken(tmp_path):
    f = make(tmp_path / "one.txt")
    assert [c.path for c in walk([f], 1000, WalkReport())] == [f.resolve()]
