"""Lenient parsing of small-model output, and the citation filter for streamed answers.

Small models wrap JSON in prose or code fences, drop quotes, or say "yes" instead of
true. Everything here accepts that, and falls back to a safe default instead of failing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
_QUESTION_FIELD = re.compile(
    r"[\"']?(?:question|standalone(?:_question)?|query)[\"']?\s*[:=]\s*[\"']?(.+?)[\"']?\s*(?:,\s*[\"']?\w+[\"']?\s*[:=]|[}\n]|$)",
    re.IGNORECASE | re.DOTALL,
)
_SEARCH_FIELD = re.compile(
    r"[\"']?(?:search|retrieve|needs?_documents?)[\"']?\s*[:=]\s*[\"']?(true|false|yes|no|1|0)",
    re.IGNORECASE,
)
_TRUE = {"true", "yes", "1"}
_SMALL_TALK = re.compile(
    r"^\s*(hi|hello|hey|hallo|yo|thanks|thank you|thx|cheers|bye|goodbye|"
    r"good (morning|evening|night)|ok(ay)?|cool|great|nice|"
    r"안녕(하세요)?|고마워(요)?|감사(합니다|해요)?)\b[\s!.,?~]*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Rewrite:
    question: str
    retrieve: bool
    parsed: bool  # False when the output could not be read and the fallback was used


def is_small_talk(message: str) -> bool:
    """Greetings and thanks that need no documents (used when there is no history)."""
    return bool(_SMALL_TALK.match(message))


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | {"false", "no", "0"}:
        return value.strip().lower() in _TRUE
    return None


def _from_json(text: str) -> tuple[str | None, bool | None]:
    for match in _OBJECT.finditer(text):
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        question = next((data[k] for k in ("question", "standalone_question", "query")
                         if isinstance(data.get(k), str)), None)
        search = next((_as_bool(data[k]) for k in ("search", "retrieve") if k in data), None)
        if question is not None or search is not None:
            return question, search
    return None, None


def _from_fields(text: str) -> tuple[str | None, bool | None]:
    question = _QUESTION_FIELD.search(text)
    search = _SEARCH_FIELD.search(text)
    return (
        question.group(1).strip() if question else None,
        search.group(1).lower() in _TRUE if search else None,
    )


def _plausible(question: str | None, raw: str) -> bool:
    if not question or not question.strip():
        return False
    return len(question) <= 3 * len(raw) + 300


def _plain_question(text: str) -> str | None:
    """A model that ignored the JSON format but wrote one question on its first line."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = line.strip("`\"' ")
    return line if line.endswith("?") and "TASK" not in line else None


def parse_rewrite(text: str, raw_question: str) -> Rewrite:
    """Read the contextualize output; on failure retrieve with the raw question."""
    question, search = _from_json(text)
    if question is None and search is None:
        question, search = _from_fields(text)
    if question is None and search is None:
        question = _plain_question(text)
    if not _plausible(question, raw_question):
        if search is False:
            return Rewrite(raw_question, False, True)
        return Rewrite(raw_question, True, False)
    assert question is not None  # _plausible said so
    return Rewrite(question.strip(), search is not False, True)


def parse_grades(text: str, candidates: list[int]) -> tuple[list[int], bool]:
    """The candidate passage numbers the grader kept, and whether its output was readable
    (when it was not, the caller decides by retrieval scores instead)."""
    numbers = {int(n) for n in re.findall(r"\d+", text)}
    kept = [n for n in candidates if n in numbers]
    if kept:
        return kept, True
    if re.search(r"\bnone\b|\bno passage|\bnothing\b|없", text, re.IGNORECASE):
        return [], True
    return [], False


_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_MAX_PENDING = 24


class CitationFilter:
    """Drops `[n]` citations whose n is not an allowed passage number, while streaming.

    Text after an unclosed `[` is held back until it can be decided, so nothing the
    user sees cites a source that is not listed.
    """

    def __init__(self, allowed: AbstractSet[int]) -> None:
        self.allowed = allowed
        self._pending = ""

    def _rewrite(self, match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*,\s*", match.group(1))]
        kept = [n for n in numbers if n in self.allowed]
        return "[" + ", ".join(map(str, kept)) + "]" if kept else ""

    def feed(self, text: str) -> str:
        buffer = self._pending + text
        cut = buffer.rfind("[")
        if cut != -1 and "]" not in buffer[cut:] and len(buffer) - cut <= _MAX_PENDING \
                and re.fullmatch(r"\[[\d,\s]*", buffer[cut:]):
            self._pending = buffer[cut:]
            buffer = buffer[:cut]
        else:
            self._pending = ""
        return _CITATION.sub(self._rewrite, buffer)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return _CITATION.sub(self._rewrite, rest)


def cited_numbers(answer: str) -> list[int]:
    """Passage numbers cited in an answer, in order of first appearance."""
    seen: list[int] = []
    for match in _CITATION.finditer(answer):
        for n in re.split(r"\s*,\s*", match.group(1)):
            if int(n) not in seen:
                seen.append(int(n))
    return seen
