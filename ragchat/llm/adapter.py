"""Any Backend as a langchain-core chat model, so the pipeline sees one kind of LLM.

Streaming goes through `_stream`; the last chunk carries the call's statistics the LangChain
way: `usage_metadata` (cache hits in `input_token_details.cache_read`) and, in
`response_metadata`, the backend and its timings. Pass `cancel=threading.Event()` to
`.stream()` / `.invoke()` to stop a generation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from ragchat.llm.base import Backend, GenerationStats
from ragchat.models.capabilities import Capabilities, capabilities_of_model

ROLE_BY_TYPE = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def to_chat_messages(messages: list[BaseMessage]) -> list[dict]:
    """LangChain messages -> [{"role", "content"}] for a backend."""
    out = []
    for message in messages:
        role = getattr(message, "role", None) if message.type == "chat" else None
        role = role or ROLE_BY_TYPE.get(message.type, "user")
        out.append({"role": role, "content": message.text if hasattr(message, "text")
                    else str(message.content)})
    return out


def usage_of(stats: GenerationStats) -> UsageMetadata:
    return {
        "input_tokens": stats.prompt_tokens,
        "output_tokens": stats.new_tokens,
        "total_tokens": stats.prompt_tokens + stats.new_tokens,
        "input_token_details": {"cache_read": stats.cached_tokens},
    }


def metadata_of(backend: Backend, stats: GenerationStats) -> dict[str, Any]:
    return {
        "backend": backend.describe(),
        "prompt_tokens": stats.prompt_tokens,
        "cached_tokens": stats.cached_tokens,
        "new_tokens": stats.new_tokens,
        "ttft_s": stats.ttft_s,
        "decode_tps": stats.decode_tps,
        "total_s": stats.total_s,
        "estimated": stats.estimated,
        "cache_known": stats.cache_known,
    }


class BackendChatModel(BaseChatModel):
    """A chat model that streams from a ragchat Backend."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    backend: Any
    max_new_tokens: int = 512
    temperature: float = 0.0

    @property
    def capabilities(self) -> Capabilities:
        """What the backend's model can do (what the pipeline reads)."""
        return capabilities_of_model(self.backend)

    @property
    def _llm_type(self) -> str:
        return f"ragchat-{self.backend.name}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"backend": self.backend.describe(), "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature}

    def get_num_tokens(self, text: str) -> int:
        """Tokens in the backend's own tokenizer (LangChain's default would fetch GPT-2's)."""
        return self.backend.count_tokens(text)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        stream = self.backend.stream(
            to_chat_messages(messages),
            max_new_tokens=int(kwargs.get("max_new_tokens", kwargs.get("max_tokens",
                                                                      self.max_new_tokens))),
            temperature=float(kwargs.get("temperature", self.temperature)),
            stop=tuple(stop or ()),
            cancel=kwargs.get("cancel"),
        )
        try:
            for piece in stream:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
        finally:
            stream.close()
        yield self._last_chunk(stream.stats)

    def _last_chunk(self, stats: GenerationStats | None) -> ChatGenerationChunk:
        if stats is None:
            return ChatGenerationChunk(message=AIMessageChunk(content="", chunk_position="last"))
        message = AIMessageChunk(
            content="", chunk_position="last", usage_metadata=usage_of(stats),
            response_metadata=metadata_of(self.backend, stats),
        )
        return ChatGenerationChunk(message=message)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        text, meta, usage = "", dict[str, Any](), None
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            piece = chunk.message
            assert isinstance(piece, AIMessageChunk)
            text += piece.text
            meta = piece.response_metadata or meta
            usage = piece.usage_metadata or usage
        message = AIMessage(content=text, usage_metadata=usage, response_metadata=meta)
        return ChatResult(generations=[ChatGeneration(message=message)])
