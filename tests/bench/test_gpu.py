"""Bench on the GPU backend: batched concurrent requests and the bandwidth bound.
Runs on a CUDA machine with exllamav2 and EXL2_TEST_MODEL set; skipped elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def exl2_backend():
    from ragchat.llm.exl2 import ExLlamaV2Backend, cuda_available

    if not cuda_available():
        pytest.skip("no CUDA GPU: the exllamav2 backend needs one")
    path = os.environ.get("EXL2_TEST_MODEL")
    if not path:
        pytest.skip("set EXL2_TEST_MODEL to an EXL2 model folder to run the GPU bench tests")
    backend = ExLlamaV2Backend(Path(path), max_seq_len=4096)
    yield backend
    backend.close()


def test_concurrent_requests_are_batched_in_paged_mode(exl2_backend):
    from ragchat.bench.concurrency import run_batch

    finished = run_batch(exl2_backend, 3, 8)
    assert len(finished) == 3
    assert all(0 < f.stats.new_tokens <= 8 and f.finished_s > 0 for f in finished)
    if not exl2_backend.paged:
        assert exl2_backend.concurrency == "sequential"
        pytest.skip("flash-attn is not installed: the generator runs unpaged (batch 1)")
    assert exl2_backend.concurrency == "batched"


def test_bound_uses_the_detected_gpu(exl2_backend):
    from ragchat.bench.bandwidth import decode_bound, detect_gpu, gpu_bandwidth

    bound, why = decode_bound(exl2_backend)
    if gpu_bandwidth(detect_gpu()) is None:
        assert bound is None and "bandwidth table" in why
    else:
        assert why == "" and bound.weight_bytes > 0 and bound.tokens_per_s > 0
