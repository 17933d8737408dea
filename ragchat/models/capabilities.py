"""What a model can do and how the pipeline drives it: its capability profile.

Every loaded backend carries one (`backend.capabilities`), chosen from the model it runs
(`registry.capabilities_of`): the bundled SmolLM2-135M gets `DEMO`, a preset's model the
preset's, any other GGUF or EXL2 model and every server `DEFAULT`. The pipeline reads it
where a setting is left at its default (`auto`): relevance_check, follow_up_rewrite,
max_new_tokens and llamacpp_repeat_penalty, once set, win over the model's values.

(Not called `profile`: langchain-core's chat models have a `profile` field of their own.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ragchat.config import Settings


@dataclass(frozen=True)
class Capabilities:
    """One model's abilities and limits, as measured (see docs/explanation/backends.md)."""

    name: str  # "demo", "qwen2.5-instruct", "default"
    label: str  # how a message names the model: "the bundled demo model"
    rewrites: bool = True  # rewrites a follow-up into a standalone question (else: previous)
    grades: bool = True  # grades the retrieved passages in one call (else: retrieval scores)
    writes_cjk: bool = True  # answers Korean, Chinese, Japanese (else: the best lines, quoted)
    quotes_thin_answers: bool = False  # an answer that adds next to nothing gets a quote
    max_paragraphs: int = 0  # the answer ends after this many paragraphs (0: no limit)
    max_new_tokens: int | None = None  # answer length unless max_new_tokens is set
    repeat_penalty: float | None = None  # llama.cpp's, unless llamacpp_repeat_penalty is set
    caveat: str = ""  # said once when this model answers (what to expect, what to use instead)


DEFAULT = Capabilities("default", "a model without a profile")
QWEN25_INSTRUCT = Capabilities("qwen2.5-instruct", "Qwen2.5-Instruct")
DEMO = Capabilities(
    "demo", "the bundled demo model",
    # measured (docs/explanation/pipeline-and-cache.md): its rewrites rarely parse and its
    # grades are guesses; neither call made its answers better, both made turns slower
    rewrites=False,
    grades=False,
    writes_cjk=False,  # it writes English only
    quotes_thin_answers=True,
    max_paragraphs=1,  # after its first paragraph it drifts
    max_new_tokens=192,  # its answers are short when they are any good
    repeat_penalty=1.15,  # it loops on "The answer is:" without one
    caveat="answers come from SmolLM2-135M, a demo-size model bundled so that ragchat runs "
           "anywhere; expect weak answers.",
)


def setting_or_model(settings: Settings, key: str, model_value: Any) -> Any:
    """The setting `key` when it was set (flag, environment, config file, override), else
    the model's value, else the setting's default."""
    if model_value is not None and settings.source(key) == "default":
        return model_value
    return getattr(settings, key)


def capabilities_of_model(model: Any) -> Capabilities:
    """What a chat model or backend carries; `DEFAULT` for one that carries none (a
    LangChain model of your own, a test's fake)."""
    capabilities = getattr(model, "capabilities", None)
    return capabilities if isinstance(capabilities, Capabilities) else DEFAULT


ROWS = (  # (what the docs call it, the field, the setting that overrides it)
    ("rewrites a follow-up into a standalone question", "rewrites", "follow_up_rewrite"),
    ("grades the retrieved passages in one call", "grades", "relevance_check"),
    ("answers Korean, Chinese, Japanese", "writes_cjk", ""),
    ("an answer that adds next to nothing gets a quote", "quotes_thin_answers", ""),
    ("paragraphs per answer", "max_paragraphs", ""),
    ("answer tokens", "max_new_tokens", "max_new_tokens"),
    ("llama.cpp repetition penalty", "repeat_penalty", "llamacpp_repeat_penalty"),
    ("a caveat on stderr and in the chat's banner", "caveat", ""),
)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "the setting"
    if isinstance(value, str):
        return "yes" if value else "no"
    return str(value) if value else "no limit"


def capabilities_markdown() -> str:
    """The docs' table (docs/explanation/backends.md): the bundled model against the rest."""
    lines = ["| capability | the bundled SmolLM2-135M | any other model | overridden by |",
             "| --- | --- | --- | --- |"]
    for text, name, key in ROWS:
        lines.append(f"| {text} | {_cell(getattr(DEMO, name))} | {_cell(getattr(DEFAULT, name))} "
                     f"| {f'`{key}`' if key else '-'} |")
    return "\n".join(lines) + "\n"
