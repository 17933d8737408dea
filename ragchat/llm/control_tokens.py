"""Control tokens, and keeping untrusted text from becoming one.

A chat model's turns are delimited by control tokens (`<|im_start|>`, `<|eot_id|>`,
`<start_of_turn>`, `[INST]`, ...). Text that comes from documents, file names, questions or
earlier answers must reach the model as text, never as one of them, or a document can
close the user's turn and open a system turn of its own.

Local engines tokenize the template's own text with control tokens parsed and every message
content without (ragchat/llm/prompt_ids.py). Where that is not possible (a server applies
the template itself; a template rewrites contents) the contents are *neutralized*: a ZERO
WIDTH JOINER (U+200D) goes after the first character of every control-token string, so
`<|im_start|>` becomes `<` + U+200D + `|im_start|>`. It looks the same, reads as the same
text to the model, and no tokenizer matches it as the control token (added tokens are
matched on the exact string, before any normalization).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

JOINER = "\u200d"

# Well-known control strings of chat templates, beyond the `<|...|>` family matched by pattern.
KNOWN = (
    # ChatML (Qwen, SmolLM2, ...), Llama 3, Phi, GPT-OSS, Command-R: all `<|...|>` (pattern)
    # DeepSeek: `<｜...｜>` (pattern, full-width bars)
    # Gemma
    "<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<pad>",
    "<start_of_image>", "<end_of_image>",
    # Llama 2, Mistral
    "<s>", "</s>", "<unk>", "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>",
    "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
    "[TOOL_CALLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CONTENT]",
)
# `<|im_start|>`, `<|eot_id|>`, `<|start_header_id|>`, `<|END_OF_TURN_TOKEN|>`, `<｜User｜>`
FAMILIES = (r"<\|[\w.:/-]{1,64}\|>", r"<｜[^｜<>\n]{1,64}｜>")


@dataclass(frozen=True)
class Special:
    """A control token of the model: its text, id, and whether the tokenizer strips the
    whitespace before (lstrip) or after (rstrip) it, as llama.cpp does for some models."""

    text: str
    id: int
    lstrip: bool = False
    rstrip: bool = False


def neutralize(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every well-known control string, and each of `extra` (the model's own
    control tokens), broken by a zero-width joiner after its first character.

    Deterministic and idempotent: the same text always comes out the same, and a
    neutralized string is not matched again.
    """
    pattern = _pattern(tuple(sorted(set(extra))))
    return pattern.sub(_break, text)


def _break(match: re.Match[str]) -> str:
    found = match.group()
    return found[0] + JOINER + found[1:]


@lru_cache(maxsize=16)
def _pattern(extra: tuple[str, ...]) -> re.Pattern[str]:
    literals = sorted({s for s in (*KNOWN, *extra) if len(s) > 1}, key=len, reverse=True)
    return re.compile("|".join([*FAMILIES, *map(re.escape, literals)]))
