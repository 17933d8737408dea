"""What the user sees of an answer, whatever model wrote it.

Small models echo the prompt's scaffolding ("TASK: ANSWER ...", "<passages>", "Question:",
a made-up passage header like "[1] help.md, lines 36-42") and loop on a sentence until the
token budget runs out. `AnswerCleaner` watches the stream: it strips a lead-in such as
"The answer is:", stops the answer where scaffolding starts or where the model repeats
itself, and says why. The scaffolding it knows is what prompts.py writes, taken from its
constants. What to show when too little of an answer is left is quoting.py's part.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ragchat.pipeline import prompts

# The chat template's control tokens (ragchat/llm/templates.py); the API backend sends them
# neutralized, `<` + U+200D + `|im_end|>` (ragchat/llm/control_tokens.py).
TEMPLATE_TOKEN = r"<\u200d?\|im_(?:start|end)\|>"
IM_START = "<|im_start|>"


def _task_echo(task_line: str) -> str | None:
    """'TASK: GRADE (candidates: ...)' -> 'GRADE (': the task line copied without its label;
    None for a task line without details."""
    name, paren, _ = task_line.removeprefix(prompts.TASK_LABEL).strip().partition("(")
    return f"{name.strip()} (" if paren else None


TASK_ECHOES = tuple(echo for line in prompts.TASK_LINES.values() if (echo := _task_echo(line)))
# What starts a line of the prompt's structure (besides the passage tags).
LINE_MARKERS = (prompts.TASK_LABEL, prompts.QUESTION_LABEL, prompts.LATEST_MESSAGE_LABEL,
                prompts.SEEN_AGAIN, *TASK_ECHOES)


def _loose(marker: str) -> str:
    """A marker as a pattern: 'Question:' -> 'Question\\s*:' (spaces before a closing
    ':' or '(' allowed)."""
    body = marker.rstrip(":( ")
    end = marker[len(body):].strip()
    return re.escape(body) + (r"\s*" + re.escape(end) if end else "")


# A line that starts like this is the prompt's structure, not an answer.
SCAFFOLD_LINE = re.compile(
    r"^\s*(?:" + "|".join([prompts.PASSAGE_TAG.pattern, *map(_loose, LINE_MARKERS)]) + ")",
    re.IGNORECASE)
# A copied passage header: "[1] notes.md, lines 3-9 (Heading)", with or without its number.
HEADER_LINE = re.compile(r"\s*(?:\[\d+\]\s+)?[^\s,\[\]]+\.\w{1,5}\s*,\s*(?:lines?|page)\s+\d",
                         re.IGNORECASE)
# Anywhere in a line, as written (case matters: "the task: ..." is prose): the model started
# writing a prompt of its own, or copies the prompt's delimiters as prompts.py escapes them in
# passages (`&lt;/passages&gt;`, `\TASK:`), or a control token of the chat template.
SCAFFOLD_INLINE = re.compile("|".join([
    prompts.PASSAGE_TAG.pattern, prompts.ESCAPED_PASSAGE_TAG.pattern,
    r"\b" + _loose(prompts.TASK_LABEL), TEMPLATE_TOKEN]))
LEAD_IN = re.compile(
    r"^\s*(?:(?:the|my|here\s+is\s+the)\s+answer(?:\s+to\s+(?:your|the|this)\s+question)?"
    r"(?:\s+is)?|answer)\s*(?::[ \t]*|(?=\n)|$)", re.IGNORECASE)
# Strings the engine stops on in the answer call (cheaper than generating and cutting)
STOP_STRINGS = (prompts.TASK_LABEL, prompts.PASSAGES_OPEN, prompts.PASSAGES_CLOSE, IM_START,
                "\n" + prompts.QUESTION_LABEL, prompts.LATEST_MESSAGE_LABEL)
HOLD = 40  # most characters held at the start of a line that may still be scaffolding
# every lead-in LEAD_IN strips, spelled out: a line that may still become one is held
LEAD_INS = tuple(f"{who} answer{about}{verb}:" for who in ("the", "my", "here is the")
                 for about in ("", " to your question", " to the question", " to this question")
                 for verb in ("", " is")) + ("answer:",)
# a line that may still become one of these is held (casefolded, spaces single)
MARKERS = tuple(marker.casefold() for marker in (
    prompts.PASSAGES_OPEN, prompts.PASSAGES_CLOSE, *LINE_MARKERS)) + LEAD_INS
PARTIAL_HEADER = re.compile(r"\[\d*(?:\]\s*[^\s,\[\]]*(?:,\s*\w*\s*[\d-]*)?)?$")
# a first word that may still become "name.md, lines 3-9" (a header without its number)
PARTIAL_FILE_HEADER = re.compile(
    r"[^\s,\[\]]+(?:\.\w{1,5},\s*(?:l(?:i(?:n(?:es?)?)?)?|p(?:a(?:ge?)?)?)?\s*[\d-]*)?")
MIN_REPEAT = 24  # a sentence this long seen twice means the model is looping
LOOP = re.compile(r"(.{6,120}?)(?:\s*\1){3,}\s*$", re.DOTALL)
SENTENCE = re.compile(r"[^.!?:\n。]*[.!?:\n。]")
CODE_LINE = re.compile(r"[^\n]*\n")

WORD = re.compile(r"\w+")
ECHO_WORDS = 6  # this many words in a row from the instructions make an echo

STOPPED_SCAFFOLD = "scaffolding"
STOPPED_REPEAT = "repetition"
STOPPED_ENOUGH = "enough"  # the paragraphs asked for are written
STOPPED_EARLIER = "earlier answer"  # the answer opens by copying an earlier answer
REPEAT_NOTE = "\n\n[stopped: the model began repeating itself]"
LIMIT_NOTE = "\n\n[cut: the answer reached its length limit of {n} tokens (max_new_tokens)]"


def word_ngrams(text: str, n: int = ECHO_WORDS) -> frozenset[tuple[str, ...]]:
    words = [w.casefold() for w in WORD.findall(text)]
    return frozenset(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def _sentences(text: str) -> list[str]:
    return [_norm(m.group()) for m in SENTENCE.finditer(text + "\n")]


def _norm(sentence: str) -> str:
    sentence = re.sub(r"\[\d+(?:\s*,\s*\d+)*\]", "", sentence)
    return re.sub(r"[\W_]+", " ", sentence.casefold()).strip()


class AnswerCleaner:
    """Feed streamed text; get back what is fit to show. `stopped` says why it ended early
    (None while the answer is fine); the caller then stops the generation.

    A copied passage header ("[1] notes.md, lines 3-9 (...)") is dropped and the answer goes
    on; the prompt's own structure (task lines, passage tags, "Question:") ends it. What was
    shown maps back to the raw text (`kept_raw`), for the conversation history.

    An answer whose first sentence is a sentence of an `earlier` answer (small models answer a
    follow-up by copying their last answer) is stopped before any of it is shown: while the
    answer's opening could still become such a sentence it is held, and released as soon as
    it differs.
    """

    def __init__(self, echo_of: str = "", max_paragraphs: int = 0,
                 earlier: Iterable[str] = ()) -> None:
        self.echo = word_ngrams(echo_of)  # the prompt's instructions: copying them is an echo
        self.earlier = {unit for text in earlier for unit in _sentences(text)
                        if len(unit) >= MIN_REPEAT}
        self.opening_done = not self.earlier  # the first sentence was checked, or diverged
        self.max_paragraphs = max_paragraphs  # 0: as many as the model writes
        self.pending = ""  # the start of a line, held until decided
        self.mid_line = False  # the current line was decided: stream it as it comes
        self.skip_line = False  # ... or drop it, to its end (a copied header)
        self.started = False
        self.stopped: str | None = None
        self.shown = ""
        self.raw_pos = 0  # raw characters decided (shown or dropped)
        self.raw_cut: int | None = None  # where in the raw text the answer was stopped
        self._segments: list[tuple[int, int]] = []  # (index in shown, index in raw)
        self._sentences: set[str] = set()
        self._checked = 0  # how much of `shown` went through the repetition check

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        out, buffer = [], self.pending + piece
        self.pending = ""
        while buffer and not self.stopped:
            if self._may_copy_earlier(buffer):
                self.pending = buffer  # may still become an earlier answer's sentence
                break
            cut = buffer.find("\n")
            if not self.mid_line and cut == -1 and len(buffer.strip()) < HOLD \
                    and undecided(buffer):
                self.pending = buffer  # may still become scaffolding
                break
            part, buffer = (buffer, "") if cut == -1 else (buffer[:cut + 1], buffer[cut + 1:])
            whole_line = not self.mid_line
            self.mid_line = cut == -1
            out.append(self._decide(part, whole_line))
        return "".join(out)

    def flush(self) -> str:
        """The held rest, once the stream has ended."""
        rest, self.pending = self.pending, ""
        if self.stopped or not rest:
            return ""
        return self._decide(rest, not self.mid_line)

    def _may_copy_earlier(self, buffer: str) -> bool:
        """Could the answer so far plus `buffer` still become an earlier answer's sentence?"""
        if self.opening_done:
            return False
        if not self.started and len(buffer.strip()) < HOLD and undecided(buffer):
            return True  # may still be a lead-in ("The answer is:") or scaffolding
        lead = LEAD_IN.match(buffer) if not self.started else None
        text = self.shown + (buffer[lead.end():] if lead else buffer)
        so_far = _norm(text)
        if not so_far:
            return True
        if any(unit.startswith(so_far) for unit in self.earlier):
            return not SENTENCE.match(text.lstrip())  # held until its sentence ends
        self.opening_done = True  # it differs: nothing to wait for any more
        return False

    def kept_raw(self, raw: str) -> str:
        """The part of the raw generated text behind what was shown: all of it, or the
        prefix before the point where the cleaner stopped the answer."""
        return raw if self.raw_cut is None else raw[: self.raw_cut]

    def _decide(self, part: str, whole_line: bool) -> str:
        """Show, drop or stop at one line (or the rest of a line already decided)."""
        start = self.raw_pos
        self.raw_pos += len(part)
        offset = 0
        if not whole_line and self.skip_line:
            self.skip_line = not part.endswith("\n")
            return ""
        if whole_line:
            if not self.started:
                lead = LEAD_IN.match(part)
                offset = lead.end() if lead else 0
                if not part[offset:].strip():
                    return ""  # a lead-in alone on its line
            if SCAFFOLD_LINE.match(part[offset:]):
                return self._stop(STOPPED_SCAFFOLD, raw=start + offset)
            if HEADER_LINE.match(part[offset:]):
                self.skip_line = not part.endswith("\n")
                return ""  # a copied passage header: dropped, the answer goes on
        text = part[offset:]
        match = SCAFFOLD_INLINE.search(text)
        if match:
            text = text[: match.start()]
            self._stop(STOPPED_SCAFFOLD, raw=start + offset + match.start())
        if not text.strip() and not self.started:
            return ""  # no blank lines before the answer
        if text.strip():
            self.started = True
        return self._checked_text(text, start + offset)

    def _stop(self, reason: str, *, raw: int | None = None, shown: int | None = None) -> str:
        """Stop at a raw position, or at a position in `shown` (mapped back to the raw)."""
        self.stopped = reason
        if shown is not None:
            self.shown = self.shown[:shown]
            raw = self._raw_index(shown)
        self.raw_cut = raw
        return ""

    def _raw_index(self, shown: int) -> int:
        for shown_at, raw_at in reversed(self._segments):
            if shown_at <= shown:
                return raw_at + (shown - shown_at)
        return 0

    def _checked_text(self, text: str, raw_start: int) -> str:
        """Append to what was shown; stop at the first sentence (or code line) seen before,
        at a loop, after the paragraphs asked for, or where the instructions are copied."""
        if not text:
            return ""
        start = len(self.shown)
        self._segments.append((start, raw_start))
        self.shown += text
        cut = self._first_cut(start)
        if cut is None:
            return text
        reason, at = cut
        stopped_already = self.raw_cut  # an inline stop in this same text came first
        self._stop(reason, shown=at)
        if stopped_already is not None and (self.raw_cut is None or stopped_already < self.raw_cut):
            self.raw_cut = stopped_already
        return text[: max(at - start, 0)]

    def _first_cut(self, start: int) -> tuple[str, int] | None:
        for begin, end in self._new_units():
            unit = _norm(self.shown[begin:end])
            if not self.opening_done and unit:
                self.opening_done = True
                if unit in self.earlier:
                    return STOPPED_EARLIER, begin
            if len(unit) >= MIN_REPEAT:
                if unit in self._sentences:
                    return STOPPED_REPEAT, max(begin, start)
                self._sentences.add(unit)
        loop = LOOP.search(self.shown, max(len(self.shown) - 600, 0))
        if loop:
            return STOPPED_REPEAT, max(loop.start() + len(loop.group(1)), start)
        enough = self._paragraphs_end(start)
        if enough is not None:
            return STOPPED_ENOUGH, enough
        echo = self._echo_start(start)
        if echo is not None:
            return STOPPED_SCAFFOLD, max(echo, start)
        return None

    def _new_units(self) -> Iterator[tuple[int, int]]:
        """(start, end) of each sentence completed since the last check; inside a code
        block a unit is a line (dots and colons are code there, not sentence ends)."""
        pos = self._checked
        while True:
            in_code = self.shown.count("```", 0, pos) % 2 == 1
            match = (CODE_LINE if in_code else SENTENCE).search(self.shown, pos)
            if match is None:
                break
            yield match.start(), match.end()
            pos = self._checked = match.end()

    def _paragraphs_end(self, start: int) -> int | None:
        """Where the answer's `max_paragraphs`-th paragraph ends (a blank line, or the start
        of a code block, after some text), once that is written; None before."""
        if not self.max_paragraphs:
            return None
        count = 0
        for match in re.finditer(r"\n\s*\n|\n?```", self.shown):
            if self.shown.count("```", 0, match.start()) % 2 == 0 and \
                    self.shown[: match.start()].strip():
                count += 1
                if count >= self.max_paragraphs and match.end() > start:
                    return match.start()
        return None

    def _echo_start(self, start: int) -> int | None:
        """Where the shown text starts copying the prompt's instructions (ECHO_WORDS words in a
        row), looking at the words around the new text; None when it does not."""
        if not self.echo:
            return None
        window = max(start - 200, 0)
        words = [(m.start(), m.group().casefold()) for m in WORD.finditer(self.shown, window)]
        for i in range(len(words) - ECHO_WORDS + 1):
            if tuple(w for _, w in words[i:i + ECHO_WORDS]) in self.echo:
                return words[i][0]
        return None


def undecided(start: str) -> bool:
    """Could a line that starts like this still turn out to be scaffolding (or a lead-in)?"""
    text = re.sub(r"\s+", " ", start.lstrip().casefold())
    if not text:
        return True
    if any(marker.startswith(text) for marker in MARKERS):
        return True
    if any(text.startswith(marker) for marker in MARKERS):
        return False  # it is one: decide now
    return bool(PARTIAL_HEADER.match(text) or PARTIAL_FILE_HEADER.fullmatch(text))
