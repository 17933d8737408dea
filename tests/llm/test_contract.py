"""The contract every backend passes: llamacpp with the real tiny model, api against a real
OpenAI-compatible server on loopback (llama-cpp-python's server with the same model), and
exllamav2 on a CUDA GPU (marked `gpu`, skipped elsewhere)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ragchat.llm.base import Backend, GenerationStats

SYSTEM = {"role": "system", "content": "You are a helpful assistant. Answer in English."}
QUESTION = {"role": "user", "content": "Write two sentences about the sea and ships."}


@dataclass
class Subject:
    backend: Backend
    reports_cache: bool  # does the engine say how many prompt tokens came from its cache?
    exact_counts: bool  # are token counts the engine's own (not estimated)?


def _gpu_subject() -> Subject:
    from ragchat.llm.exl2 import ExLlamaV2Backend, cuda_available

    if not cuda_available():
        pytest.skip("no CUDA GPU: the exllamav2 backend needs one")
    path = os.environ.get("EXL2_TEST_MODEL")
    if not path:
        pytest.skip("set EXL2_TEST_MODEL to an EXL2 model folder to run the GPU contract")
    return Subject(ExLlamaV2Backend(Path(path), max_seq_len=4096), True, True)


@pytest.fixture(scope="module")
def gpu_subject():
    subject = _gpu_subject()
    yield subject
    subject.backend.close()


@pytest.fixture(params=["llamacpp", "api", pytest.param("exllamav2", marks=pytest.mark.gpu)])
def subject(request) -> Subject:
    if request.param == "llamacpp":
        return Subject(request.getfixturevalue("llama_backend"), True, True)
    if request.param == "api":
        from ragchat.llm.api import ApiBackend

        request.getfixturevalue("hub_online")
        url = request.getfixturevalue("llama_server")
        # llama-cpp-python's server sends no usage in streams: counts are estimated.
        return Subject(ApiBackend(model="tiny", base_url=url, token=None, timeout=120), False,
                       False)
    return request.getfixturevalue("gpu_subject")


def run(backend: Backend, messages: list[dict], **kwargs: Any) -> tuple[list[str], GenerationStats]:
    stream = backend.stream(messages, **kwargs)
    assert stream.stats is None  # nothing has run yet
    pieces = list(stream)
    assert isinstance(stream.stats, GenerationStats)
    return pieces, stream.stats


def test_chunks_join_to_the_answer(subject):
    pieces, stats = run(subject.backend, [SYSTEM, QUESTION], max_new_tokens=16)
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces).strip()
    assert subject.backend.generate([SYSTEM, QUESTION], max_new_tokens=16) == "".join(pieces)
    assert 1 <= stats.new_tokens <= 16


def test_max_new_tokens_is_honoured(subject):
    pieces, stats = run(subject.backend, [SYSTEM, QUESTION], max_new_tokens=4)
    assert 1 <= stats.new_tokens <= 4
    assert len(pieces) <= 4


def test_stop_strings_end_the_answer(subject):
    full = "".join(subject.backend.stream([SYSTEM, QUESTION], max_new_tokens=24))
    words = [w for w in full.split() if len(w) >= 3]
    assert len(words) >= 3, full
    stop = words[2]  # a word from the middle: the answer must end right before it
    text, stats = run(subject.backend, [SYSTEM, QUESTION], max_new_tokens=24, stop=[stop])
    answer = "".join(text)
    assert stop not in answer
    assert answer == full[: full.index(stop)]
    assert stats.new_tokens < 24


def test_statistics_are_present(subject):
    _, stats = run(subject.backend, [SYSTEM, QUESTION], max_new_tokens=8)
    assert stats.prompt_tokens > 10
    assert 0 <= stats.cached_tokens <= stats.prompt_tokens
    assert stats.new_tokens >= 1
    assert 0 < stats.ttft_s <= stats.total_s
    # one token has no decode interval; more must show a rate
    assert stats.decode_tps > 0 if stats.new_tokens > 1 else stats.decode_tps == 0
    assert stats.estimated is not subject.exact_counts


def test_cancel_before_start_returns_at_once(subject):
    cancel = threading.Event()
    cancel.set()
    pieces, stats = run(subject.backend, [SYSTEM, QUESTION], max_new_tokens=64, cancel=cancel)
    assert len(pieces) <= 1
    assert stats.new_tokens <= 1


def test_cancel_from_another_thread_stops_the_stream(subject):
    cancel = threading.Event()
    pieces: list[str] = []
    stream = subject.backend.stream([SYSTEM, QUESTION], max_new_tokens=200, cancel=cancel)
    for piece in stream:
        pieces.append(piece)
        if len(pieces) == 2:
            threading.Thread(target=cancel.set).start()
    stats = stream.stats
    assert cancel.is_set()
    assert stats is not None and stats.new_tokens < 20
    assert len(pieces) < 20


def test_several_requests_at_once(subject):
    """complete_many: every request answered, each with its own statistics."""
    asks = [[SYSTEM, {"role": "user", "content": f"Name {n} colours."}] for n in (2, 3)]
    done = subject.backend.complete_many(asks, max_new_tokens=6)
    assert len(done) == 2
    for completion in done:
        assert completion.text.strip() and 1 <= completion.stats.new_tokens <= 6
        assert completion.finished_s > 0
    assert subject.backend.concurrency in ("sequential", "parallel", "batched")


def test_shared_prefix_is_served_from_cache(subject):
    if not subject.reports_cache:
        pytest.skip("this server does not report cached prompt tokens")
    first = [SYSTEM, {"role": "user", "content": "Name a colour."}]
    reply = subject.backend.generate(first, max_new_tokens=8)
    _, one = run(subject.backend, first, max_new_tokens=8)
    follow_up = first + [{"role": "assistant", "content": reply},
                         {"role": "user", "content": "And another one?"}]
    _, two = run(subject.backend, follow_up, max_new_tokens=8)
    assert two.prompt_tokens > one.prompt_tokens
    assert two.cached_tokens >= one.prompt_tokens - 8
    assert two.prefilled_tokens < two.prompt_tokens
