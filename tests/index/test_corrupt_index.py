"""A damaged index, through the real CLI: real files overwritten, truncated or made
unreadable in tmp. Every command says what is wrong and the exact command that fixes it
(exit 3, no traceback); `ingest --rebuild` sets the old index aside and builds a new one."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ragchat.index.collection import WriteLock, get_collection
from tests.helpers import cli, without_root_override

FIX = "ragchat ingest PATH --rebuild --collection default"
STAMP = re.compile(r"^index\.sqlite\.corrupt-\d{8}-\d{6}$")


@pytest.fixture
def folder(tmp_path, capsys) -> Path:
    """A small folder, ingested; enough notes that the database spans several pages."""
    root = tmp_path / "notes"
    root.mkdir()
    (root / "train.txt").write_text("The night train to Vienna leaves Munich at 23:10.\n")
    for i in range(40):
        (root / f"note{i:02}.txt").write_text(f"Note {i}: the tide gauge read {i * 7} cm. " * 6)
    code, _, err = cli(capsys, "ingest", str(root), "-q")
    assert code == 0, err
    return root


def db_path() -> Path:
    return get_collection("default").db_path


def overwrite(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(os.urandom(8192))


def truncate(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.truncate(path, path.stat().st_size // 2)


DAMAGE = {"garbage": overwrite, "truncated": truncate}


def assert_one_clear_error(code: int, err: str, fix: str = FIX) -> None:
    assert code == 3
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-2].startswith("ragchat: error: the index of collection 'default' cannot be "
                                "read: index.sqlite")
    assert lines[-1].startswith("  hint: set it aside and build a new one: " + fix)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_search_ask_collections_and_ingest_say_what_is_wrong_and_how_to_fix_it(damage, folder, capsys):
    DAMAGE[damage](db_path())
    code, _, err = cli(capsys, "search", "night train")
    assert_one_clear_error(code, err)
    if damage == "truncated":
        assert "truncated:" in err
    code, _, err = cli(capsys, "ask", "when does the night train leave?")
    assert_one_clear_error(code, err)
    code, _, err = cli(capsys, "collections")
    assert_one_clear_error(code, err)
    code, _, err = cli(capsys, "ingest", str(folder))
    assert_one_clear_error(code, err, f"ragchat ingest {folder} --rebuild --collection default")


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_doctor_flags_the_collection_with_the_fix(damage, folder, capsys):
    DAMAGE[damage](db_path())
    code, out, _ = cli(capsys, "doctor", "--json")
    assert code == 0
    report = json.loads(out)
    [entry] = report["collection_checks"]
    assert entry["name"] == "default" and entry["ok"] is False and entry["unreadable"] is True
    assert entry["problem"].startswith("index.sqlite") and entry["fix"] == FIX
    assert any(p.startswith("collection 'default' cannot be opened") and FIX in p
               for p in report["problems"])
    code, out, _ = cli(capsys, "doctor")
    assert f"(fix: {FIX})" in out


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_rebuild_sets_the_damaged_index_aside_and_builds_a_new_one(damage, folder, capsys):
    DAMAGE[damage](db_path())
    damaged = db_path().read_bytes()
    code, _, err = cli(capsys, "ingest", str(folder), "--rebuild")
    assert code == 0, err
    [aside] = [p for p in db_path().parent.iterdir() if STAMP.match(p.name)]
    assert f"could not be read: moved it to {aside}" in err
    assert aside.read_bytes() == damaged  # kept as it was, for whoever wants to look
    code, out, err = cli(capsys, "search", "night train", "--json")
    assert code == 0, err
    assert Path(json.loads(out)["results"][0]["path"]).name == "train.txt"
    code, out, _ = cli(capsys, "doctor", "--json")
    assert json.loads(out)["collection_checks"][0]["ok"] is True
    code, _, err = cli(capsys, "ingest", str(folder), "--rebuild")  # a sound index stays
    assert code == 0 and "could not be read" not in err
    assert len([p for p in db_path().parent.iterdir() if STAMP.match(p.name)]) == 1


def test_rebuild_waits_for_no_one_and_moves_nothing_while_another_writer_runs(folder, capsys):
    overwrite(db_path())
    with WriteLock(get_collection("default")):
        code, _, err = cli(capsys, "ingest", str(folder), "--rebuild")
    assert code == 4 and "another ragchat process is writing" in err
    assert not [p for p in db_path().parent.iterdir() if "corrupt" in p.name]


@pytest.mark.parametrize("damage", ["garbage", "flipped bytes"])
def test_a_broken_vectors_file_is_rebuilt_and_named_by_doctor(damage, folder, capsys):
    vectors = db_path().parent / "vectors.1.hnsw"
    data = bytearray(vectors.read_bytes())
    if damage == "garbage":
        data = bytearray(os.urandom(4096))
    else:  # link lists that point anywhere: hnswlib would crash reading them
        for offset in range(200, len(data) - 4, len(data) // 300):
            data[offset:offset + 4] = b"\xff\xff\xff\x7f"
    vectors.write_bytes(bytes(data))
    code, out, err = cli(capsys, "search", "night train")
    assert code == 0 and "train.txt" in out
    assert "ragchat ingest PATH --collection default" in err and "Traceback" not in err
    code, out, _ = cli(capsys, "doctor", "--json")
    [entry] = json.loads(out)["collection_checks"]
    assert entry["ok"] is False and entry["unreadable"] is False
    assert entry["fix"] == "ragchat ingest PATH --collection default"
    code, _, err = cli(capsys, "ingest", str(folder), "-q")  # rewrites it, reads nothing
    assert code == 0, err
    code, out, err = cli(capsys, "search", "night train")
    assert code == 0 and "train.txt" in out and "broken" not in err


def run_as_a_user(*args: str) -> subprocess.CompletedProcess:
    """`ragchat ARGS` in a process that meets file permissions as a normal user does."""
    return subprocess.run([sys.executable, "-m", "ragchat", *args], capture_output=True,
                          text=True, timeout=300, preexec_fn=without_root_override)


def test_an_unreadable_index_is_named_and_set_aside_by_a_rebuild(folder):
    db_path().chmod(0)
    try:
        result = run_as_a_user("search", "night train")
        assert_one_clear_error(result.returncode, result.stderr)
        result = run_as_a_user("ingest", str(folder), "--rebuild")
        assert result.returncode == 0, result.stderr
        assert "could not be read: moved it to" in result.stderr
        result = run_as_a_user("search", "night train")
        assert result.returncode == 0 and "train.txt" in result.stdout
    finally:
        for path in db_path().parent.iterdir():
            path.chmod(0o644)


def test_a_damaged_index_that_cannot_be_moved_is_a_clear_error(folder):
    overwrite(db_path())
    db_path().parent.chmod(0o555)
    try:
        result = run_as_a_user("ingest", str(folder), "--rebuild")
    finally:
        db_path().parent.chmod(0o755)
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert "could not be moved aside (Permission denied" in result.stderr
    assert "ragchat collections rm default" in result.stderr
