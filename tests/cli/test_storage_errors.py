"""A RAGCHAT_HOME (or data folder) that ragchat cannot write is one clear line, exit 2: a
file where the folder should be, a read-only folder, a full disk. Before: `internal error
(this is a bug)`, for the file even without a log path."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys

import pytest

from ragchat.paths import storage_problem
from tests.helpers import cli, without_root_override


def test_a_ragchat_home_that_is_a_file_is_one_clear_line(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("RAGCHAT_HOME", str(home))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text("hello\n")
    code, out, err = cli(capsys, "ingest", str(tmp_path / "notes"))
    assert code == 2
    assert err.splitlines() == [
        f"ragchat: error: cannot write {home}/data/collections/default: Not a directory",
        f"  hint: RAGCHAT_HOME={home} must be a folder you can write, on a disk with free "
        "space: point it at another folder, or fix its permissions"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="drops root's override "
                    "with a Linux prctl")
def test_a_read_only_ragchat_home_is_one_clear_line(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text("hello\n")
    home.chmod(0o555)
    try:
        proc = subprocess.run([sys.executable, "-m", "ragchat", "ingest", str(tmp_path / "notes")],
                              env={**os.environ, "RAGCHAT_HOME": str(home)}, capture_output=True,
                              text=True, preexec_fn=without_root_override, timeout=120)
    finally:
        home.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"ragchat: error: cannot write {home}/data: Permission denied\n")
    assert "internal error" not in proc.stderr


def test_a_full_disk_is_one_clear_line(monkeypatch, tmp_path, capsys):
    from ragchat.index import collection

    def full(self, coll):
        raise OSError(errno.ENOSPC, "No space left on device", str(coll.folder))

    monkeypatch.setattr(collection.WriteLock, "__init__", full)
    (tmp_path / "a.md").write_text("hello\n")
    code, out, err = cli(capsys, "ingest", str(tmp_path / "a.md"))
    assert code == 2
    assert "No space left on device" in err.splitlines()[0]
    assert "internal error" not in err


@pytest.mark.parametrize("exc, clear", [
    (PermissionError(errno.EACCES, "Permission denied", "/x"), True),
    (OSError(errno.EROFS, "Read-only file system", "/x"), True),
    (sqlite3.OperationalError("database or disk is full"), True),
    (sqlite3.OperationalError("attempt to write a readonly database"), True),
    (sqlite3.OperationalError("no such table: chunks"), False),  # a bug: stays one
    (OSError(errno.EBADF, "Bad file descriptor"), False),
    (ValueError("x"), False),
])
def test_which_errors_are_the_storage_s(exc, clear):
    assert (storage_problem(exc) is not None) is clear
