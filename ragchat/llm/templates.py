"""Chat prompts from the model's own template (jinja, as in tokenizer_config.json or GGUF metadata).

Rendering is deterministic, so a conversation that grows by appending messages renders to a
prompt that grows by appending text: the shared prefix tokenizes to the same ids and the
engine can serve it from its KV cache.
"""

from __future__ import annotations

import json
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
class ChatTemplate:
    source: str
    bos_token: str = ""
    eos_token: str = ""

    def render(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        clean = [normalize_message(m) for m in messages]
        try:
            return _compile(self.source).render(
                messages=clean, add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token, eos_token=self.eos_token,
            )
        except Exception as exc:  # jinja errors, raise_exception() in the template
            raise ModelError(f"the model's chat template failed: {exc}",
                             hint="report the model name; a message role may be unsupported") from exc


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
