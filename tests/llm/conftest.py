"""LLM test fixtures: the real tiny GGUF model (loaded once), a real llama.cpp OpenAI-compatible
server on loopback (started once), and hub access switched back on for loopback servers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.llama_server import llama_server as start_llama_server
from tests.llm.exl2_standin import fake_gpu, model_dir, paged  # noqa: F401 - fixtures

TEST_CTX = 2048



@pytest.fixture(scope="session")
def llama_backend(gguf_path):
    pytest.importorskip("llama_cpp")
    from ragchat.llm.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(gguf_path, n_ctx=TEST_CTX)
    yield backend
    backend.close()


@pytest.fixture
def hub_online(monkeypatch):
    """huggingface_hub blocks every request under HF_HUB_OFFLINE; our servers are loopback."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(Path(os.environ["RAGCHAT_HOME"]) / "hf"))


@pytest.fixture(scope="session")
def llama_server(gguf_path, tmp_path_factory) -> str:
    """`python -m llama_cpp.server` serving the tiny model; yields its base URL."""
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
    with start_llama_server(gguf_path, tmp_path_factory.mktemp("server"), n_ctx=TEST_CTX) as url:
        yield url
