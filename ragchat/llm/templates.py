"""Chat prompts from the model's own template (jinja, as in tokenizer_config.json or GGUF metadata).

Rendering is deterministic, so a conversation that grows by appending messages renders to a
prompt that grows by appending text: the shared prefix tokenizes to the same ids and the
engine can serve it from its KV cache.

`render_segments` says which parts of the prompt are the template's own text (whose control
tokens count) and which are message contents (untrusted: tokenized as plain text).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from ragchat.errors import ModelError

# Used when a model ships no template (ChatML: Qwen, SmolLM2 and many others).
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class Segment:
    """A piece of a rendered prompt: the template's own text (`trusted`: its control tokens
    are tokens) or a message's content (untrusted: plain text, whatever it says)."""

    text: str
    trusted: bool


@dataclass(frozen=True)
class ChatTemplate:
    source: str
    bos_token: str = ""
    eos_token: str = ""

    def render(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        return self._render([normalize_message(m) for m in messages], add_generation_prompt)

    def _render(self, clean: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        try:
            return _compile(self.source).render(
                messages=clean, add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token, eos_token=self.eos_token,
            )
        except Exception as exc:  # jinja errors, raise_exception() in the template
            raise ModelError(f"the model's chat template failed: {exc}",
                             hint="report the model name; a message role may be unsupported") from exc

    def render_segments(self, messages: list[dict],
                        neutralize: Callable[[str], str]) -> list[Segment]:
        """The rendered prompt as template text and message contents, in order.

        Each content is replaced by a marker that holds a per-render random nonce (no
        document can guess it), the template is rendered, and the text is split at the
        markers. When the pieces joined with the real contents are not the normal render
        (the template trims, escapes or branches on contents), the contents are
        neutralized (`neutralize`) and the whole render is one trusted segment instead.
        """
        clean = [normalize_message(m) for m in messages]
        rendered = self._render(clean)
        segments = self._marked_segments(clean)
        if segments is not None and "".join(s.text for s in segments) == rendered:
            return segments
        safe = [{**m, "content": neutralize(m["content"])} for m in clean]
        return [Segment(self._render(safe), trusted=True)]

    def _marked_segments(self, clean: list[dict[str, str]]) -> list[Segment] | None:
        nonce = secrets.token_hex(16)
        marked = [{**m, "content": f"@@{nonce}:{i}@@"} for i, m in enumerate(clean)]
        try:
            pieces = re.split(f"@@{nonce}:(\\d+)@@", self._render(marked))
        except ModelError:  # the template refuses a content it does not expect
            return None
        if any(nonce in piece for piece in pieces[::2]):
            return None  # a marker was cut or changed by the template
        segments = [Segment(clean[int(piece)]["content"], False) if i % 2 else Segment(piece, True)
                    for i, piece in enumerate(pieces)]
        return [s for s in segments if s.text]


def normalize_message(message: dict) -> dict[str, str]:
    role = str(message.get("role", "user"))
    if role not in ROLES:
        raise ModelError(f"unknown chat role {role!r}", hint=f"use one of {', '.join(ROLES)}")
    content = message.get("content", "")
    if not isinstance(content, str):
        content = _text_of(content)
    return {"role": role, "content": content}


def _text_of(content: Any) -> str:
    """Join the text parts of a list-of-blocks content (OpenAI / LangChain style)."""
    if isinstance(content, list):
        parts = [p if isinstance(p, str) else p.get("text", "") for p in content
                 if isinstance(p, str) or (isinstance(p, dict) and p.get("type") == "text")]
        return "".join(parts)
    return "" if content is None else str(content)


def _raise(message: str) -> None:
    raise ValueError(message)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@lru_cache(maxsize=8)
def _compile(source: str):
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols],
        keep_trailing_newline=True,
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(source)


def template_from_tokenizer_config(config: dict) -> ChatTemplate:
    """The template in a Hugging Face tokenizer_config.json (str, or list of named templates)."""
    source = config.get("chat_template") or CHATML
    if isinstance(source, list):
        named = {t.get("name"): t.get("template") for t in source if isinstance(t, dict)}
        source = named.get("default") or next(iter(named.values()), None) or CHATML
    return ChatTemplate(source, _token_text(config.get("bos_token")),
                        _token_text(config.get("eos_token")))


def _token_text(token: Any) -> str:
    if isinstance(token, dict):
        return str(token.get("content", ""))
    return "" if token is None else str(token)
