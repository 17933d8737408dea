"""What to show when a model's answer says nothing, or too little: the best lines of the
most relevant passage, as a quote.

`usable` says whether an answer has any words or numbers at all; `thin` whether it adds
nothing to the question ("You can use HTTPX to stream a large download."); `best_passage`
picks the passage to quote among those the model was given; `quote_fallback` quotes the passage's sentences that share the most words with the question (a code block
whole, with the sentence that introduces it), cited by its number.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ragchat.pipeline.relevance import content_terms
from ragchat.pipeline.result import Chunk


def usable(text: str) -> bool:
    """Is there an answer here at all: a word or a number, not just citations or punctuation?"""
    bare = re.sub(r"\[[\d,;\s]*\]?", "", text)  # citations, also unfinished ones
    return bool(re.search(r"[^\W\d_]{2,}|\d", bare))


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$", re.M | re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?。])(\s+)")


@dataclass(frozen=True)
class _Unit:
    """A piece of a passage a quote may show: a prose sentence, or a code block with the
    sentence that introduces it; `block` numbers the paragraph (or code block) it is in,
    `lines` says whether a line break separates it from the sentence before it (list items)."""

    text: str
    block: int
    code: bool = False
    lines: bool = False


def _units(passage: str) -> list[_Unit]:
    """Sentences of the prose paragraphs; a fenced code block is never split, and it takes
    the sentence before it along (docs introduce code: "pass the URL to the client:")."""
    units: list[_Unit] = []
    at, block = 0, 0
    pieces = []
    for fence in _FENCE.finditer(passage):
        pieces.append((passage[at:fence.start()], False))
        pieces.append((fence.group(0), True))
        at = fence.end()
    pieces.append((passage[at:], False))
    for text, code in pieces:
        if code:
            lead = units.pop() if units and not units[-1].code else None
            joined = f"{lead.text}\n\n{text.strip()}" if lead else text.strip()
            units.append(_Unit(joined, block, code=True))
            block += 1
            continue
        for paragraph in re.split(r"\n\s*\n", text):
            parts = _SENTENCE_END.split(paragraph)  # sentence, space, sentence, ...
            found = [_Unit(part.strip(), block, lines="\n" in parts[i - 1] if i else False)
                     for i, part in enumerate(parts) if i % 2 == 0 and part.strip()]
            units.extend(found)
            block += 1 if found else 0
    return units


def _clip(text: str, chars: int) -> str:
    """At most `chars` characters, cut at a line end where there is one; a code block cut
    short is closed, so what follows is not shown as code."""
    if len(text) <= chars:
        return text
    cut = text[: chars - 1]
    cut = cut[: cut.rfind("\n")] if "\n" in cut[chars // 2:] else cut.rstrip()
    cut = cut.rstrip() + " …"
    if len(re.findall(r"^[ \t]*(?:`{3,}|~{3,})", cut, re.M)) % 2:
        cut += "\n```"
    return cut


def best_sentences(question: str, passage: str, limit: int = 2, chars: int = 400) -> str:
    """The passage's sentences (or code blocks with their lead-in) that share the most words
    with the question, in the passage's order. A code block may bring the quote to
    2 x `chars`: an example is what such a question needs."""
    units = _units(passage)
    if not units:
        return passage.strip()[:chars]
    want = content_terms(question)  # plurals as singulars, Korean by character bigrams
    scored = sorted(range(len(units)),
                    key=lambda i: (-len(want & content_terms(units[i].text)), i))
    picked = sorted(scored[:limit])
    chosen = [units[i] for i in picked]
    text = chosen[0].text
    for (i, before), (j, unit) in zip(zip(picked, chosen), zip(picked[1:], chosen[1:]),
                                      strict=False):
        if before.block != unit.block or before.code or unit.code:
            text += "\n\n" + unit.text
        elif j == i + 1:
            text += ("\n" if unit.lines else " ") + unit.text
        else:
            text += " … " + unit.text  # sentences left out between them
    return _clip(text, 2 * chars if any(u.code for u in chosen) else chars)


NO_USABLE_ANSWER = "The model gave no usable answer."
_GENERIC = frozenset("""use using used can could need want way able simply just make sure also
answer yes no""".split())


def _informative_words(text: str) -> set[str]:
    """Content terms (a plural as its singular; Korean by character bigrams) and numbers
    (a lone digit included), citations left out."""
    text = re.sub(r"\[[\d,;\s]*\]", " ", text)
    numbers = {w for w in re.findall(r"\w+", text) if w.isdigit()}
    return content_terms(text) | numbers


def thin(question: str, answer: str) -> bool:
    """Does the answer add no number and less than two words to the question ("You can use
    HTTPX to stream a large download.", "The answer is no.")? A small model's way of saying
    nothing; the words it may reuse are the question's and a few generic ones."""
    new = _informative_words(answer) - _informative_words(question) - _GENERIC
    return len(new) < 2 and not any(word.isdigit() for word in new)


_SUFFIXES = ("ing", "ed", "es", "s", "e", "ly")


def _root(term: str) -> str:
    """A word without its English ending, roughly ("enabling", "enabled", "enable" ->
    "enabl"), so that a question's word finds its other forms; Korean bigrams stay."""
    for suffix in _SUFFIXES:
        if len(term) - len(suffix) >= 4 and term.endswith(suffix):
            return term[: -len(suffix)]
    return term


def _roots(text: str) -> set[str]:
    return {_root(term) for term in content_terms(text)}


def _coverage(want: set[str], have: set[str]) -> float:
    return len(want & have) / len(want) if want else 0.0


# Weights of what makes a passage the one to quote, chosen on the dev conversations of
# benchmarks/qa/followups.jsonl (held-out ones reported apart: benchmarks/followups.py):
# the latest question's words in the passage (heading included) and, again, in its heading
# (what the passage is about); the conversation's words (the search, which for a follow-up
# holds the previous question); and a little of the search's rank, which breaks ties.
HEADING_WEIGHT = 1.0
SEARCHED_WEIGHT = 1.0
RANK_WEIGHT = 0.02


def best_passage(question: str, searched: str, hits: list[Chunk]) -> Chunk:
    """Of the passages the model was told to use (the grader's or the scores' choice, in
    the search's order), the one that best answers `question`, the latest one asked:
    coverage of its content words, in the passage and in its heading, then of what was
    searched (`searched`), then the search's rank."""
    asked, topic = _roots(question), _roots(searched)

    def score(rank: int) -> float:
        hit = hits[rank]
        heading = _roots(hit.heading or "")
        words = _roots(hit.text) | heading
        return (_coverage(asked, words) + HEADING_WEIGHT * _coverage(asked, heading)
                + SEARCHED_WEIGHT * _coverage(topic, words) - RANK_WEIGHT * rank)

    return hits[max(range(len(hits)), key=score)]


def quote_fallback(question: str, hit: Chunk, lead: str = NO_USABLE_ANSWER) -> str:
    """What to show when the model wrote nothing usable (or, after `lead`, too little): the
    best lines of `hit`, cited."""
    name = os.path.basename(hit.path) or hit.path
    lines = best_sentences(question, hit.text).splitlines()
    quoted = "\n".join("> " + line if line.strip() else ">" for line in lines)
    opening = f"{lead} The most relevant lines" if lead else "The most relevant lines"
    return f"{opening} of [{hit.n}] {name}:\n\n{quoted}"
