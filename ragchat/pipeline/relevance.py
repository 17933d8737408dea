"""Relevance without an LLM: does a passage share the question's words or meaning?

Used when the grading call is off (a model too small to grade: measured, see
docs/explanation/pipeline-and-cache.md) or when the grader's reply cannot be read. A
passage is relevant when it holds enough of the question's content words (words, and
character bigrams for Korean, Chinese and Japanese, as BM25 indexes them) or when the
embedding model finds it close in meaning; the thresholds were set on real documentation
questions against off-topic ones (benchmarks/answer_quality.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from ragchat.index.tokenize import CJK_RUN, QUERY_STOPWORDS, tokens
from ragchat.pipeline.result import Chunk

MIN_OVERLAP = 0.6  # share of the question's content terms found in the passage
# Korean, Chinese and Japanese questions are compared by character bigrams, of which
# particles and endings spoil more (measured on KorQuAD dev: 0.35 keeps 92% of the answer
# passages and 0.5% of random ones); their dense vote is often off (English-only models).
MIN_OVERLAP_CJK = 0.35
# Cosine similarity of passage and question above which they are related, per embedding
# model (measured for MiniLM: on-topic answer passages >= 0.41 at the 10th percentile,
# off-topic questions' best passages <= 0.39 at the 90th). Other models spread
# differently; until measured they get a cautious floor and lean on the words.
MIN_SIMILARITY = {"all-MiniLM-L6-v2": 0.45}
DEFAULT_MIN_SIMILARITY = 0.6
MAX_KEPT = 3

MORE_STOPWORDS = frozenset(
    "about also any get got into just like make more most need other some than them then "
    "there these they use used using want way would could should does doing done there's".split()
)


def stem(term: str) -> str:
    """A plural's singular, roughly ("timeouts" -> "timeout"), so forms of a word match."""
    return term[:-1] if len(term) > 3 and term.endswith("s") and not term.endswith("ss") else term


def content_terms(text: str) -> set[str]:
    return {stem(t) for t in tokens(text)
            if t not in QUERY_STOPWORDS and t not in MORE_STOPWORDS and len(t) > 1}


def overlap(question: str, passage: str) -> float:
    """Share of the question's content terms that occur in the passage (0 when it has none)."""
    want = content_terms(question)
    if not want:
        return 0.0
    have = {stem(t) for t in tokens(passage)}
    return len(want & have) / len(want)


def similarity_floor(model: str) -> float:
    return next((v for k, v in MIN_SIMILARITY.items() if k in model), DEFAULT_MIN_SIMILARITY)


def is_cjk(text: str) -> bool:
    """Is most of the text (its letters) Korean, Chinese or Japanese?"""
    letters = [c for c in text if c.isalpha()]
    cjk = sum(len(run) for run in CJK_RUN.findall(text))
    return bool(letters) and cjk / len(letters) > 0.5


def min_overlap(question: str) -> float:
    return MIN_OVERLAP_CJK if is_cjk(question) else MIN_OVERLAP


def relevant(questions: str | Sequence[str], hit: Chunk, model: str = "") -> bool:
    """Does the passage hold enough of any of the questions' words, or is it close in
    meaning to what was searched?"""
    asked = [questions] if isinstance(questions, str) else list(questions)
    text = f"{hit.heading or ''}\n{hit.text or ''}"
    similarity = hit.dense_similarity
    return any(overlap(q, text) >= min_overlap(q) for q in asked) or (
        similarity is not None and similarity >= similarity_floor(model))


def kept_by_scores(questions: str | Sequence[str], hits: Sequence[Chunk],
                   model: str = "", limit: int = MAX_KEPT) -> list[int]:
    """The numbers of the relevant hits, best ranked first, at most `limit`."""
    return [hit.n for hit in hits if relevant(questions, hit, model)][:limit]
