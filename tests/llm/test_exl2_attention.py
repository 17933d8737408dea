"""exllamav2 0.3.2's SDPA attention (its real code, on the CPU) against a causal reference in
plain torch: without ragchat's fix a prompt chunk sees the tokens after it; with it, it does
not. exllamav2 is a dev dependency; its CUDA extension is replaced by an empty module (the
attention function under test is pure torch)."""

from __future__ import annotations

import inspect
import math
import sys
import types

import pytest
import torch

from ragchat.llm import exl2_attention
from ragchat.llm.exl2_attention import apply_causal_fix, attention_path, has_faulty_mask

HEADS, KV_HEADS, DIM = 4, 2, 16


def _forget_exllamav2() -> None:
    for name in [m for m in sys.modules if m == "exllamav2" or m.startswith("exllamav2.")]:
        del sys.modules[name]


@pytest.fixture
def attn(monkeypatch):
    """The real exllamav2.attn, imported fresh (so a patch never outlives the test)."""
    from ragchat.machine import has_module

    if not has_module("exllamav2"):
        pytest.fail("exllamav2 is a dev dependency: pip install -e '.[dev]'")
    monkeypatch.setitem(sys.modules, "exllamav2_ext", types.ModuleType("exllamav2_ext"))
    _forget_exllamav2()
    import exllamav2.attn as module

    yield module
    _forget_exllamav2()


class Layer:
    """The attributes of ExLlamaV2Attention that _attn_torch reads."""

    def __init__(self, attn_module):
        self.layer_idx = 0
        self.sliding_window = 0
        self.num_key_value_groups = HEADS // KV_HEADS
        self.scaling = 1 / math.sqrt(DIM)
        self._cls = attn_module.ExLlamaV2Attention

    def repeat_kv(self, states, n_rep):
        return self._cls.repeat_kv(self, states, n_rep)


def run(attn_module, q_len: int, past: int, *, no_sdpa: bool = False,
        dtype: torch.dtype = torch.float32):
    """_attn_torch of the class as it is now, and the causal reference, on the same input."""
    gen = torch.Generator().manual_seed(q_len * 100 + past)
    q = torch.randn(1, q_len, HEADS, DIM, generator=gen).to(dtype)
    k = torch.randn(1, past + q_len, KV_HEADS, DIM, generator=gen).to(dtype)
    v = torch.randn(1, past + q_len, KV_HEADS, DIM, generator=gen).to(dtype)
    from exllamav2.attn_params import Params

    params = Params(batch_size=1, seq_len=q_len, past_len=past)
    cfg = types.SimpleNamespace(no_sdpa=no_sdpa, attn_logit_softcapping=None)
    layer = Layer(attn_module)
    got = attn_module.ExLlamaV2Attention._attn_torch(layer, 1, q_len, q, k, v, params, cfg)
    return got.float(), causal_reference(q, k, v)


def causal_reference(q, k, v):
    """Attention where query i (the last q_len positions) sees keys 0 .. past + i."""
    q_len, k_len = q.shape[1], k.shape[1]
    q, k, v = (t.transpose(1, 2).float() for t in (q, k, v))
    k = k.repeat_interleave(HEADS // KV_HEADS, dim=1)
    v = v.repeat_interleave(HEADS // KV_HEADS, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(DIM)
    allowed = torch.arange(k_len)[None, :] <= torch.arange(q_len)[:, None] + (k_len - q_len)
    scores = scores.masked_fill(~allowed, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v
    return out.transpose(1, 2).reshape(1, q_len, HEADS * DIM)


def test_the_installed_exllamav2_has_the_unmasked_sdpa_branch(attn):
    assert has_faulty_mask(inspect.getsource(attn.ExLlamaV2Attention._attn_torch))
    got, want = run(attn, q_len=8, past=0)
    assert not torch.allclose(got, want, atol=1e-3)  # every prompt token sees the later ones
    # the last token sees everything anyway: its row agrees, which hides the bug in decoding
    assert torch.allclose(got[:, -1], want[:, -1], atol=1e-5)


@pytest.mark.parametrize(("q_len", "past"), [(8, 0), (5, 11), (1, 7), (2, 0)])
def test_the_fixed_sdpa_branch_is_causal(attn, q_len, past):
    assert apply_causal_fix(attn) is True
    got, want = run(attn, q_len, past)
    assert torch.allclose(got, want, atol=1e-5)


def test_the_fix_is_applied_once_and_keeps_the_original(attn):
    original = attn.ExLlamaV2Attention._attn_torch
    assert apply_causal_fix(attn) and apply_causal_fix(attn)
    patched = attn.ExLlamaV2Attention._attn_torch
    assert patched.ragchat_causal_fix and patched.__wrapped__ is original


def test_an_exllamav2_without_the_faulty_line_is_left_alone():
    class ExLlamaV2Attention:
        def _attn_torch(self, batch_size, q_len, q_states, k_states, v_states, attn_params,
                        cfg, causal=True):
            return "fixed upstream"

    module = types.SimpleNamespace(ExLlamaV2Attention=ExLlamaV2Attention)
    original = ExLlamaV2Attention._attn_torch
    assert apply_causal_fix(module) is False
    assert ExLlamaV2Attention._attn_torch is original


def test_the_matmul_branch_goes_to_the_original(attn):
    """EXLLAMA_NO_SDPA / cfg.no_sdpa: exllamav2's own matmul attention, which masks right."""
    apply_causal_fix(attn)
    got, want = run(attn, q_len=6, past=3, no_sdpa=True, dtype=torch.half)
    assert torch.allclose(got, want, atol=1e-2)  # its softmax runs in fp16


def test_doctor_names_the_path_without_importing_exllamav2(monkeypatch):
    _forget_exllamav2()
    versions = {}
    monkeypatch.setattr("ragchat.machine.package_version", lambda name: versions.get(name))
    assert attention_path({}) == "sdpa+fix"  # the installed 0.3.2, no flash-attn, no xformers
    assert "exllamav2" not in sys.modules
    assert attention_path({"EXLLAMA_NO_SDPA": "1"}) == "matmul"
    versions["flash_attn"] = "2.7.4.post1"
    assert attention_path({}) == "flash-attn"
    versions["flash_attn"] = "2.5.6"
    assert attention_path({}) == "flash-attn-unpaged"
    assert set(exl2_attention.PATHS) >= {"flash-attn", "xformers", "sdpa+fix", "sdpa", "matmul"}
