"""`ragchat eval` on a small real collection embedded with the real MiniLM, retrieval alone and
with answers from the real tiny model. Structure only: no model wording is asserted."""

from __future__ import annotations

import json

import pytest

from tests.helpers import cli

QA = [
    {"question": "Why do honey bees dance?", "answer": "waggle dance", "source": "bees.md"},
    {"question": "When does the night train to Vienna leave Munich?", "answer": "23:10"},
    {"question": "Where do barn owls sleep?", "source": "owls.txt"},
    {"question": "What is the capital of Mongolia?", "source": "geography.md"},
    {"question": "Tell me something nice."},
]


@pytest.fixture
def qa_file(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(q) for q in QA) + "\n", encoding="utf-8")
    return path


def test_retrieval_scores_per_question_and_in_summary(capsys, in_notes_home, qa_file):
    code, out, err = cli(capsys, "eval", str(qa_file), "--collection", "notes", "-k", "3",
                         "--json")
    assert code == 0, err
    report = json.loads(out)
    summary, questions = report["summary"], report["questions"]
    assert summary["questions"] == 5 and summary["judged"] == 4 and summary["k"] == 3
    assert [q["line"] for q in questions] == [1, 2, 3, 4, 5]
    bees, train, owls, missing, chat = questions
    assert bees["rank"] == 1 and bees["matched_by"] == "source+answer"
    assert bees["results"][0]["path"].endswith("bees.md")
    assert train["rank"] == 1 and train["matched_by"] == "answer"
    assert owls["rank"] == 1 and owls["matched_by"] == "source"
    assert missing["rank"] is None and chat["rank"] is None
    assert all(len(q["results"]) <= 3 for q in questions)
    assert summary["recall"] == {"1": 0.75, "3": 0.75}
    assert summary["mrr"] == pytest.approx(0.75)
    assert "answers" not in summary and "answer" not in bees


def test_summary_table_lists_what_was_not_found(capsys, in_notes_home, qa_file):
    code, out, _ = cli(capsys, "eval", str(qa_file), "--collection", "notes", "--mode", "bm25")
    assert code == 0
    assert "recall@1" in out and "MRR@5" in out and "(bm25)" in out
    assert "line 4: What is the capital of Mongolia?" in out
    assert "line 5" not in out  # not scored, so not "missed"


def test_a_bad_line_stops_before_searching(capsys, in_notes_home, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "fine"}\n{"question": "no closing brace"\n', encoding="utf-8")
    code, out, err = cli(capsys, "eval", str(path), "--collection", "notes")
    assert code == 2 and out == ""
    assert f"{path}:2: not valid JSON" in err and "hint:" in err


def test_no_index_is_exit_3(capsys, qa_file):
    code, _, err = cli(capsys, "eval", str(qa_file), "--collection", "nothing-here")
    assert code == 3 and "ragchat ingest" in err


@pytest.mark.slow
def test_answers_run_the_pipeline_with_the_tiny_model(capsys, in_notes_home, tmp_path,
                                                      monkeypatch):
    monkeypatch.setenv("RAGCHAT_MAX_NEW_TOKENS", "12")
    path = tmp_path / "two.jsonl"
    path.write_text("\n".join(json.dumps(q) for q in (QA[0], QA[4])) + "\n", encoding="utf-8")
    code, out, err = cli(capsys, "eval", str(path), "--collection", "notes", "--answers",
                         "--backend", "llamacpp", "--json")
    assert code == 0, err
    report = json.loads(out)
    answers = report["summary"]["answers"]
    assert answers["answered"] == 2
    assert 0 < answers["latency_median_s"] <= answers["latency_p90_s"] <= answers["latency_max_s"]
    bees, chat = report["questions"]
    assert isinstance(bees["answer"], str) and bees["latency_s"] > 0
    assert bees["route"] in ("retrieve", "direct")
    assert isinstance(bees["answer_contains"], bool) and isinstance(bees["citation_hit"], bool)
    assert all(isinstance(n, int) for n in bees["cited"])
    assert chat["answer_contains"] is None and chat["citation_hit"] is None
    from ragchat.pipeline.nodes import ANSWER_KINDS

    kinds = [bees["answer_kind"], chat["answer_kind"]]
    assert set(kinds) <= set(ANSWER_KINDS)
    assert answers["kinds"] == {kind: kinds.count(kind) / 2 for kind in set(kinds)}
