"""Ingest and search with the real bundled MiniLM, real SQLite and real hnswlib."""

import json
import sqlite3

import pytest

from ragchat.errors import (
    CollectionBusyError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
)
from ragchat.index.collection import WriteLock, get_collection
from ragchat.index.search import open_searcher
from ragchat.ingest.ingester import ingest_paths


def top(settings, query, mode="hybrid", k=3):
    searcher = open_searcher(settings)
    try:
        return searcher.search(query, k, mode)
    finally:
        searcher.close()


def test_first_ingest_indexes_every_readable_file(settings, corpus):
    report = ingest_paths(settings, [corpus])
    assert report.new == 5  # garden.md, travel.txt, korean.txt, manual.pdf, empty.txt (no chunks)
    assert [p for p, _ in report.failed] == [str(corpus / "blob.txt")]
    assert report.chunks_total == report.chunks_added > 4
    assert report.model == "sentence-transformers/all-MiniLM-L6-v2"


def test_search_finds_english_korean_and_pdf_passages_with_locations(settings, corpus):
    ingest_paths(settings, [corpus])
    hit = top(settings, "how often should I water tomatoes")[0]
    assert hit.path == str(corpus / "garden.md")
    assert hit.heading == "Garden > Tomatoes" and hit.location.startswith("line")
    assert "six hours" in hit.text
    ko = top(settings, "불국사는 어디에 있나", mode="bm25")[0]
    assert ko.path == str(corpus / "sub" / "korean.txt") and "경주" in ko.text
    assert top(settings, "불국사는 어디에 있나")[0].path == ko.path
    pdf = top(settings, "reset the router")[0]
    assert pdf.path == str(corpus / "manual.pdf") and pdf.location == "page 1"


def test_dense_alone_finds_a_paraphrase(settings, corpus):
    ingest_paths(settings, [corpus])
    hit = top(settings, "overnight rail journey to Austria", mode="dense")[0]
    assert hit.path == str(corpus / "sub" / "travel.txt")


def test_reingest_of_an_unchanged_folder_embeds_nothing(settings, corpus):
    first = ingest_paths(settings, [corpus])
    again = ingest_paths(settings, [corpus])
    assert again.new == again.changed == again.removed == 0
    assert again.unchanged == first.new
    assert again.vectors_embedded == 0 and again.chunks_added == 0
    assert "load model" not in again.timings


def test_touched_but_identical_file_is_not_reembedded(settings, corpus):
    import os

    ingest_paths(settings, [corpus])
    path = corpus / "garden.md"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10_000_000_000))
    report = ingest_paths(settings, [corpus])
    assert report.changed == 0 and report.vectors_embedded == 0


def test_changed_file_is_replaced_and_deleted_file_removed(settings, corpus):
    ingest_paths(settings, [corpus])
    (corpus / "sub" / "travel.txt").write_text("The ferry to Helsinki departs Tallinn at noon.\n")
    (corpus / "manual.pdf").unlink()
    report = ingest_paths(settings, [corpus])
    assert (report.changed, report.removed) == (1, 1)
    texts = [h.text for h in top(settings, "Vienna night train Munich", k=10)]
    assert not any("Vienna" in t for t in texts)
    assert top(settings, "ferry Helsinki")[0].path == str(corpus / "sub" / "travel.txt")
    assert all(h.path != str(corpus / "manual.pdf") for h in top(settings, "router", k=10))


