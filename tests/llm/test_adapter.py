"""The LangChain adapter over the real tiny model: streaming, usage on the last chunk, cancel."""

from __future__ import annotations

import threading

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from ragchat.llm.adapter import BackendChatModel, to_chat_messages

MESSAGES = [SystemMessage("You are terse."), HumanMessage("Name a fruit.")]
META_KEYS = {"backend", "prompt_tokens", "cached_tokens", "new_tokens", "ttft_s", "decode_tps",
             "total_s"}


@pytest.fixture
def chat(llama_backend) -> BackendChatModel:
    return BackendChatModel(backend=llama_backend, max_new_tokens=8, temperature=0.0)


def test_messages_map_to_roles():
    msgs = to_chat_messages([SystemMessage("s"), HumanMessage("h"), AIMessage("a")])
    assert msgs == [{"role": "system", "content": "s"}, {"role": "user", "content": "h"},
                    {"role": "assistant", "content": "a"}]


def test_stream_puts_usage_and_timings_on_the_last_chunk(chat, llama_backend):
    chunks = list(chat.stream(MESSAGES))
    assert len(chunks) >= 2
    last = chunks[-1]
    assert last.chunk_position == "last"
    assert all(c.usage_metadata is None for c in chunks[:-1])
    usage = last.usage_metadata
    meta = last.response_metadata
    assert usage["input_tokens"] == meta["prompt_tokens"] > 0
    assert usage["output_tokens"] == meta["new_tokens"] > 0
    assert usage["total_tokens"] == meta["prompt_tokens"] + meta["new_tokens"]
    assert usage["input_token_details"]["cache_read"] == meta["cached_tokens"]
    assert META_KEYS <= set(last.response_metadata)
    assert last.response_metadata["backend"] == "llamacpp"
    text = "".join(c.content for c in chunks)
    assert text.strip()
    merged = sum(chunks[1:], chunks[0])
    assert merged.content == text and merged.usage_metadata["input_tokens"] == meta["prompt_tokens"]


def test_second_call_reports_cache_reads(chat):
    chat.invoke(MESSAGES)
    second = chat.invoke(MESSAGES)
    assert second.usage_metadata["input_token_details"]["cache_read"] > 0


def test_invoke_joins_the_stream(chat):
    message = chat.invoke(MESSAGES)
    assert isinstance(message, AIMessage) and message.content.strip()
    assert message.usage_metadata["output_tokens"] <= 8
    assert META_KEYS <= set(message.response_metadata)


def test_cancel_reaches_the_backend(chat, llama_backend):
    cancel = threading.Event()
    cancel.set()
    message = chat.invoke(MESSAGES, cancel=cancel)
    assert message.content == ""
    assert message.usage_metadata["output_tokens"] == 0
    cancel_stream = threading.Event()
    got = []
    for chunk in chat.stream(MESSAGES, cancel=cancel_stream, max_new_tokens=100):
        got.append(chunk)
        cancel_stream.set()
    assert got[-1].usage_metadata["output_tokens"] <= 2


def test_call_options_override_defaults(chat, llama_backend):
    assert chat.invoke(MESSAGES, max_new_tokens=2).usage_metadata["output_tokens"] <= 2
    chat.invoke(MESSAGES, stop=["\n"])
    assert "\n" not in chat.invoke(MESSAGES, stop=["\n"]).content


def test_token_counts_use_the_backends_tokenizer(chat, llama_backend):
    assert chat.get_num_tokens("hello world") == llama_backend.count_tokens("hello world")
    assert chat.get_num_tokens_from_messages(MESSAGES) > 0
