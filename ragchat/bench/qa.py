"""The QA file of `ragchat eval`: one JSON object per line.

    {"question": "How do I rebuild an index?", "answer": "--rebuild", "source": "ingest.md"}

`question` is required; `answer` (text the right passage and reply contain) and `source`
(the file that holds the answer: its name, or the end of its path) are optional, and a
question without either is timed but not scored. `context` lists questions asked first in
the same conversation (a follow-up like "and how do I turn it off?" is judged after them);
`"covered": false` marks a question the documents do not answer (the reply should say so).
Blank lines are skipped; `id` and keys starting with `_` are kept for the report and
otherwise ignored.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ragchat.errors import UsageError

KNOWN = {"question", "answer", "source", "id", "context", "covered"}


@dataclass(frozen=True)
class QAItem:
    line: int
    question: str
    answer: str | None = None
    source: str | None = None
    id: str | None = None
    context: tuple[str, ...] = ()
    covered: bool = True

    @property
    def judged(self) -> bool:
        return bool(self.answer or self.source)


def _bad(path: Path, line: int, what: str) -> UsageError:
    return UsageError(f"{path}:{line}: {what}",
                      hint='each line must be a JSON object like {"question": "...", '
                           '"answer": "...", "source": "file.md"} (see docs/how-to/evaluate.md)')


def _optional_text(data: dict, key: str, path: Path, line: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _bad(path, line, f'"{key}" must be a string, got {type(value).__name__}')
    return value.strip() or None


def parse_line(text: str, path: Path, line: int) -> QAItem:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(path, line, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise _bad(path, line, f"expected a JSON object, got {type(data).__name__}")
    unknown = sorted(k for k in data if k not in KNOWN and not str(k).startswith("_"))
    if unknown:
        raise _bad(path, line, f"unknown key(s) {', '.join(map(repr, unknown))}")
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        raise _bad(path, line, 'missing "question" (a non-empty string)')
    context = data.get("context", [])
    if isinstance(context, str):
        context = [context]
    if not isinstance(context, list) or not all(isinstance(c, str) and c.strip() for c in context):
        raise _bad(path, line, '"context" must be a list of earlier questions (strings)')
    covered = data.get("covered", True)
    if not isinstance(covered, bool):
        raise _bad(path, line, '"covered" must be true or false')
    return QAItem(line=line, question=question.strip(),
                  answer=_optional_text(data, "answer", path, line),
                  source=_optional_text(data, "source", path, line),
                  id=_optional_text(data, "id", path, line),
                  context=tuple(c.strip() for c in context), covered=covered)


def read_qa(path: Path) -> list[QAItem]:
    """Every question of a QA file; UsageError naming the line of the first bad one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"no such QA file: {path}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                         hint="save the file as UTF-8") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    items = [parse_line(raw, path, n) for n, raw in enumerate(text.splitlines(), start=1)
             if raw.strip()]
    if not items:
        raise UsageError(f"{path} has no questions",
                         hint='add one JSON object per line: {"question": "..."}')
    return items


def normalize(text: str) -> str:
    """Case-, width- and whitespace-insensitive form for "contains" checks."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", text).strip()


def contains(haystack: str, needle: str) -> bool:
    return bool(needle) and normalize(needle) in normalize(haystack)


def same_source(path: str, source: str) -> bool:
    """`source` names `path`: its file name, or a trailing part of it ("docs/index.md")."""
    want = [p.casefold() for p in PurePosixPath(source.replace("\\", "/").strip("/")).parts]
    have = [p.casefold() for p in PurePosixPath(str(path).replace("\\", "/")).parts]
    return bool(want) and have[-len(want):] == want
