"""Relevance without an LLM: does a passage share the question's words or meaning?

Used when the grading call is off (a model too small to grade: measured, see
docs/explanation/pipeline-and-cache.md) or when the grader's reply cannot be read. A
passage is relevant when it holds enough of the question's content words (words, and
character bigrams for Korean, Chinese and Japanese, as BM25 indexes them) or when the
embedding model finds it close in meaning. What the thresholds separate is measured by
benchmarks/relevance_calibration.py (benchmarks/results/relevance-calibration-default.json:
the 56 first questions about pip's and httpx's docs, their 136 retrieved answer passages,
against the best passages of off-topic questions, and KorQuAD 1.0 dev for Korean).
"""

from __future__ import annotations

from collections.abc import Sequence

from ragchat.index.tokenize import CJK_RUN, QUERY_STOPWORDS, tokens
from ragchat.pipeline.result import Chunk

# Share of the question's content terms found in the passage. Measured (English docs): 40%
# of answer passages reach 0.6, and the best passage of 20% of questions about another
# project's docs (0 of 2 questions the docs do not cover). With the similarity below,
# relevant() keeps 84% of answer passages, and a passage for 27% of those other questions.
MIN_OVERLAP = 0.6
# Korean, Chinese and Japanese questions are compared by character bigrams, of which
# particles and endings spoil more (measured on KorQuAD 1.0 dev, 5,760 Korean questions:
# 0.35 keeps 98% of their own passages and 0.4% of random ones); their dense vote is often
# off (English-only models).
MIN_OVERLAP_CJK = 0.35
# Cosine similarity of passage and question above which they are related, per embedding
# model. Measured for MiniLM: answer passages 0.40 at the 10th percentile (80% reach 0.45);
# the best passage of questions about another project's docs 0.48 at the 90th (16% reach
# 0.45: proxies, certificates and credentials are in both), of questions the docs do not
# cover 0.11 and 0.19. Other models spread differently; until measured they get a cautious
# floor and lean on the words.
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
