"""Token ids of a chat prompt in which only the template's control tokens are control tokens.

The prompt is rendered as segments (templates.py): the template's own text, and message
contents. Control tokens are looked for in the template's text only; the text between two
of them (template text and contents alike) is tokenized in one piece as plain text, with
special tokens *not* parsed. That is what llama.cpp (special=True) and ExLlamaV2
(encode_special_tokens=True) did with the whole prompt, where contents held no control
strings, so a benign prompt gets the very same ids as before: the token boundaries are
still the control tokens, and the KV cache's shared prefix is unchanged. A control string
inside a content is just text.

Deterministic and prefix-stable: the ids of a conversation's messages depend on those
messages only (the per-render nonce of the segments never reaches the text).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from ragchat.llm.control_tokens import Special, neutralize
from ragchat.llm.templates import ChatTemplate, Segment

WHITESPACE = " \t\n\v\f\r"  # what llama.cpp strips next to an lstrip/rstrip token (isspace)


@dataclass(frozen=True)
class PromptVocab:
    """What a backend's tokenizer gives this module: its control tokens by text, a plain-text
    encoder (special tokens never parsed), and the BOS ids to put first (empty: none)."""

    specials: Mapping[str, Special]
    encode_text: Callable[[str], list[int]]
    bos_ids: tuple[int, ...] = ()
    bos_text: str = ""
    _names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = sorted((n for n in self.specials if n), key=len, reverse=True)
        object.__setattr__(self, "_names", tuple(names))

    def neutralize(self, text: str) -> str:
        return neutralize(text, self._names)

    def split(self, text: str) -> list[str]:
        """`text` split at control-token strings: [text, token, text, token, ..., text]."""
        return _splitter(self._names).split(text) if self._names else [text]


def encode_prompt(template: ChatTemplate, messages: list[dict], vocab: PromptVocab) -> list[int]:
    """The ids of `messages` rendered with `template`; BOS first unless the render starts
    with it (as the template's own `bos_token`)."""
    segments = template.render_segments(messages, vocab.neutralize)
    first = segments[0] if segments else None
    has_bos = bool(vocab.bos_text) and first is not None and first.trusted \
        and first.text.startswith(vocab.bos_text)
    return ([] if has_bos else list(vocab.bos_ids)) + encode_segments(segments, vocab)


def encode_segments(segments: Iterable[Segment], vocab: PromptVocab) -> list[int]:
    """Control tokens from trusted segments only; the text between them as plain text."""
    ids: list[int] = []
    run: list[str] = []  # text since the last control token
    after: Special | None = None  # the last control token
    for segment in segments:
        pieces = vocab.split(segment.text) if segment.trusted else [segment.text]
        for i, piece in enumerate(pieces):
            if i % 2 == 0:
                run.append(piece)
                continue
            special = vocab.specials[piece]
            ids += _encode_run("".join(run), after, special, vocab)
            ids.append(special.id)
            run, after = [], special
    return ids + _encode_run("".join(run), after, None, vocab)


def _encode_run(text: str, after: Special | None, before: Special | None,
                vocab: PromptVocab) -> list[int]:
    if after is not None and after.rstrip:
        text = text.lstrip(WHITESPACE)
    if before is not None and before.lstrip:
        text = text.rstrip(WHITESPACE)
    return vocab.encode_text(text) if text else []


@lru_cache(maxsize=8)
def _splitter(names: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("(" + "|".join(map(re.escape, names)) + ")")
