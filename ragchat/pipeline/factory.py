"""Assemble a ChatPipeline from settings: retriever, chat model, sessions database."""

from __future__ import annotations

from typing import Any

from ragchat import paths
from ragchat.pipeline.chat import ChatPipeline
from ragchat.pipeline.nodes import PipelineParams
from ragchat.pipeline.retriever import Opener, Retriever
from ragchat.pipeline.sessions import new_session_name, open_checkpointer


def params_from_settings(settings: Any, k: int | None = None) -> PipelineParams:
    return PipelineParams(
        k=k or settings.search_k,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        memory_token_budget=settings.memory_token_budget,
        context_token_budget=settings.context_token_budget,
    )


def backend_label(settings: Any, choice: Any) -> str:
    """The backend as `--json` names it: llamacpp, exllamav2 or api:<model or url>."""
    name = str(getattr(choice, "name", "") or settings.backend)
    if name == "api":
        return f"api:{settings.api_base or settings.api_model}"
    return name


def load_chat_model(settings: Any) -> tuple[Any, Any]:
    """The configured backend as a langchain-core chat model, and why it was chosen."""
    from ragchat.llm import open_chat_model

    return open_chat_model(settings)


def open_pipeline(
    settings: Any,
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
    return ChatPipeline(
        llm,
        retriever=retriever,
        checkpointer=checkpointer,
        session=session or new_session_name(),
        params=params_from_settings(settings, k),
        backend=backend_label(settings, choice),
        choice=choice,
    )