def test_ingesting_a_second_folder_keeps_the_first(settings, corpus, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.md").write_text("Saffron is the most expensive spice by weight.")
    ingest_paths(settings, [corpus])
    report = ingest_paths(settings, [other])
    assert report.removed == 0
    assert top(settings, "saffron spice")[0].path == str(other / "x.md")
    assert top(settings, "prune roses")[0].path == str(corpus / "garden.md")


def test_search_without_an_index_says_to_ingest(settings):
    with pytest.raises(IndexMissingError) as err:
        open_searcher(settings)
    assert "ragchat ingest" in err.value.hint


def test_another_model_needs_rebuild(settings, corpus, monkeypatch):
    from ragchat.config import load_settings

    ingest_paths(settings, [corpus])
    monkeypatch.setenv("RAGCHAT_EMBEDDING_MODEL", "BAAI/bge-m3")
    with pytest.raises(IndexMismatchError) as err:
        ingest_paths(load_settings(), [corpus])
    assert "--rebuild" in err.value.hint


def test_a_second_writer_is_refused(settings, corpus):
    with WriteLock(get_collection("default")):
        with pytest.raises(CollectionBusyError):
            ingest_paths(settings, [corpus])


def test_a_failure_before_commit_leaves_the_previous_index(settings, corpus, monkeypatch):
    from ragchat.index import store

    ingest_paths(settings, [corpus])
    before = [h.chunk_id for h in top(settings, "tomatoes sun")]
    (corpus / "garden.md").write_text("# Garden\n\nNothing grows here any more.\n")

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    with monkeypatch.context() as patched:
        patched.setattr(store, "set_meta", crash)
        with pytest.raises(RuntimeError):
            ingest_paths(settings, [corpus])
    assert [h.chunk_id for h in top(settings, "tomatoes sun")] == before
    folder = get_collection("default").folder
    assert sorted(p.name for p in folder.glob("vectors.*")) == ["vectors.1.hnsw"]
    report = ingest_paths(settings, [corpus])
    assert report.changed == 1
    assert report.vectors_embedded == 0 and report.vectors_reused >= 1  # kept from the failed run
    assert "Nothing grows" in top(settings, "nothing grows here")[0].text


def test_a_broken_vector_file_is_rebuilt_from_the_store(settings, corpus, caplog):
    ingest_paths(settings, [corpus])
    folder = get_collection("default").folder
    (folder / "vectors.1.hnsw").write_bytes(b"garbage")
    assert top(settings, "tomatoes sun")[0].path == str(corpus / "garden.md")
    assert "ragchat ingest PATH --collection default" in caplog.text  # the CLI prints it
    report = ingest_paths(settings, [corpus])  # nothing changed: the file is written again
    assert report.vectors_embedded == 0 and report.chunks_added == 0
    assert sorted(p.name for p in folder.glob("vectors.*")) == ["vectors.2.hnsw"]
    caplog.clear()
    assert top(settings, "tomatoes sun")[0].path == str(corpus / "garden.md")
    assert "broken" not in caplog.text
    report = ingest_paths(settings, [corpus], rebuild=True)
    assert report.vectors_embedded == 0  # the stored vectors are reused
    assert top(settings, "tomatoes sun")[0].path == str(corpus / "garden.md")


def test_a_corrupt_database_is_a_clear_error(settings, corpus):
    ingest_paths(settings, [corpus])
    db = get_collection("default").db_path
    for suffix in ("", "-wal", "-shm"):
        p = db.with_name(db.name + suffix)
        if p.exists():
            p.write_bytes(b"not a database" * 100)
    with pytest.raises(IndexCorruptError) as err:
        open_searcher(settings).search("x", 3)
    assert "ragchat ingest PATH --rebuild --collection default" in err.value.hint
    assert isinstance(err.value.__cause__, sqlite3.DatabaseError)


def test_files_gives_one_passage_per_file(settings, tmp_path, run_cli):
    # one page that talks about timeouts in every section, and one that answers in one
    folder = tmp_path / "docs"
    folder.mkdir()
    sections = "\n\n".join(
        f"## Timeouts for {name}\n\nThe {name} timeout is the time to wait for {name} before "
        f"the request fails. Set the {name} timeout in seconds; the default timeout is "
        f"{n} seconds.\n" + "More words about the transport layer. " * 40
        for n, name in enumerate(["connect", "read", "write", "pool", "proxy"], start=5))
    (folder / "timeouts.md").write_text(f"# Timeouts\n\n{sections}", encoding="utf-8")
    (folder / "retries.md").write_text(
        "# Retries\n\nA request that fails on a timeout is not retried: set retries on the "
        "transport to retry a connect timeout.\n", encoding="utf-8")
    ingest_paths(settings, [folder])
    question = "what happens when a request times out"
    timeouts, retries = str(folder / "timeouts.md"), str(folder / "retries.md")
    for mode in ("hybrid", "bm25"):  # the passages: the long page's sections come first
        assert [h.path for h in top(settings, question, mode=mode, k=2)] == [timeouts] * 2
    searcher = open_searcher(settings)
    try:
        for mode in ("hybrid", "bm25", "dense"):
            hits = searcher.search(question, 2, mode, per_file=True)
            assert sorted(h.path for h in hits) == [retries, timeouts], mode
        assert len(searcher.search(question, 5, per_file=True)) == 2  # two files match
    finally:
        searcher.close()
    cli = run_cli("search", "--files", "--json", question)
    assert cli.returncode == 0, cli.stderr
    assert sorted(r["path"] for r in json.loads(cli.stdout)["results"]) == [retries, timeouts]
