"""Which attention ExLlamaV2 runs, and ragchat's fix for its unmasked SDPA path.

ExLlamaV2 picks flash-attn, then xformers, then PyTorch's scaled_dot_product_attention
(SDPA), then plain matmul attention. In 0.3.2 the SDPA branch of
`ExLlamaV2Attention._attn_torch` reads

    if self.layer_idx in attn_params.block_diag_layers or causal:
        attn_mask_lr = attn_params.get_block_diag_mask(q_states.device)

and for text that mask is None: a prompt chunk (q_len > 1, every prefill and every n-gram or
draft verification) is attended without a causal mask, so each prompt token sees the tokens
after it. Speed and cache statistics are unaffected; answers degrade silently. The code
before commit 2e630ae used a lower-right causal mask there. `apply_causal_fix` restores that
where the installed exllamav2 still has the faulty line (found in its source, not assumed
from a version number), and `attention_path` says which path runs, without importing
exllamav2 (its import may start a long CUDA build).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FAULTY_LINE = "if self.layer_idx in attn_params.block_diag_layers or causal:"
FLASH_PAGED_MIN = (2, 5, 7)

PATHS = {
    "flash-attn": "flash-attn (paged, batched)",
    "flash-attn-unpaged": "flash-attn older than 2.5.7 (unpaged, one request at a time)",
    "xformers": "xformers (unpaged)",
    "sdpa+fix": "PyTorch SDPA with ragchat's causal-mask fix (unpaged)",
    "sdpa": "PyTorch SDPA (unpaged)",
    "matmul": "matmul attention (unpaged; fp16 softmax)",
}


def attn_source_path() -> Path | None:
    """exllamav2/attn.py of the installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec("exllamav2")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "attn.py"
        if path.is_file():
            return path
    return None


def has_faulty_mask(source: str) -> bool:
    """Does this `_attn_torch` source take the block-diagonal (None) mask for causal text?"""
    return FAULTY_LINE in " ".join(source.split())


def _version(text: str | None) -> tuple[int, ...]:
    parts = []
    for token in (text or "").split("."):
        digits = "".join(ch for ch in token if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def attention_path(environ: Mapping[str, str] | None = None) -> str:
    """The key of PATHS that exllamav2 would take on this machine (no import of exllamav2)."""
    import os

    from ragchat.machine import has_module, package_version

    env = os.environ if environ is None else environ
    flash = package_version("flash_attn") or package_version("flash-attn")
    if flash and "EXLLAMA_NO_FLASH_ATTN" not in env and _version(flash) >= (2, 2, 1):
        return "flash-attn" if _version(flash) >= FLASH_PAGED_MIN else "flash-attn-unpaged"
    if has_module("xformers") and "EXLLAMA_NO_XFORMERS" not in env:
        return "xformers"
    if "EXLLAMA_NO_SDPA" in env or not _torch_has_lower_right():
        return "matmul"
    source = attn_source_path()
    if source is not None and has_faulty_mask(source.read_text(encoding="utf-8")):
        return "sdpa+fix"
    return "sdpa"


def _torch_has_lower_right() -> bool:
    try:
        from torch.nn.attention.bias import causal_lower_right  # noqa: F401
    except ImportError:
        return False
    return True


def apply_causal_fix(attn_module: Any) -> bool:
    """Patch `ExLlamaV2Attention._attn_torch` of an imported exllamav2.attn if it needs it.

    Returns True when the fix is in place (applied now or before), False when this
    exllamav2 does not have the faulty mask (nothing to do).
    """
    import inspect

    cls = attn_module.ExLlamaV2Attention
    current = cls._attn_torch
    if getattr(current, "ragchat_causal_fix", False):
        return True
    if not has_faulty_mask(inspect.getsource(current)):
        return False
    cls._attn_torch = make_fixed_attn_torch(attn_module, current)
    return True


def make_fixed_attn_torch(attn_module: Any, original: Any) -> Any:
    """`_attn_torch` with the SDPA branch's mask chosen as before commit 2e630ae; the matmul
    branch (whose mask was always right) is the original."""
    import torch.nn.functional as F  # noqa: N812

    def _attn_torch(self, batch_size, q_len, q_states, k_states, v_states, attn_params, cfg,
                    causal=True):
        if not (attn_module.has_lower_right_sdpa and not cfg.no_sdpa
                and not cfg.attn_logit_softcapping):
            return original(self, batch_size, q_len, q_states, k_states, v_states, attn_params,
                            cfg, causal)
        heads, head_dim = q_states.shape[2], q_states.shape[3]
        q = q_states.transpose(1, 2)
        k = self.repeat_kv(k_states.transpose(1, 2), self.num_key_value_groups)
        v = self.repeat_kv(v_states.transpose(1, 2), self.num_key_value_groups)
        if self.sliding_window and k.shape[2] >= self.sliding_window:
            k, v = k[:, :, -self.sliding_window:, :], v[:, :, -self.sliding_window:, :]
        mask = sdpa_mask(self.layer_idx, q_len, k.shape[2], attn_params, causal, q.device)
        out = F.scaled_dot_product_attention(q, k, v, mask, scale=self.scaling)
        return out.transpose(1, 2).reshape((batch_size, q_len, heads * head_dim))

    _attn_torch.ragchat_causal_fix = True  # type: ignore[attr-defined]  # marks it patched
    _attn_torch.__wrapped__ = original  # type: ignore[attr-defined]
    return _attn_torch


def sdpa_mask(layer_idx: int, q_len: int, k_len: int, attn_params: Any, causal: bool,
              device: Any) -> Any:
    """The mask for SDPA: block-diagonal for vision layers, none for non-causal layers and
    single-token steps, lower-right causal for unpadded text, else the padding mask."""
    from torch.nn.attention.bias import causal_lower_right

    if layer_idx in attn_params.block_diag_layers:
        return attn_params.get_block_diag_mask(device)
    if not causal or q_len == 1 and attn_params.is_causal():
        return None
    if attn_params.is_causal():
        return causal_lower_right(q_len, k_len)
    return attn_params.get_attn_mask(device)
