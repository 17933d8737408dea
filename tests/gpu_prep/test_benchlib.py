"""Bandwidth table, decode bound, weight bytes from safetensors headers, prompts, results file."""

from __future__ import annotations

import json
from datetime import date

import pytest
from benchlib import (
    Results,
    bound_report,
    decode_bound,
    device_slug,
    efficiency,
    english_words,
    filler,
    lookup_bandwidth,
    median,
    results_path,
    safetensors_header,
    tensor_bytes,
    weight_bytes_per_token,
)


@pytest.mark.parametrize("name, gbps", [
    ("NVIDIA H100 80GB HBM3", 3350),
    ("NVIDIA H100 PCIe", 2000),
    ("NVIDIA H100 NVL", 3900),
    ("NVIDIA H200", 4800),
    ("NVIDIA GeForce RTX 4090", 1008),
    ("NVIDIA GeForce RTX 3090", 936),
    ("NVIDIA GeForce RTX 3090 Ti", 1008),
    ("NVIDIA A100-SXM4-80GB", 2039),
    ("NVIDIA A100 80GB PCIe", 1935),
    ("NVIDIA A100-PCIE-40GB", 1555),
    ("NVIDIA L40S", 864),
    ("NVIDIA L4", 300),
])
def test_bandwidth_by_device_name(name, gbps):
    found = lookup_bandwidth(name)
    assert found is not None and found.gbps == gbps


def test_unknown_device_has_no_bandwidth():
    assert lookup_bandwidth("NVIDIA GeForce GTX 1080") is None
    assert lookup_bandwidth("") is None


def test_device_slug_and_results_path(tmp_path):
    assert device_slug("NVIDIA H100 80GB HBM3") == "h100-sxm"
    assert device_slug("NVIDIA H200") == "h200"
    assert device_slug("NVIDIA GeForce GTX 1080") == "gtx-1080"
    path = results_path(tmp_path, "NVIDIA H100 PCIe", date(2026, 11, 20))
    assert path == tmp_path / "gpu-h100-pcie-2026-11-20.json"


def test_decode_bound_is_bandwidth_over_bytes_per_step():
    assert decode_bound(3350, 8_000_000_000, 0, 0) == pytest.approx(418.75)
    # 1 MB of KV cache per context token at 1000 tokens adds 1 GB to every step
    assert decode_bound(1000, 1_000_000_000, 1_000_000, 1000) == pytest.approx(500)
    assert decode_bound(1000, 0, 0, 0) == 0.0


def test_bound_report_and_efficiency():
    report = bound_report(lookup_bandwidth("NVIDIA H200"), 4_800_000_000, 0,
                          {"short": 100, "long": 16000})
    assert report["decode_bound_tps"] == {"short": 1000.0, "long": 1000.0}
    assert report["bandwidth_source"] == "data sheet: H200"
    assert "decode_bound_tps" not in bound_report(None, 1, 1, {"short": 1})
    assert efficiency(500.0, 1000.0) == 0.5
    assert efficiency(None, 1000.0) is None


def test_weight_bytes_skip_the_embedding_table(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    save_file({"model.embed_tokens.weight": torch.zeros(100, 8, dtype=torch.float16),
               "model.layers.0.mlp.up_proj.q_weight": torch.zeros(16, 4, dtype=torch.int32),
               "lm_head.weight": torch.zeros(100, 8, dtype=torch.float16)},
              str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    save_file({"model.norm.weight": torch.zeros(8, dtype=torch.float32)},
              str(tmp_path / "model-2.safetensors"))
    assert "__metadata__" not in safetensors_header(tmp_path / "model.safetensors")
    sizes = tensor_bytes(tmp_path)
    assert sizes["model.embed_tokens.weight"] == 1600
    assert sizes["model.layers.0.mlp.up_proj.q_weight"] == 256
    assert weight_bytes_per_token(tmp_path) == 256 + 1600 + 32


def test_prompt_words_and_filler():
    words = english_words()
    assert len(words) > 10000
    text = filler(words, 50, offset=len(words) - 10)  # wraps around the end
    assert len(text.split()) == 50
    with pytest.raises(ValueError):
        filler([], 3)


def test_median_ignores_missing_values():
    assert median([3.0, None, 1.0, 2.0]) == 2.0
    assert median([None]) is None


def test_results_file_is_updated_section_by_section(tmp_path):
    path = tmp_path / "sub" / "gpu.json"
    first = Results(path, {"device": "X"})
    first.put("small", "load", {"seconds": 1.5})
    assert json.loads(path.read_text())["models"]["small"]["load"]["seconds"] == 1.5
    second = Results(path, {"device": "X", "torch": "2.11"})  # a later run merges
    second.put("big", "decode", {"short": {"decode_tps": 50.0}})
    data = json.loads(path.read_text())
    assert set(data["models"]) == {"small", "big"} and data["torch"] == "2.11"
    assert not list(path.parent.glob("*.tmp"))


def test_results_file_survives_a_corrupt_start(tmp_path):
    path = tmp_path / "gpu.json"
    path.write_text("{not json")
    Results(path, {"device": "X"}).put("m", "s", 1)
    assert json.loads(path.read_text())["models"] == {"m": {"s": 1}}
