"""The QA file format and the scoring of retrieval and answers (no models)."""

from __future__ import annotations

import pytest

from ragchat.bench.evaluate import QuestionResult, judge_answer, judge_retrieval, summarize
from ragchat.bench.qa import QAItem, contains, read_qa, same_source
from ragchat.errors import UsageError
from ragchat.index.search import SearchHit
from ragchat.pipeline.result import Chunk, TurnResult


def write(tmp_path, text: str, encoding: str = "utf-8"):
    path = tmp_path / "qa.jsonl"
    path.write_bytes(text.encode(encoding))
    return path


def test_reads_every_form(tmp_path):
    path = write(tmp_path, '\ufeff{"question": "Q1?", "answer": "yes", "source": "a.md"}\n'
                           '\n{"question": "Q2?", "_note": "ignored", "id": 7}\n'
                           '{"question": "  Q3?  ", "answer": 23.1}\n')
    items = read_qa(path)
    assert [i.line for i in items] == [1, 3, 4]
    assert items[0] == QAItem(1, "Q1?", "yes", "a.md")
    assert items[1].id == "7" and not items[1].judged
    assert items[2].question == "Q3?" and items[2].answer == "23.1" and items[2].judged


@pytest.mark.parametrize("line, message", [
    ('{"question": "ok"', "not valid JSON"),
    ('["question"]', "expected a JSON object, got list"),
    ('{"answer": "x"}', 'missing "question"'),
    ('{"question": ""}', 'missing "question"'),
    ('{"qestion": "typo"}', "unknown key(s) 'qestion'"),
    ('{"question": "q", "source": ["a.md"]}', '"source" must be a string'),
])
def test_a_bad_line_is_named_with_its_number(tmp_path, line, message):
    path = write(tmp_path, '{"question": "fine"}\n\n' + line + "\n")
    with pytest.raises(UsageError) as info:
        read_qa(path)
    assert f"{path}:3: " in info.value.message and message in info.value.message
    assert "docs/how-to/evaluate.md" in info.value.hint


def test_missing_empty_and_non_utf8_files(tmp_path):
    with pytest.raises(UsageError, match="no such QA file"):
        read_qa(tmp_path / "nope.jsonl")
    with pytest.raises(UsageError, match="has no questions"):
        read_qa(write(tmp_path, "\n\n"))
    with pytest.raises(UsageError, match="not UTF-8"):
        read_qa(write(tmp_path, '{"question": "가나다"}', "cp949"))


def test_contains_ignores_case_width_and_spaces():
    assert contains("Bake at 240 °C for\n twenty minutes", "twenty   MINUTES")
    assert contains("ＲＡＧＣＨＡＴ_HOME moves files", "ragchat_home")
    assert not contains("anything", "")
    assert not contains("six hours", "seven hours")


def test_same_source_by_name_or_path_tail():
    path = "/home/me/docs/reference/commands/ingest.md"
    assert same_source(path, "ingest.md") and same_source(path, "commands/ingest.md")
    assert same_source(path, "INGEST.md") and same_source(path, "/commands/ingest.md")
    assert not same_source(path, "gest.md") and not same_source(path, "other/ingest.md")
    assert not same_source(path, "")


def hit(path: str, text: str) -> SearchHit:
    return SearchHit(1, path, "line 1", None, text, 0.5, 1, 1, None)


def test_rank_is_the_first_hit_by_source_or_answer():
    item = QAItem(1, "When does the train leave?", "23:10", "trains.md")
    hits = [hit("/n/owls.txt", "Owls."), hit("/n/x.md", "It leaves at 23:10."),
            hit("/n/trains.md", "The night train leaves at 23:10.")]
    result = judge_retrieval(item, hits)
    assert result.rank == 2 and result.matched_by == "answer"
    assert [h["rank"] for h in result.hits] == [1, 2, 3]
    both = judge_retrieval(item, hits[2:])
    assert both.rank == 1 and both.matched_by == "source+answer"
    assert judge_retrieval(item, hits[:1]).rank is None
    unjudged = judge_retrieval(QAItem(2, "Hello?"), hits)
    assert unjudged.rank is None and unjudged.matched_by is None


def turn(answer: str, sources: list[Chunk]) -> TurnResult:
    return TurnResult("q", "q", "retrieve", answer, tuple(sources), tuple(sources), True, {},
                      (), "test")


def test_answer_checks_text_and_citations():
    chunks = [Chunk(1, "/n/owls.txt", "line 1", "Owls hunt mice.", 0.1, kept=True),
              Chunk(2, "/n/trains.md", "line 3", "The train leaves at 23:10.", 0.2, kept=True)]
    item = QAItem(1, "When?", "23:10", "trains.md")
    good = judge_answer(item, turn("It leaves at 23:10 [2].", chunks), 1.5)
    assert good.contains_answer and good.citation_hit and good.cited == (2,)
    wrong_cite = judge_answer(item, turn("It leaves at 23:10 [1].", chunks), 1.0)
    assert wrong_cite.contains_answer and wrong_cite.citation_hit is False
    no_cite = judge_answer(item, turn("No idea.", chunks), 1.0)
    assert no_cite.contains_answer is False and no_cite.cited == ()
    unjudged = judge_answer(QAItem(2, "Hi"), turn("Hello [1].", chunks), 1.0)
    assert unjudged.contains_answer is None and unjudged.citation_hit is None


def test_summary_recall_and_mrr():
    def result(line: int, rank: int | None, judged: bool = True) -> QuestionResult:
        from ragchat.bench.evaluate import Retrieval

        item = QAItem(line, "q", "a" if judged else None)
        return QuestionResult(item, Retrieval(rank, None, ()))

    results = [result(1, 1), result(2, 3), result(3, None), result(4, 2), result(5, None, False)]
    summary = summarize(results, k=5)
    assert summary["questions"] == 5 and summary["judged"] == 4
    assert summary["recall"] == {"1": 0.25, "3": 0.75, "5": 0.75}
    assert summary["mrr"] == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    assert "answers" not in summary
    assert summarize([result(1, None, False)], k=2)["mrr"] is None
