"""The lexical analyzer behind BM25: what a chunk's FTS5 columns hold and what a query asks.

`tokens()` is the plain tokenizer (lower-cased words for alphabetic scripts, character
bigrams for Hangul, kana and Han, which have no reliable word boundaries); relevance.py uses
it as it is. `Analyzer` builds on it for the index (docs/explanation/retrieval-and-storage.md):

- three FTS5 columns, `head` (the heading path), `body` (the chunk's exact words) and `stems`
  (English Snowball stems that differ from the word, e.g. `instal` for `installing`),
  weighted in bm25(): an exact word outranks another form of it, and a heading outranks
  a word in passing; the same columns of a whole file (its headings, all its text) are
  a second index, searched for the files a query is about (`file_fields`);
- Korean queries lose their question words, polite endings and particles (`어떻게`, `하려면`,
  `나요`, `에서`) before they are tokenized: they match every chunk and say nothing about
  the topic. English queries lose only the most common words (QUERY_STOPWORDS), as before.

The options are there so that benchmarks/retrieval_variants.py can measure each one; ANALYZER
is what ragchat uses, and VERSION is recorded in each collection's meta (`tokenizer`): an
index written with other tokens is never searched (ragchat.index.lexical).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

VERSION = "3"  # 3: whole files indexed too (file_fields)

CJK = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKEN = re.compile(rf"[{CJK}]+|[^\W_{CJK}]+")
CJK_RUN = re.compile(rf"[{CJK}]+")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
# word parts joined by _ - . : (no space): `follow_redirects`, `v-model`, `app.config`
# (starting only where a word starts, each part taken whole: linear on a line of letters,
# which unanchored would be tried again from every letter of it)
IDENTIFIER = re.compile(rf"(?<![^\W_{CJK}])[^\W_{CJK}]++(?:[_.:-]++[^\W_{CJK}]++)+")
LATIN_WORD = re.compile(r"[a-z]{3,}")  # what the English stemmer sees: no digits, no accents

# Only dropped from queries: they match almost every chunk and slow an OR query down.
QUERY_STOPWORDS = frozenset(
    "a an and are as at be by for from has have how i in is it its of on or that the this to "
    "was were what when where which who why will with do does did can you your me my".split()
)
# English question cleanup (Analyzer.english_cleanup; measured, not kept: it did not help on
# the user-worded sets): words of how people ask, not of what they ask about, and what is left
# of contractions ("doesn't", "pip's").
QUESTION_WORDS = QUERY_STOPWORDS | frozenset(
    "should would could there any way possible want need please tell know something "
    "anything also just into them they their some about if so all "
    "doesn don isn aren wasn weren didn won t s d ll ve re m".split()
)
# Korean question words and fillers, dropped whole from a query (character bigrams).
KOREAN_QUESTION_WORDS = frozenset(
    "어떻게 어떡해 어떤 무엇 무엇인가요 무엇을 뭐 뭘 뭐가 뭔가요 왜 어디 어디서 어디에 언제 "
    "방법 방법이 방법은 방법을 가능한가요 가능할까요 있나요 있을까요 있어요 있는지 없나요 "
    "하나요 할까요 해요 하죠 되나요 될까요 돼요 알려주세요 알려줘 궁금해요 좀 혹시 그냥 "
    "싶어요 싶은데 하고 해야 하는 하면 되는 뭘까요 게 거 것 중에 중 때 할 쓸 수 있게 있는 "
    "같은 너무 아주 잘 더".split()
)
# Endings and particles stripped from the end of a Korean query word, longest first; the
# rest must keep two syllables.
KOREAN_ENDINGS = tuple(sorted(
    "하려면 려면 으려면 하나요 나요 인가요 을까요 할까요 까요 해요 하죠 되죠 어요 아요 "
    "세요 습니까 합니까 하는 하고 해서 되는 하기 시키려면 하게 되게 "
    "에서 에게 한테 으로 로 까지 부터 처럼 보다 이랑 랑 와 과 의 도 만 은 는 이 가 을 를 에"
    .split(), key=len, reverse=True))
# Korean morphemes of questions (Kiwi's forms), dropped from a query.
KOREAN_QUESTION_MORPHEMES = frozenset(
    "어떻 어떡 어떤 무엇 뭐 뭘 왜 어디 언제 방법 하 되 있 없 알 싶 주 좀 혹시 수 것 거 가능 "
    "때 같 나 이거 그거 너무 아주 잘 더 쓰 만들".split()
)
# Kiwi's tags of content morphemes: nouns, verb and adjective stems, adverbs, roots, hanja.
KIWI_CONTENT = ("NNG", "NNP", "NR", "NP", "VV", "VA", "MAG", "XR", "SH")
# File names that say nothing of a page's subject: the folder's name is its title instead.
GENERIC_NAMES = frozenset("index readme description main intro introduction".split())

HEAD_WEIGHT = 4.0  # calibrated: benchmarks/results/retrieval-variants-*.json
STEM_WEIGHT = 0.5


def tokens(text: str) -> list[str]:
    """Lower-cased words, and character bigrams of Hangul, Han and kana runs."""
    out: list[str] = []
    for match in TOKEN.finditer(text.lower()):
        word = match.group(0)
        if CJK_RUN.fullmatch(word):
            out.extend(bigrams(word))
        else:
            out.append(word)
    return out


def bigrams(run: str) -> list[str]:
    return [run[i:i + 2] for i in range(max(1, len(run) - 1))]


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english", 50_000)  # cache of 50k words in the C extension


def stems(words: list[str]) -> list[str]:
    """English Snowball stems of the words that have one other than the word itself."""
    latin = [w for w in words if LATIN_WORD.fullmatch(w)]
    return [s for w, s in zip(latin, _stemmer().stemWords(latin)) if s != w]


@functools.lru_cache(maxsize=1)
def kiwi():
    """The Korean morphological analyzer (kiwipiepy: about 1 s to load, once per process)."""
    from kiwipiepy import Kiwi

    return Kiwi()


def morphemes(text: str) -> list[str]:
    """Kiwi's content morphemes of the Hangul in `text` (particles and endings dropped)."""
    if not HANGUL.search(text):
        return []
    return [t.form for t in kiwi().tokenize(text)
            if t.tag.split("-")[0] in KIWI_CONTENT and HANGUL.search(t.form)]


