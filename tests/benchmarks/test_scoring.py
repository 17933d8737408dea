"""The benchmark scripts' own logic: QA loading, corpus layout, metrics, corpus generators."""

from __future__ import annotations

import random

import numpy as np
from common import load_squad
from ingest_throughput import make_corpus, stage_times
from retrieval_quality import build_corpus, gold_rank, sample, score
from search_latency import SECTIONS_PER_FILE, RandomEmbedder, stats_ms, write_notes
from tables import markdown_table, number, percent, seconds, table, table_mode


def test_load_squad_drops_unanswerable_questions(qa_file):
    articles = load_squad(qa_file)
    questions = [q for a in articles for p in a.paragraphs for q in p.questions]
    assert [a.title for a in articles] == ["Lighthouses", "김치"]
    assert len(questions) == 4
    assert all(q.answers for q in questions)


def test_passage_layout_writes_one_titled_file_per_passage(qa_file, tmp_path):
    items = build_corpus(load_squad(qa_file), tmp_path / "c", "passage")
    files = sorted((tmp_path / "c").rglob("*.md"))
    assert len(files) == 4 and len(items) == 4
    assert {it.gold_file for it in items} == {f.resolve() for f in files}
    first = items[0].gold_file.read_text(encoding="utf-8")
    assert first.startswith("# Lighthouses\n") and "Robert Stevenson" in first


def test_article_layout_groups_passages(qa_file, tmp_path):
    items = build_corpus(load_squad(qa_file), tmp_path / "c", "article")
    assert len(list((tmp_path / "c").glob("*.md"))) == 2
    assert len({it.gold_file for it in items}) == 2


def _results(*pairs):
    return [{"path": str(p), "text": t} for p, t in pairs]


def test_gold_rank_by_file_or_by_answer_in_the_gold_file(qa_file, tmp_path):
    item = build_corpus(load_squad(qa_file), tmp_path / "c", "passage")[0]
    other = tmp_path / "other.md"
    results = _results((other, "Robert Stevenson again"), (item.gold_file, "anything"))
    assert gold_rank(item, results, "passage") == 2
    assert gold_rank(item, results[:1], "passage") is None
    # article layout: the gold file counts only for a chunk that holds the answer
    assert gold_rank(item, _results((item.gold_file, "no answer here")), "article") is None
    assert gold_rank(item, _results((item.gold_file, "by  Robert\nStevenson.")), "article") == 1


def test_score_recall_mrr_and_lenient_answer_match(qa_file, tmp_path):
    items = build_corpus(load_squad(qa_file), tmp_path / "c", "passage")[:2]
    other = tmp_path / "other.md"
    outputs = [
        {"results": _results((other, "x"), (items[0].gold_file, "y"))},  # gold at rank 2
        {"results": _results((other, "he wound the clockwork"))},  # miss, answer elsewhere
    ]
    result = score(items, outputs, "passage", 5)
    assert result["recall@1"] == 0.0
    assert result["recall@5"] == 0.5
    assert result["mrr@5"] == 0.25
    assert result["answer@5"] == 0.5
    assert result["misses"] == [items[1].question.qid]


def test_sample_is_seeded_and_keeps_order():
    items = list(range(100))
    a, b = sample(items, 10, 3), sample(items, 10, 3)
    assert a == b == sorted(a) and len(a) == 10
    assert sample(items, None, 0) == items


def test_generated_notes_are_markdown_with_headings(tmp_path, qa_file):
    size = make_corpus(tmp_path, 12, 0, qa_file, 0.5)
    files = list(tmp_path.rglob("*.md"))
    assert len(files) == 12 and size == sum(f.stat().st_size for f in files)
    texts = [f.read_text(encoding="utf-8") for f in files]
    assert all(t.startswith("# ") and "\n## " in t for t in texts)
    assert any(any("\uac00" <= ch <= "\ud7a3" for ch in t) for t in texts)


def test_latency_notes_have_one_chunk_per_section(tmp_path):
    from ingest_throughput import NoteWriter, english_sentences

    from ragchat.ingest.chunking import chunk_sections
    from ragchat.ingest.readers import read_sections

    rng = random.Random(0)
    write_notes(tmp_path, 0, 3, [(NoteWriter(english_sentences(), rng), 1.0)], rng)
    for path in tmp_path.rglob("*.md"):
        chunks = chunk_sections(read_sections(path), 800, 120)
        assert len(chunks) == SECTIONS_PER_FILE


def test_random_embedder_gives_fixed_unit_vectors():
    emb = RandomEmbedder("m", 384, 768)
    a, b = emb.embed(["x", "y"]), emb.embed(["x"])
    assert a.shape == (2, 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], a[1])


def test_stats_and_stage_times():
    s = stats_ms([float(i) for i in range(1, 101)])
    assert s["p50"] == 50.5 and s["p99"] == 99.0 and s["n"] == 100
    assert stage_times({"timings": {"embed": 2, "read": 1.5, "total": 4}}) == {
        "embed": 2.0, "read": 1.5}


def test_table_aligns_columns():
    text = table([["hybrid", 0.5, 3]], ["mode", "recall", "n"])
    lines = text.splitlines()
    assert lines[0].split() == ["mode", "recall", "n"] and "0.500" in lines[2]
    assert len({len(line) for line in lines}) == 1


def test_markdown_cells_and_tables():
    assert markdown_table(["run", "s"], [["a", "0.29"], ["b", 600]]) == (
        "| run | s |\n| --- | --- |\n| a | 0.29 |\n| b | 600 |\n")
    assert number(None) == "-" and number(1234.5678, 1) == "1,234.6" and number(0.5, 3) == "0.500"
    assert [seconds(v) for v in (0.294, 7.38, 599.9, None)] == ["0.29", "7.4", "600", "-"]
    assert [percent(v) for v in (1.0, 0.0123, 0.00049)] == ["100 %", "1.2 %", "0.05 %"]


def test_table_mode_prints_the_named_view(capsys, tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"x": 1}')
    views = {"first": lambda paths: f"first {len(paths)}\n", "second": lambda paths: "second\n"}
    assert not table_mode(views, ["--name", "x"])
    assert table_mode(views, ["--table", str(path), str(path)])
    assert capsys.readouterr().out == "first 2\n"
    assert table_mode(views, ["--table", str(path), "--view", "second"])
    assert capsys.readouterr().out == "second\n"


def test_results_name_files_inside_the_ingested_folder_relative_to_it(tmp_path):
    from common import relative_to

    folder = tmp_path / "corpus"
    report = {"files": [{"path": str(folder / "a" / "b.md"), "chunks": 2}],
              "failed": [str(folder / "c.pdf")], "model": "minilm", "other": str(tmp_path)}
    assert relative_to(report, folder) == {
        "files": [{"path": "a/b.md", "chunks": 2}], "failed": ["c.pdf"], "model": "minilm",
        "other": str(tmp_path)}
