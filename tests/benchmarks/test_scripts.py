"""Each benchmark script runs end to end on a tiny input and writes its results file.

They start the real CLI (or the real ingest and search code) with the bundled MiniLM, so
they are slow; the numbers they print are not checked here, only their shape.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import BENCH

pytestmark = pytest.mark.slow


def run_script(name: str, *args: str, tmp_path) -> dict:
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(BENCH / name), *args, "--out-dir", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = list(out.glob("*.json"))
    assert len(files) == 1, proc.stdout
    return json.loads(files[0].read_text(encoding="utf-8"))


def test_retrieval_quality(qa_file, tmp_path):
    result = run_script("retrieval_quality.py", str(qa_file), "--name", "tiny",
                        "--embedding-model", "minilm", tmp_path=tmp_path)
    assert result["questions"] == 4 and result["passages"] == 4
    assert set(result["modes"]) == {"hybrid", "dense", "bm25"}
    for mode in result["modes"].values():
        # a first hit counts 1 in both recall@1 and MRR; a later one less in MRR
        assert 0.0 < mode["recall@1"] <= mode["mrr@5"] <= mode["recall@5"] <= 1.0
    # every question shares rare words with its own passage only: BM25 must find them all
    assert result["modes"]["bm25"]["recall@5"] == 1.0
    assert result["ingest"]["chunks_total"] >= 4


def test_ingest_throughput(tmp_path):
    result = run_script("ingest_throughput.py", "--files", "6", "--embedding-model", "minilm",
                        tmp_path=tmp_path)
    assert result["chunks"] > 6
    assert result["runs"]["unchanged"]["unchanged"] == 6
    assert result["runs"]["unchanged"]["chunks_added"] == 0
    assert result["runs"]["touched"]["vectors_embedded"] == 0
    assert result["runs"]["edited"]["changed"] == result["edited_files"] == 1
    assert "embed" in result["stages"]
    assert result["unchanged_ratio"] > 0
    # files by their place in the corpus, not by the temporary folder it was written to
    paths = [f["path"] for f in result["runs"]["first"]["files"]]
    assert len(paths) == 6 and not any(p.startswith("/") for p in paths)


def test_search_latency(qa_file, tmp_path):
    result = run_script("search_latency.py", "--sizes", "30,60", "--queries", "4",
                        "--korean", str(qa_file), tmp_path=tmp_path)
    assert [s["chunks"] for s in result["sizes"]] == [30, 60]
    for size in result["sizes"]:
        for name in ("embed", "hnsw", "bm25", "hybrid", "dense", "bm25_mode"):
            stats = size["latency_ms"][name]
            assert stats["n"] == 4 and 0 < stats["p50"] <= stats["p99"]


def test_fusion_sweep(qa_file, tmp_path):
    result = run_script("fusion_sweep.py", str(qa_file), "--work-dir", str(tmp_path / "w"),
                        "--name", "tiny", tmp_path=tmp_path)
    variants = result["variants"]
    assert {"dense only", "bm25 only", "rrf dense_w=1 (equal)"} <= set(variants)
    assert variants["bm25 only"]["recall@5"] == 1.0
    assert all(0.0 < v["recall@1"] <= v["mrr@5"] <= v["recall@5"] <= 1.0
               for v in variants.values())


@pytest.fixture
def tiny_docs(tmp_path):
    docs = tmp_path / "docs"
    (docs / "topics").mkdir(parents=True)
    (docs / "topics" / "caching.md").write_text(
        "(caching)=\n\n# Caching\n\nPip keeps downloaded wheels in its cache directory, "
        "~/.cache/pip on Linux.\n")
    (docs / "install.rst").write_text(
        "=======\nInstall\n=======\n\nUsage\n=====\n\nRun get-pip.py to bootstrap pip.\n")
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"id": "cache", "question": "where is the cache kept?", '
                  '"source": "topics/caching.md"}\n'
                  '{"id": "boot", "question": "how do I bootstrap pip?", '
                  '"source": "install.rst"}\n')
    return docs, qa


def test_retrieval_quality_on_a_docs_folder(tiny_docs, tmp_path):
    docs, qa = tiny_docs
    result = run_script("retrieval_quality.py", str(qa), "--docs", str(docs), "--name", "tiny",
                        "--embedding-model", "minilm", "--modes", "hybrid,bm25",
                        "--env", "RAGCHAT_INDEX_HEADINGS=0", tmp_path=tmp_path)
    assert result["files"] == 2 and result["env"] == ["RAGCHAT_INDEX_HEADINGS=0"]
    hybrid = result["modes"]["hybrid"]["summary"]
    assert hybrid["judged"] == 2 and 0 < hybrid["mrr"] <= hybrid["recall"]["5"] <= 1


def test_search_latency_one_shot(tiny_docs, tmp_path):
    docs, _ = tiny_docs
    result = run_script("search_latency.py", "--one-shot", str(docs), "--repeat", "2",
                        "--runtimes", "numpy", tmp_path=tmp_path)
    numpy_run = result["runtimes"]["numpy"]
    assert len(numpy_run["seconds"]["hybrid"]) == len(numpy_run["seconds"]["bm25"]) == 2
    assert numpy_run["hybrid_over_bm25"] > 0 and numpy_run["median_s"]["ask_retrieve"] > 0


def test_embedding_speed(tiny_docs, qa_file, tmp_path, monkeypatch):
    docs, _ = tiny_docs
    import embedding_speed

    # the real bge-m3 architecture takes minutes on a CPU: the same code on a small config
    monkeypatch.setattr(embedding_speed, "BGE_M3_CONFIG", {
        **embedding_speed.BGE_M3_CONFIG, "num_hidden_layers": 1, "hidden_size": 64,
        "num_attention_heads": 2, "intermediate_size": 128, "vocab_size": 250002})
    embedding_speed.main(["--folder", str(docs), "--korean", str(qa_file), "--chunks", "3",
                          "--bge-chunks", "2", "--out-dir", str(tmp_path / "out")])
    [path] = (tmp_path / "out").glob("embedding-speed-*.json")
    result = json.loads(path.read_text())
    for language in ("english", "korean"):
        entry = result["languages"][language]
        assert entry["minilm_numpy_chunks_per_s"] > 0 and entry["bge_m3_architecture_chunks_per_s"] > 0
    assert set(result["load_and_first_query_s"]) == {"numpy", "torch"}


def test_hostile_ingest(tmp_path):
    result = run_script("hostile_ingest.py", "--scale", "small", "--as-self", "--timeout", "300",
                        tmp_path=tmp_path)
    assert result["scale"] == "small" and len(result["files"]) >= 15
    folder = result["folder"]
    assert folder["exit"] == 0 and not folder["timed_out"]
    assert folder["indexed_outside_folder"] == [] and not folder["secret_found"]
    assert folder["outcomes"]["pipe.txt"] == "skipped: not a regular file"
    assert folder["outcomes"]["etc"] == "skipped: link out of the folder"
    assert folder["searches"]["장비 구매 예산"][:1] == ["memo-scan.pdf"]
    assert all(row["peak_mb"] > 0 and row["seconds"] > 0 for row in result["files"])


def test_adversarial_text(tmp_path):
    result = run_script("adversarial_text.py", "--chars", "2000", tmp_path=tmp_path)
    import sys

    sys.path.insert(0, str(BENCH))
    from adversarial_text import SUFFIXES, adversarial_lines

    cases = {(row["text"], row["kind"]) for row in result["rows"]}
    assert cases == {(text, kind) for text in adversarial_lines(10) for kind in SUFFIXES}
    assert result["slowest_ms"] == max(row["ms"] for row in result["rows"])


def test_relevance_calibration(tiny_docs, qa_file, tmp_path):
    docs, qa = tiny_docs
    animals = tmp_path / "animals"
    animals.mkdir()
    (animals / "bees.md").write_text("# Bees\n\nHoney bees dance to show where flowers are.\n")
    (animals / "owls.md").write_text("# Owls\n\nBarn owls sleep in old barns during the day.\n")
    animal_qa = tmp_path / "animals.jsonl"
    animal_qa.write_text(
        '{"question": "Why do honey bees dance?", "source": "bees.md"}\n'
        '{"question": "And the owls?", "context": ["Why do honey bees dance?"]}\n'
        '{"question": "What is the capital of Australia?", "covered": false}\n')
    result = run_script("relevance_calibration.py", "--set", "pip", str(qa), str(docs),
                        "--set", "animals", str(animal_qa), str(animals),
                        "--korean", str(qa_file), "--name", "tiny", tmp_path=tmp_path)
    pip, animal = result["sets"]["pip"], result["sets"]["animals"]
    # follow-ups are left out; off-topic: its own "covered": false, the other set's questions
    assert (pip["questions"], pip["off_topic_own"], pip["off_topic_other_sets"]) == (2, 0, 1)
    assert (animal["questions"], animal["off_topic_own"], animal["off_topic_other_sets"]) == (
        1, 1, 2)
    # two files each: every question's file is among the top k, and relevance.py keeps it
    assert [s["questions_with_an_answer_passage_kept"] for s in (pip, animal)] == [2, 1]
    bees = animal["answer_passages"][0]
    assert bees["kept"] and bees["overlap"] > 0.5 and bees["similarity"] > 0.45
    assert not any(p["kept"] for p in animal["off_topic_best"])  # pip's questions, Australia
    assert result["thresholds"]["min_overlap"] == 0.6
    korean = result["korean"]  # 2 Korean questions of the tiny KorQuAD-like file
    assert korean["questions"] == 2 and korean["passages"] == 4
    assert korean["own_passage"]["0.35"] > korean["random_passage"]["0.35"]
    out = tmp_path / "results" / "relevance-calibration-tiny.json"
    for view, header in (("similarity", "| similarity at least |"),
                         ("overlap", "| share of the question's words at least |"),
                         ("korean", "| share of the question's bigrams at least |"),
                         ("decision", "| set | questions |")):
        table = subprocess.run([sys.executable, str(BENCH / "relevance_calibration.py"),
                                "--table", str(out), "--view", view],
                               capture_output=True, text=True, timeout=60, check=True).stdout
        assert table.startswith(header), view


def test_retrieval_variants(tmp_path):
    """Two tiny sets, one English and one Korean: every variant scored on the dev and
    held-aside parts, and `ragchat search` agrees with the script's "after" on every question."""
    english, korean = tmp_path / "en", tmp_path / "ko"
    (english / "topics").mkdir(parents=True)
    korean.mkdir()
    (english / "topics" / "caching.md").write_text(
        "# Caching\n\nPip keeps downloaded wheels in its cache directory.\n")
    (english / "install.md").write_text(
        "# Installing pip\n\nRun get-pip.py to bootstrap pip on a new machine.\n")
    (korean / "props.md").write_text(
        "# Props\n\n부모 컴포넌트는 props로 자식 컴포넌트에 데이터를 전달합니다.\n", encoding="utf-8")
    (korean / "teleport.md").write_text(
        "# Teleport\n\n모달을 body 아래에 렌더링하려면 Teleport를 사용합니다.\n", encoding="utf-8")
    en_qa, ko_qa = tmp_path / "en.jsonl", tmp_path / "ko.jsonl"
    en_qa.write_text(  # cache-dir is held aside by the hash of its id, bootstrap is not
        '{"id": "cache-dir", "question": "where are wheels cached?", '
        '"source": "topics/caching.md"}\n'
        '{"id": "bootstrap", "question": "how do I install pip?", "source": "install.md"}\n'
        '{"id": "follow", "question": "and then?", "context": ["how do I install pip?"]}\n')
    ko_qa.write_text(  # ko-props held aside, ko-teleport not
        '{"id": "ko-props", "question": "부모에서 자식으로 데이터를 넘기려면 어떻게 하나요?", '
        '"source": "props.md"}\n'
        '{"id": "ko-teleport", "question": "모달을 body 밑에 그리고 싶어요", '
        '"source": "teleport.md"}\n', encoding="utf-8")
    result = run_script("retrieval_variants.py", "--work-dir", str(tmp_path / "w"),
                        "--set", "en", str(en_qa), str(english),
                        "--set", "ko", str(ko_qa), str(korean), "--name", "tiny",
                        tmp_path=tmp_path)
    assert {name: (s["questions"], s["held_aside"]) for name, s in result["sets"].items()} == {
        "en": (2, 1), "ko": (2, 1)}  # the follow-up is left out
    assert result["cli_agreement"] == {
        "en": {"questions": 2, "same_top_k": 2, "files_same_top_k": 2},
        "ko": {"questions": 2, "same_top_k": 2, "files_same_top_k": 2}}
    variants = result["variants"]
    assert {"before (hybrid)", "after (ragchat now)", "alt: no question cleanup",
            "after, one passage per file (search --files)"} <= set(variants)
    for scores in variants.values():
        for name in ("en", "ko"):
            for part in ("dev", "held", "all"):
                r = scores[name][part]
                assert 0.0 <= r["recall@1"] <= r["mrr@5"] <= r["recall@5"] <= 1.0
    after = variants["after (ragchat now)"]
    assert after["en"]["all"]["recall@5"] == after["ko"]["all"]["recall@5"] == 1.0
    assert set(result["chosen"]) >= {"head_weight", "stem_weight", "dense_weight_read",
                                     "dense_weight_unread"}
