"""The names of the LLM engines, in one place.

The settings (`backend`), the CLI's `--backend`, the model presets and the engine table in
ragchat/llm/ all name an engine through `Engine`. This module only names them; how each one
is probed and loaded is the table in ragchat/llm/__init__.py.
"""

from __future__ import annotations

from enum import StrEnum


class Engine(StrEnum):
    """An LLM engine; its value is the name users type (`--backend llamacpp`)."""

    EXLLAMAV2 = "exllamav2"
    LLAMACPP = "llamacpp"
    API = "api"

    @property
    def label(self) -> str:
        """The engine as people write it (tables, `model list`)."""
        return LABELS[self]


LABELS = {Engine.EXLLAMAV2: "ExLlamaV2", Engine.LLAMACPP: "llama.cpp", Engine.API: "API server"}
AUTO = "auto"  # not an engine: "choose one for this machine"
BACKEND_CHOICES: tuple[str, ...] = (AUTO, *(engine.value for engine in Engine))


def spoken(names: tuple[str, ...] | list[str]) -> str:
    """'a, b or c', as hints list the choices."""
    names = list(names)
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)
