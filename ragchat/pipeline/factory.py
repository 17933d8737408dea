"""Assemble a ChatPipeline from settings: retriever, chat model (and what its model can do),
sessions database."""

from __future__ import annotations

from typing import Any

from ragchat import paths
from ragchat.config import Settings
from ragchat.engines import Engine
from ragchat.models.capabilities import (
    DEFAULT,
    Capabilities,
    capabilities_of_model,
    setting_or_model,
)
from ragchat.pipeline.chat import ChatPipeline
from ragchat.pipeline.nodes import PipelineParams
from ragchat.pipeline.retriever import Opener, Retriever
from ragchat.pipeline.sessions import new_session_name, open_checkpointer


def _mode(settings: Settings, key: str, allowed: tuple[str, str], able: bool) -> str:
    """The setting `key` (one of `allowed`); 'auto': the first when the model is `able`."""
    value = str(getattr(settings, key)).strip().lower()
    if value == "auto":
        return allowed[0] if able else allowed[1]
    if value not in allowed:
        from ragchat.errors import ConfigError

        raise ConfigError(f"{key} must be auto, {' or '.join(allowed)}, got {value!r}",
                          hint=f"fix {key} in the config file or unset RAGCHAT_{key.upper()}")
    return value


def params_from_settings(settings: Settings, k: int | None = None,
                         capabilities: Capabilities = DEFAULT) -> PipelineParams:
    """Pipeline parameters: the settings, and where one is left at its default (auto), what
    the answering model can do (its capabilities: docs/explanation/backends.md)."""
    model = capabilities
    grade = _mode(settings, "relevance_check", ("llm", "scores"), model.grades)
    rewrite = _mode(settings, "follow_up_rewrite", ("llm", "previous"), model.rewrites)
    return PipelineParams(
        k=k or settings.search_k,
        max_new_tokens=setting_or_model(settings, "max_new_tokens", model.max_new_tokens),
        temperature=settings.temperature,
        memory_token_budget=settings.memory_token_budget,
        context_token_budget=settings.context_token_budget,
        llm_grade=grade == "llm",
        llm_rewrite=rewrite == "llm",
        general_answers=settings.general_answers,
        max_paragraphs=model.max_paragraphs,
        quote_thin_answers=model.quotes_thin_answers,
        writes_cjk=model.writes_cjk,
    )


def backend_label(settings: Settings, choice: Any) -> str:
    """The backend as `--json` names it: llamacpp, exllamav2 or api:<model or url>."""
    name = str(getattr(choice, "name", "") or settings.backend)
    if name == Engine.API:
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
    capabilities = capabilities_of_model(llm)
    return ChatPipeline(
        llm,
        retriever=retriever,
        checkpointer=checkpointer,
        session=session or new_session_name(),
        params=params_from_settings(settings, k, capabilities),
        backend=backend_label(settings, choice),
        choice=choice,
        capabilities=capabilities,
    )
