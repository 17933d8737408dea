"""Many identical chunks (boilerplate in every file) must not hide the right one: the real
bundled MiniLM, real SQLite and a real hnswlib index, which holds each distinct text once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragchat.index import generations, store, vectors
from ragchat.index.collection import get_collection
from ragchat.index.search import open_searcher
from ragchat.ingest.ingester import ingest_paths

BOILERPLATE = ("This document is confidential and intended solely for the use of the "
               "individual to whom it is addressed. If you have received it in error, notify "
               "the sender.")
RIGHT = "The night train to Vienna leaves Munich at 23:10 from platform 11."
COPIES = 150  # with one hnswlib item per chunk, 100 copies already hid the right chunk


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "memos"
    root.mkdir()
    for i in range(COPIES):
        (root / f"memo{i:03}.txt").write_text(BOILERPLATE + "\n")
    (root / "right.txt").write_text(RIGHT + "\n")
    return root


def search(settings, query: str, mode: str = "dense", k: int = 5):
    searcher = open_searcher(settings)
    try:
        return searcher.search(query, k, mode)
    finally:
        searcher.close()


def stored_index(settings):
    """(hnswlib index of the current generation, meta, connection) of the default collection."""
    collection = get_collection("default")
    conn = store.connect(collection.db_path, readonly=True)
    meta = store.get_meta(conn)
    path = vectors.file_for(collection.folder, int(meta["generation"]))
    return vectors.load(path, int(meta["dim"]), crc32=int(meta["vectors_crc32"])), meta, conn


def live_labels(index) -> set[int]:
    found = set()
    for label in index.get_ids_list():
        try:
            index.get_items([label])  # raises for an item marked deleted
            found.add(label)
        except RuntimeError:
            pass
    return found


def test_the_right_chunk_comes_first_among_many_identical_ones(settings, folder):
    ingest_paths(settings, [folder])
    for query in ("overnight rail journey to Austria", "when does the train to Vienna leave"):
        best = search(settings, query)[0]
        assert Path(best.path).name == "right.txt"
        assert best.dense_similarity > 0.5
        assert Path(search(settings, query, "hybrid")[0].path).name == "right.txt"


def test_identical_chunks_are_one_item_and_each_is_still_found_and_shown(settings, folder):
    report = ingest_paths(settings, [folder])
    assert report.chunks_total == COPIES + 1 and report.vectors_embedded == 2
    index, meta, conn = stored_index(settings)
    assert meta["vector_labels"] == generations.LABELS
    assert index.get_current_count() == 2
    dense = search(settings, "confidential document received in error", k=10)
    assert len({h.path for h in dense}) == 10  # ten files, one chunk each, all the same text
    assert {h.text.strip() for h in dense} == {BOILERPLATE}
    assert len({h.dense_similarity for h in dense}) == 1
    lexical = search(settings, "confidential addressed sender", "bm25", k=10)
    assert len({h.path for h in lexical}) == 10
    assert all(Path(h.path).name.startswith("memo") for h in lexical)


def test_removing_files_keeps_a_shared_vector_while_one_chunk_has_it(settings, folder):
    ingest_paths(settings, [folder])
    for path in sorted(folder.glob("memo*.txt"))[:-1]:  # the representative (memo000) too
        path.unlink()
    report = ingest_paths(settings, [folder])
    assert report.removed == COPIES - 1 and report.vectors_embedded == 0
    [hit] = [h for h in search(settings, "confidential document received in error")
             if h.text.strip() == BOILERPLATE]
    assert Path(hit.path).name == f"memo{COPIES - 1:03}.txt"
    assert Path(search(settings, "overnight rail journey to Austria")[0].path).name == "right.txt"
    (folder / f"memo{COPIES - 1:03}.txt").unlink()
    ingest_paths(settings, [folder])
    hits = search(settings, "confidential document received in error")
    assert [Path(h.path).name for h in hits] == ["right.txt"]
    index, _, conn = stored_index(settings)
    assert live_labels(index) == {i for i, _ in store.all_chunk_vec_keys(conn)}


def test_a_changed_file_whose_chunk_ids_are_reused_leaves_no_stale_item(settings, tmp_path):
    """SQLite gives the ids of deleted chunks again; the vectors file must follow."""
    root = tmp_path / "notes"
    root.mkdir()
    (root / "a.md").write_text("# Apples\n\nApples grow on trees in orchards.\n")
    topics = ["Cars drive on roads.", "Boats sail at sea.", "Planes fly high.", "Trains run."]
    for i, topic in enumerate(topics):
        sections = [f"# Part {j}\n\n{topic} Note {i}.{j} with {'more ' * j}words.\n"
                    for j in range(12 - 3 * i)]  # the file shrinks: its last ids go
        (root / "z.md").write_text("\n".join(sections))
        ingest_paths(settings, [root])
        index, _, conn = stored_index(settings)
        assert live_labels(index) == {i for i, _ in store.all_chunk_vec_keys(conn)}
    hits = search(settings, "boats sailing", k=10)
    assert not any("Boats" in h.text for h in hits)


def test_an_index_written_one_item_per_chunk_is_searched_and_then_converted(settings, folder):
    ingest_paths(settings, [folder])
    collection = get_collection("default")
    conn = store.connect(collection.db_path)
    meta = store.get_meta(conn)
    rows = list(store.all_chunk_vec_keys(conn))
    dim = int(meta["dim"])
    old = vectors.new_index(dim, len(rows))  # the layout of earlier versions
    vectors.add(old, [i for i, _ in rows], store.load_vectors(conn, [k for _, k in rows], dim))
    old.save_index(str(vectors.file_for(collection.folder, int(meta["generation"]))))
    conn.execute("DELETE FROM meta WHERE key IN ('vector_labels', 'vectors_crc32')")
    conn.close()
    hits = search(settings, "confidential document received in error", k=3)
    assert len({h.path for h in hits}) == 3
    report = ingest_paths(settings, [folder])  # nothing changed: the file is converted
    assert report.vectors_embedded == 0 and report.chunks_added == 0
    index, meta, _ = stored_index(settings)
    assert meta["vector_labels"] == generations.LABELS and index.get_current_count() == 2
    assert Path(search(settings, "overnight rail journey to Austria")[0].path).name == "right.txt"


def test_a_label_given_again_after_deletion_can_be_deleted_again():
    """hnswlib's replace_deleted puts a deleted label into another vacant slot and leaves the
    old one carrying it; reusing that slot then drops the live item's label for good."""
    rng = np.random.default_rng(0)
    data = rng.standard_normal((30, 8)).astype(np.float32)
    index = vectors.new_index(8, 30)
    vectors.add(index, list(range(10)), data[:10])
    vectors.remove(index, [5, 3])
    vectors.add(index, [5], data[15:16])
    vectors.add(index, [20], data[20:21])
    assert live_labels(index) == {0, 1, 2, 4, 5, 6, 7, 8, 9, 20}
    vectors.remove(index, [5])
    labels, _ = index.knn_query(data[15:16], k=9)
    assert 5 not in labels[0]
