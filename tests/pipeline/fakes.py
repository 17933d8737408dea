"""Test doubles through the real seams: a langchain-core fake chat model and a searcher."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk

from ragchat.index.search import SearchHit

Reply = str | Callable[[list[BaseMessage]], str]


def task_of(messages: list[BaseMessage]) -> str:
    match = re.search(r"TASK: (\w+)[^\n]*$", str(messages[-1].content))
    return match.group(1) if match else ""


def words(messages: list[BaseMessage]) -> list[str]:
    """The fake's "tokens": role markers and whitespace-separated words, then the
    generation prompt (the assistant marker), as a chat template renders them."""
    out: list[str] = []
    for message in messages:
        out.append(f"<{message.type}>")
        out.extend(str(message.content).split())
    return [*out, "<ai>"]


class TaskFakeChatModel(GenericFakeChatModel):
    """GenericFakeChatModel that answers by TASK and reports usage like the backends.

    It keeps the previous prompt's "tokens" and reports their longest common prefix
    with the new prompt as cached, as llama.cpp does, so prompt layout can be tested.
    """

    messages: Iterator[Any] = iter(())
    replies: dict[str, Any] = {}
    calls: list[dict[str, Any]] = []
    block: Any = None  # a threading.Event: the answer waits on it after its first token
    started: Any = None  # a threading.Event set when an answer starts streaming
    _cache: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _reply(self, messages: list[BaseMessage]) -> str:
        reply = self.replies.get(task_of(messages), "")
        if isinstance(reply, list):
            reply = reply.pop(0) if len(reply) > 1 else reply[0]
        return reply(messages) if callable(reply) else reply

    def _hold(self, cancel: threading.Event | None) -> None:
        """Wait for `block` (or cancellation), like a backend between two tokens."""
        if self.block is None:
            return
        for _ in range(1000):
            if self.block.wait(0.01) or (cancel is not None and cancel.is_set()):
                return

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        tokens = words(messages)
        cached = 0
        while cached < min(len(tokens), len(self._cache)) and tokens[cached] == self._cache[cached]:
            cached += 1
        task = task_of(messages)
        self.calls.append({"task": task, "messages": messages, "kwargs": kwargs,
                           "prompt_tokens": len(tokens), "cached_tokens": cached})
        text = self._reply(messages)
        cut = min([text.find(s) for s in stop or () if s and s in text], default=-1)
        text = text[:cut] if cut >= 0 else text  # stop strings end it, as in the backends
        pieces = re.split(r"(\s)", text) if text else []
        cancel: threading.Event | None = kwargs.get("cancel")
        made = []
        limit = kwargs.get("max_new_tokens")
        for i, piece in enumerate(pieces):
            if cancel is not None and cancel.is_set():
                break
            if limit and piece.strip() and len("".join(made).split()) >= limit:
                break  # the token budget, one word a token
            made.append(piece)
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
            # after the first word and the space after it (a word alone may be held back
            # by the cleaner until the next piece shows what the line is)
            if i == 1 and task in ("ANSWER", "GENERAL", "CHAT"):
                if self.started is not None:
                    self.started.set()
                self._hold(cancel)
        self._cache = tokens + "".join(made).split()
        out = len("".join(made).split())
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="",
            usage_metadata={"input_tokens": len(tokens), "output_tokens": out,
                            "total_tokens": len(tokens) + out,
                            "input_token_details": {"cache_read": cached}},
            response_metadata={"backend": "fake", "prompt_tokens": len(tokens),
                               "cached_tokens": cached, "new_tokens": out, "ttft_s": 0.01,
                               "decode_tps": 100.0, "total_s": 0.02},
        ))

    page: int | None = None


@dataclass
class FakeSearcher:
    """Same interface as the index's searcher: search(query, k), close()."""

    hits: list[SearchHit]
    queries: list[str] = field(default_factory=list)
    closed: bool = False

    def search(self, query: str, k: int) -> list[SearchHit]:
        self.queries.append(query)
        return self.hits[:k]

    def close(self) -> None:
        self.closed = True


def make_hits(folder: str, n: int = 3) -> list[SearchHit]:
    return [
        SearchHit(chunk_id=i, path=f"{folder}/doc{i}.md", location=f"lines {i * 10 + 1}-{i * 10 + 9}",
                  heading=f"Part {i}", text=f"Passage {i} says the answer is {i * 7}.",
                  score=1.0 / (i + 1), start_line=i * 10 + 1, end_line=i * 10 + 9, page=None)
        for i in range(1, n + 1)
    ]
