"""Assemble a ChatPipeline from settings: retriever, chat model, sessions database."""

from __future__ import annotations

from typing import Any

from ragchat import paths
from ragchat.config import Settings
from ragchat.pipeline.chat import ChatPipeline
from ragchat.pipeline.nodes import PipelineParams
from ragchat.pipeline.retriever import Opener, Retriever
from ragchat.pipeline.sessions import new_session_name, open_checkpointer

DEMO_MAX_NEW_TOKENS = 192  # the demo model's answers are short when they are any good
DEMO_PARAGRAPHS = 1  # after its first paragraph the demo model drifts (measured: see docs)


def _mode(settings: Settings, key: str, allowed: tuple[str, ...], demo: bool) -> str:
    value = str(getattr(settings, key)).strip().lower()
    if value == "auto":
        return allowed[1] if demo else allowed[0]
    if value not in allowed:
        from ragchat.errors import ConfigError

        raise ConfigError(f"{key} must be auto, {' or '.join(allowed)}, got {value!r}",
                          hint=f"fix {key} in the config file or unset RAGCHAT_{key.upper()}")
    return value


def params_from_settings(settings: Settings, k: int | None = None,
                         demo: bool = False) -> PipelineParams:
    """Pipeline parameters; `demo`: the bundled demo-size model answers, which cannot
    rewrite or grade (measured: docs/explanation/pipeline-and-cache.md)."""
    max_new = settings.max_new_tokens
    if demo and settings.source("max_new_tokens") == "default":
        max_new = DEMO_MAX_NEW_TOKENS
    return PipelineParams(
        k=k or settings.search_k,
        max_new_tokens=max_new,
        temperature=settings.temperature,
        memory_token_budget=settings.memory_token_budget,
        context_token_budget=settings.context_token_budget,
        llm_grade=_mode(settings, "relevance_check", ("llm", "scores"), demo) == "llm",
        llm_rewrite=_mode(settings, "follow_up_rewrite", ("llm", "previous"), demo) == "llm",
        general_answers=settings.general_answers,
        max_paragraphs=DEMO_PARAGRAPHS if demo else 0,
        quote_thin_answers=demo,
        writes_cjk=not demo,
    )


def backend_label(settings: Settings, choice: Any) -> str:
    """The backend as `--json` names it: llamacpp, exllamav2 or api:<model or url>."""
    name = str(getattr(choice, "name", "") or settings.backend)
    if name == "api":
        from ragchat.redact import redact

        return f"api:{redact(settings.api_base) or settings.api_model}"
    return name


def load_chat_model(settings: Settings) -> tuple[Any, Any]:
    """The configured backend as a langchain-core chat model, and why it was chosen."""
    from ragchat.llm import open_chat_model

    return open_chat_model(settings)


def open_pipeline(
    settings: Settings,
    *,
    collection: str | None = None,
    session: str | None = None,
    persistent: bool = True,
    k: int | None = None,
    require_index: bool = True,
    chat_model: tuple[Any, Any] | None = None,
    opener: Opener | None = None,
) -> ChatPipeline:
    """Open the index first (fast failure with a hint), then the LLM, then the session.

    persistent=False keeps the conversation in memory only (`ask` without --session).
    """
    retriever = Retriever(settings, collection, opener)
    if require_index:
        retriever.open()
    try:
        llm, choice = chat_model or load_chat_model(settings)
        checkpointer = open_checkpointer(paths.sessions_db() if persistent else None)
    except BaseException:
        retriever.close()
        raise
    from ragchat.models.registry import is_demo_model

    demo = is_demo_model(settings, str(getattr(choice, "name", "")))
    return ChatPipeline(
        llm,
        retriever=retriever,
        checkpointer=checkpointer,
        session=session or new_session_name(),
        params=params_from_settings(settings, k, demo),
        backend=backend_label(settings, choice),
        choice=choice,
        demo=demo,
    )