@dataclass(frozen=True)
class Fields:
    """The FTS5 columns of one chunk, as token strings."""

    head: str
    body: str
    stems: str
    # the body's exact and fuzzy tokens, for the row of the whole file (file_fields)
    body_words: tuple[str, ...] = ()
    body_fuzzy: tuple[str, ...] = ()


@dataclass(frozen=True)
class Analyzer:
    """How text becomes BM25 tokens. korean: "bigram" (character bigrams), "kiwi" (Kiwi's
    content morphemes), "kiwi+bigram" (both, in the body) or "kiwi/bigram" (morphemes in the
    body, bigrams in the lower-weighted stems column)."""

    stem: bool = True
    heading_field: bool = True
    identifiers: bool = False
    cleanup: bool = True
    english_cleanup: bool = False  # False: English words lose only QUERY_STOPWORDS
    korean: str = "bigram"
    weights: tuple[float, float, float] = (HEAD_WEIGHT, 1.0, STEM_WEIGHT)
    file_titles: bool = False

    def fields(self, heading: str | None, text: str, source: str | None = None) -> Fields:
        """The columns of a chunk with this heading path, in the file at `source` (its name is
        a title of the chunk when `file_titles`)."""
        if not self.heading_field:
            text = f"{heading}\n{text}" if heading else text
            heading = None
        title = file_title(source) if source and self.file_titles else ""
        head, head_fuzzy = self._words(f"{title}\n{heading or ''}".strip())
        body, body_fuzzy = self._words(text)
        return Fields(" ".join(head), " ".join(body), " ".join(head_fuzzy + body_fuzzy),
                      tuple(body), tuple(body_fuzzy))

    def file_fields(self, chunks: list[tuple[str | None, Fields]]) -> Fields:
        """The columns of a whole file from its chunks' (heading path or None, fields), in
        order: each distinct heading path once in the head, every chunk's body tokens in the
        body (the tokens of all its text: BM25 counts them, their order does not matter)."""
        headings = list(dict.fromkeys(h for h, _ in chunks if h)) if self.heading_field else []
        head, head_fuzzy = self._words("\n".join(headings))
        body = [t for _, f in chunks for t in f.body_words]
        fuzzy = head_fuzzy + [t for _, f in chunks for t in f.body_fuzzy]
        return Fields(" ".join(head), " ".join(body), " ".join(fuzzy))

    def _words(self, text: str, drop: frozenset[str] = frozenset()) -> tuple[list[str],
                                                                                list[str]]:
        """(exact tokens, fuzzy tokens: stems, and bigrams in "kiwi/bigram"), without the
        words in `drop` (nor their stems)."""
        if not text:
            return [], []
        lowered = text.lower()
        exact: list[str] = []
        fuzzy: list[str] = []
        words: list[str] = []
        hangul = False
        for match in TOKEN.finditer(lowered):
            word = match.group(0)
            if not CJK_RUN.fullmatch(word):
                if word not in drop:
                    words.append(word)
            elif self.korean == "bigram" or not HANGUL.search(word):
                exact.extend(bigrams(word))
            else:
                hangul = True
                if self.korean == "kiwi+bigram":
                    exact.extend(bigrams(word))
                elif self.korean == "kiwi/bigram":
                    fuzzy.extend(bigrams(word))
        exact.extend(words)
        if hangul:
            exact.extend(m for m in morphemes(text) if m not in drop)
        if self.identifiers:
            exact.extend(identifiers(lowered))
        if self.stem:
            fuzzy.extend(stems(words))
        return exact, fuzzy

    def query_terms(self, query: str) -> list[str]:
        """The distinct terms of a query, question words dropped (all kept if nothing else
        is left), each word's stem added."""
        if self.cleanup:
            english = QUESTION_WORDS if self.english_cleanup else QUERY_STOPWORDS
            drop = english | KOREAN_QUESTION_MORPHEMES
            terms = self._terms(strip_korean(query) if self.korean == "bigram" else query, drop)
        else:
            terms = self._terms(query, QUERY_STOPWORDS)
        return terms or self._terms(query, frozenset())

    def _terms(self, query: str, drop: frozenset[str]) -> list[str]:
        exact, fuzzy = self._words(query, drop)
        return list(dict.fromkeys(t for t in exact + fuzzy if t not in drop))

    def fts_query(self, query: str) -> str:
        """The FTS5 MATCH expression: any of the terms."""
        return " OR ".join('"' + t.replace('"', '""') + '"' for t in self.query_terms(query))


