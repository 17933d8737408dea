"""The exllamav2 stand-in (tests/llm/fakes/exllamav2) as fixtures: a model folder shaped like
Qwen2.5-14B-Instruct EXL2, and `fake_gpu`, which puts the stand-in first on sys.path and
pretends CUDA works with 24 GB free. `paged` switches the stand-in's flash-attn on, so the
backend runs the dynamic generator in paged mode (batches)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ragchat.llm import exl2
from ragchat.machine import has_module

FAKES = Path(__file__).parent / "fakes"
QWEN_CONFIG = {"num_hidden_layers": 48, "hidden_size": 5120, "num_attention_heads": 40,
               "num_key_value_heads": 8, "intermediate_size": 13824, "vocab_size": 152064,
               "max_position_embeddings": 32768,
               "quantization_config": {"quant_method": "exl2", "bits": 4.25}}
TOKENIZER_CONFIG = {"eos_token": "<|im_end|>", "chat_template": (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")}


def forget_exllamav2():
    for name in [m for m in sys.modules if m == "exllamav2" or m.startswith("exllamav2.")]:
        del sys.modules[name]


@pytest.fixture
def model_dir(tmp_path) -> Path:
    folder = tmp_path / "Qwen2.5-14B-Instruct-exl2--4_25"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(QWEN_CONFIG))
    (folder / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG))
    with open(folder / "output.safetensors", "wb") as f:
        f.truncate(int(9.2e9))  # sparse: the size of the real 4.25 bpw files
    return folder


@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend CUDA works with 24 GB free and put the stand-in exllamav2 first on sys.path."""
    if has_module("exllamav2") and exl2.cuda_available():
        pytest.skip("the real exllamav2 is usable here: test_contract covers it")
    monkeypatch.setattr(exl2, "cuda_available", lambda: True)
    monkeypatch.setattr(exl2, "free_vram", lambda: 24 * 1024**3)
    monkeypatch.syspath_prepend(str(FAKES))
    forget_exllamav2()
    yield
    forget_exllamav2()


@pytest.fixture
def paged(fake_gpu, monkeypatch):
    """flash-attn "installed": the backend loads the generator in paged mode."""
    from exllamav2 import attn

    monkeypatch.setattr(attn, "has_flash_attn_with_paged", True)
