"""LLM backends behind one interface, the table of engines, and the choice between them.

`ENGINES` is the one table of engines: each entry names the module that implements it,
which defines `blocker(settings)` (why the engine cannot run here, found without loading
anything) and `load(settings)` (the engine loaded, its model's capabilities set on it).
A new engine is a name in `ragchat.engines.Engine`, one entry here and one module.

`resolve_backend` decides (without loading anything) which engine runs and says why;
`load_backend` loads it, switching to the API when a local model fails to load and
`api_fallback` is on; `open_chat_model` wraps the result as a LangChain chat model.
Heavy engines (llama_cpp, exllamav2, torch, huggingface_hub) are imported only on load.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from ragchat.config import Settings
from ragchat.engines import AUTO, BACKEND_CHOICES, Engine, spoken
from ragchat.errors import BackendError, ConfigError, ModelError

if TYPE_CHECKING:
    from ragchat.llm.adapter import BackendChatModel
    from ragchat.llm.base import Backend

log = logging.getLogger("ragchat.llm")


class EngineModule(Protocol):
    """What an engine's module defines."""

    def blocker(self, settings: Settings) -> str | None: ...

    def load(self, settings: Settings) -> Backend: ...


@dataclass(frozen=True)
class EngineEntry:
    """One engine and the module that implements it (imported when first used)."""

    engine: Engine
    module: str

    def implementation(self) -> EngineModule:
        return cast(EngineModule, importlib.import_module(self.module))

    def blocker(self, settings: Settings) -> str | None:
        return self.implementation().blocker(settings)

    def load(self, settings: Settings) -> Backend:
        return self.implementation().load(settings)


ENGINES: dict[Engine, EngineEntry] = {entry.engine: entry for entry in (
    EngineEntry(Engine.EXLLAMAV2, "ragchat.llm.exl2"),
    EngineEntry(Engine.LLAMACPP, "ragchat.llm.llamacpp"),
    EngineEntry(Engine.API, "ragchat.llm.api"),
)}
# The auto rule: the GPU engine when it can run, else the API when it is the configured
# fallback, else the embedded CPU model. A local engine that fails to load falls back to
# the API too when api_fallback is on.
GPU_ENGINE = Engine.EXLLAMAV2
FALLBACK_ENGINE = Engine.API
EMBEDDED_ENGINE = Engine.LLAMACPP


@dataclass(frozen=True)
class BackendChoice:
    """Which backend runs, why, and where the decision came from (flag/env/config/auto)."""

    name: Engine
    reason: str
    source: str
    fallback_from: Engine | None = None


def _origin(settings: Settings) -> str:
    source = settings.source("backend")
    if source.startswith("env"):
        return "env"
    if source.startswith("config"):
        return "config"
    return "flag" if source == "flag" else "auto"


def resolve_backend(settings: Settings) -> BackendChoice:
    """Pick a backend from the settings and what this machine has; nothing is loaded."""
    wanted = str(settings.backend).strip().lower()
    origin = _origin(settings)
    if wanted in ENGINES:
        return BackendChoice(Engine(wanted), f"backend = {wanted} ({settings.source('backend')})",
                             origin)
    if wanted != AUTO:
        raise ConfigError(f"unknown backend {settings.backend!r}",
                          hint=f"use {spoken(BACKEND_CHOICES)}")
    return _auto(settings)


def _auto(settings: Settings) -> BackendChoice:
    blocker = ENGINES[GPU_ENGINE].blocker(settings)
    if blocker is None:
        return BackendChoice(GPU_ENGINE, "CUDA GPU, exllamav2 and an EXL2 model are present",
                             "auto")
    if settings.api_fallback:
        return BackendChoice(FALLBACK_ENGINE,
                             f"no local GPU model ({blocker}); api_fallback is on", "auto")
    return BackendChoice(EMBEDDED_ENGINE,
                         f"no local GPU model ({blocker}): using the embedded CPU model", "auto")


def build_backend(name: str, settings: Settings) -> Backend:
    """Load one backend by name from the settings."""
    if name not in ENGINES:
        raise BackendError(f"unknown backend {name!r}", hint=f"use {spoken(list(ENGINES))}")
    backend = ENGINES[Engine(name)].load(settings)
    backend.seed = settings.seed if settings.seed >= 0 else None
    return backend


def load_backend(settings: Settings) -> tuple[Backend, BackendChoice]:
    """Resolve and load; if a local model fails and api_fallback is on, use the API and say why."""
    choice = resolve_backend(settings)
    try:
        return build_backend(choice.name, settings), choice
    except (BackendError, ModelError) as exc:
        if choice.name == FALLBACK_ENGINE or not settings.api_fallback:
            raise
        try:
            backend = build_backend(FALLBACK_ENGINE, settings)
        except BackendError as api_exc:
            raise BackendError(f"{exc.message}; the API fallback failed too: {api_exc.message}",
                               hint=api_exc.hint or exc.hint) from exc
        reason = f"{choice.name} failed to load ({exc.message}); api_fallback is on"
        log.warning("using the API: %s", reason)
        return backend, BackendChoice(FALLBACK_ENGINE, reason, choice.source,
                                      fallback_from=choice.name)


def open_chat_model(settings: Settings) -> tuple[BackendChatModel, BackendChoice]:
    """The loaded backend as a LangChain chat model with the configured defaults."""
    from ragchat.llm.adapter import BackendChatModel

    backend, choice = load_backend(settings)
    model = BackendChatModel(backend=backend, max_new_tokens=settings.max_new_tokens,
                             temperature=settings.temperature)
    return model, choice
