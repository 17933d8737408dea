"""A real `ragchat ingest` process killed with SIGKILL mid-way, and a real second writer."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

from ragchat.config import load_settings
from ragchat.index.collection import get_collection
from ragchat.ingest.ingester import ingest_paths


def spawn_ingest(folder, extra_env=None):
    env = dict(os.environ, RAGCHAT_EMBEDDING_BATCH_SIZE="2", **(extra_env or {}))
    return subprocess.Popen([sys.executable, "-m", "ragchat", "ingest", str(folder), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def count_vectors(db) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM vectors").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def search(query):
    from ragchat.index.search import open_searcher

    searcher = open_searcher(load_settings())
    try:
        return [(h.path, h.text) for h in searcher.search(query, 3)]
    finally:
        searcher.close()


def test_sigkill_mid_ingest_keeps_the_old_index_and_the_next_run_finishes(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "keep.md").write_text("The lighthouse keeper lights the lamp at dusk.")
    ingest_paths(load_settings(), [folder])
    before = search("lighthouse lamp")
    db = get_collection("default").db_path
    baseline = count_vectors(db)
    for i in range(60):
        (folder / f"note{i:03}.md").write_text(
            f"# Note {i}\n\nObservation {i}: the tide gauge read {i * 7} centimetres.\n\n"
            + f"Weather entry {i}: wind from the north at {i % 30} knots. " * 8)
    proc = spawn_ingest(folder)
    assert wait_for(lambda: count_vectors(db) >= baseline + 16), "ingest made no progress"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = count_vectors(db)
    assert partial >= baseline + 16

    assert search("lighthouse lamp") == before  # the old index still answers
    report = ingest_paths(load_settings(), [folder])
    assert report.new == 60
    assert report.vectors_reused >= partial - baseline  # nothing embedded twice
    assert any(path.endswith("note017.md") for path, _ in search("tide gauge observation 17"))


def test_a_concurrent_second_writer_is_refused_with_a_clear_message(tmp_path, run_cli):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(60):
        (folder / f"n{i}.md").write_text(f"Entry {i}. " + "Some words about entry. " * 30)
    db = get_collection("default").db_path
    proc = spawn_ingest(folder)
    try:
        assert wait_for(lambda: count_vectors(db) > 0)
        second = run_cli("ingest", str(folder))
        assert second.returncode == 4
        assert "another ragchat process is writing" in second.stderr
        assert "Traceback" not in second.stderr
        assert proc.poll() is None  # the first writer was not disturbed
    finally:
        proc.kill()
        proc.wait(timeout=30)
