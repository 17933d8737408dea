"""The benchmark scripts live outside the package: make them importable, and give the
tests a tiny SQuAD-format QA file (written here, English and Korean)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

ARTICLES = [
    ("Lighthouses", [
        ("The Bell Rock Lighthouse stands off the coast of Angus in Scotland. It was built "
         "between 1807 and 1810 by Robert Stevenson.",
         [("Who built the Bell Rock Lighthouse?", "Robert Stevenson")]),
        ("A lighthouse keeper trimmed the wicks and wound the clockwork that turned the lens.",
         [("What did a lighthouse keeper wind?", "the clockwork")]),
    ]),
    ("김치", [
        ("김치는 배추와 무를 소금에 절인 뒤 고춧가루, 마늘, 젓갈로 버무려 발효시킨 한국의 전통 음식이다.",
         [("김치를 발효시키기 전에 배추를 무엇에 절이는가?", "소금")]),
        ("2013년 김장 문화는 유네스코 인류무형문화유산으로 등재되었다.",
         [("김장 문화가 유네스코 인류무형문화유산에 등재된 해는?", "2013년")]),
    ]),
]


def squad_json(articles=ARTICLES) -> dict:
    data = []
    for title, paragraphs in articles:
        pars = []
        for p, (context, qas) in enumerate(paragraphs):
            pars.append({"context": context, "qas": [
                {"id": f"{title}-{p}-{i}", "question": q,
                 "answers": [{"text": a, "answer_start": context.find(a)}]}
                for i, (q, a) in enumerate(qas)
            ] + [{"id": f"{title}-{p}-x", "question": "unanswerable?", "answers": [],
                  "is_impossible": True}]})
        data.append({"title": title, "paragraphs": pars})
    return {"version": "test", "data": data}


@pytest.fixture
def qa_file(tmp_path) -> Path:
    path = tmp_path / "tiny-qa.json"
    path.write_text(json.dumps(squad_json(), ensure_ascii=False), encoding="utf-8")
    return path
