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


# --- hostile folders: FIFOs, links out of the folder, unreadable folders --------------------

def walked(root, follow_links=False):
    report = WalkReport()
    found = [c.path for c in walk([root], 10_000, report, follow_links=follow_links)]
    return found, report.skipped


@pytest.mark.timeout(20)  # a FIFO opened for reading blocks forever: this would hang
def test_a_fifo_is_named_not_read(tmp_path):
    keep = make(tmp_path / "a.md")
    os.mkfifo(tmp_path / "pipe.txt")
    found, skipped = walked(tmp_path)
    assert found == [keep]
    assert skipped["not a regular file"] == [str(tmp_path / "pipe.txt")]


def test_a_link_out_of_the_folder_is_skipped_and_named(tmp_path):
    outside = tmp_path / "outside"
    make(outside / "secret.txt")
    make(outside / "sub" / "deep.md")
    root = tmp_path / "docs"
    keep = make(root / "a.md")
    os.symlink(outside, root / "etc")
    os.symlink(outside / "secret.txt", root / "secret.txt")
    found, skipped = walked(root)
    assert found == [keep]
    assert sorted(skipped["link out of the folder"]) == [str(root / "etc"),
                                                         str(root / "secret.txt")]
    found, _ = walked(root, follow_links=True)
    # files of a folder come before its subfolders; etc/secret.txt is the same file again
    assert found == [keep, root / "secret.txt", root / "etc" / "sub" / "deep.md"]


def test_a_link_inside_the_folder_is_followed_under_the_path_found(tmp_path):
    make(tmp_path / "real" / "a.md")
    other = tmp_path / "zlinks"
    other.mkdir()
    os.symlink(tmp_path / "real", other / "to-real")
    os.symlink(tmp_path / "real" / "a.md", other / "same.md")
    found, skipped = walked(tmp_path)
    assert found == [tmp_path / "real" / "a.md"]  # found once, under its first path
    assert skipped["symlink loop"] == [str(other / "to-real")]
    assert skipped["same file as another path"] == [str(other / "same.md")]
    (tmp_path / "real" / "a.md").unlink()
    os.symlink(tmp_path / "zlinks" / "gone.md", other / "broken.md")
    found, skipped = walked(tmp_path)
    assert found == []
    assert str(other / "broken.md") in skipped["broken link or unreadable"]


def test_the_folder_itself_may_be_a_link(tmp_path):
    make(tmp_path / "real" / "a.md")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    found, _ = walked(tmp_path / "alias")
    assert found == [tmp_path / "real" / "a.md"]


UNREADABLE_SCRIPT = """
import json, sys
from pathlib import Path
from ragchat.ingest.walker import WalkReport, walk
report = WalkReport()
found = [str(c.path) for c in walk([Path(sys.argv[1])], 10_000, report)]
print(json.dumps({"found": found, "skipped": report.skipped}))
"""


def test_an_unreadable_folder_is_named_as_a_normal_user_sees_it(tmp_path):
    """Mode 000 stops a normal user, not root: the walk runs without root's override."""
    import json
    import subprocess
    import sys

    from tests.helpers import without_root_override

    keep = make(tmp_path / "a.md")
    make(tmp_path / "locked" / "pyvenv-check" / "b.md")
    make(tmp_path / "locked" / "c.md")
    (tmp_path / "locked").chmod(0o000)
    try:
        done = subprocess.run([sys.executable, "-c", UNREADABLE_SCRIPT, str(tmp_path)],
                              capture_output=True, text=True, timeout=60,
                              preexec_fn=without_root_override)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["found"] == [str(keep)]
    assert result["skipped"]["unreadable folder"] == [str(tmp_path / "locked")]