def file_title(path: str) -> str:
    """The words of a file's name (`cli/pip_freeze.rst` -> `pip_freeze`), or of its folder's
    when the name is a generic one (`index.md`, `README.md`)."""
    stem, _ = os.path.splitext(os.path.basename(path))
    if stem.lower() in GENERIC_NAMES:
        stem = os.path.basename(os.path.dirname(path))
    return stem


def identifiers(lowered: str) -> list[str]:
    """`follow_redirects`, `v-model`, `app.config.errorhandler` as one token each, joined
    by `_` (a token character of the FTS5 table; never one of `tokens()`)."""
    return ["_".join(TOKEN.findall(m.group(0))) for m in IDENTIFIER.finditer(lowered)]


def strip_korean(query: str) -> str:
    """A Korean question without its question words, and each word without its ending or
    particle: `데이터를 넘기려면 어떻게 해야 하나요` -> `데이터 넘기`."""
    kept = []
    for word in query.split():
        bare = word.rstrip("?!.,~")
        if bare in KOREAN_QUESTION_WORDS:
            continue
        if HANGUL.search(bare):
            bare = _strip_ending(bare)
        kept.append(bare)
    return " ".join(kept)


def _strip_ending(word: str) -> str:
    for _ in range(2):  # an ending, then a particle before it ("컴포넌트에서는")
        for ending in KOREAN_ENDINGS:
            if word.endswith(ending) and len(word) - len(ending) >= 2:
                word = word[:-len(ending)]
                break
        else:
            break
    return word


ANALYZER = Analyzer()


def index_string(text: str) -> str:
    """All of the text's index tokens in one string (what the columns of a chunk without
    a heading hold together)."""
    fields = ANALYZER.fields(None, text)
    return " ".join(part for part in (fields.body, fields.stems) if part)


def query_tokens(text: str) -> list[str]:
    """The terms ragchat's BM25 searches for `text`."""
    return ANALYZER.query_terms(text)
