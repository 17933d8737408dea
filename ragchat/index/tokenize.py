"""The lexical tokenizer behind BM25: words for alphabetic scripts, character bigrams for
Hangul, kana and Han, which have no reliable word boundaries for a bag-of-words index."""

from __future__ import annotations

import re

CJK = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKEN = re.compile(rf"[{CJK}]+|[^\W_{CJK}]+")
CJK_RUN = re.compile(rf"[{CJK}]+")

# Only dropped from queries: they match almost every chunk and slow an OR query down.
QUERY_STOPWORDS = frozenset(
    "a an and are as at be by for from has have how i in is it its of on or that the this to "
    "was were what when where which who why will with do does did can you your me my".split()
)


def tokens(text: str) -> list[str]:
    out: list[str] = []
    for match in TOKEN.finditer(text.lower()):
        word = match.group(0)
        if CJK_RUN.fullmatch(word):
            out.extend(word[i:i + 2] for i in range(max(1, len(word) - 1)))
        else:
            out.append(word)
    return out


def index_string(text: str) -> str:
    """The text as FTS5 stores it: our tokens joined by spaces (FTS5's unicode61 keeps them whole)."""
    return " ".join(tokens(text))


def query_tokens(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for tok in tokens(text):
        if tok not in QUERY_STOPWORDS:
            seen.setdefault(tok, None)
    if not seen:  # a query made only of stopwords still searches
        seen = dict.fromkeys(tokens(text))
    return list(seen)
