"""The memory-bandwidth bound of decoding: every new token reads all the weights once.

At batch size 1 a decoder cannot produce tokens faster than
    memory bandwidth / bytes of weights read per token,
whatever the software does (KV-cache reads come on top, so the real ceiling is lower still).
For Qwen2.5-14B at 4.25 bpw (about 7.6 GB of weights on the GPU) on an RTX 3090 (936 GB/s)
that is about 120 tokens/s, so 500 new tokens take at least ~4 s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragchat.engines import Engine

# Peak memory bandwidth in GB/s (vendor specifications). Order matters: the first pattern
# that matches a GPU's name wins, so specific names come before general ones.
GPU_BANDWIDTH_GBPS: tuple[tuple[str, str, float], ...] = (
    (r"H200", "H200", 4800),
    (r"H100.*NVL", "H100 NVL", 3900),
    (r"H100.*PCIe", "H100 PCIe", 2000),
    (r"H100", "H100 SXM", 3350),
    (r"A100.*80\s*GB.*PCIe|A100.*PCIe.*80\s*GB", "A100 80GB PCIe", 1935),
    (r"A100.*80\s*GB", "A100 80GB SXM", 2039),
    (r"A100", "A100 40GB", 1555),
    (r"L40S", "L40S", 864),
    (r"L40", "L40", 864),
    (r"L4\b", "L4", 300),
    (r"A10G", "A10G", 600),
    (r"A10\b", "A10", 600),
    (r"RTX\s*A6000", "RTX A6000", 768),
    (r"RTX\s*6000\s*Ada", "RTX 6000 Ada", 960),
    (r"V100", "V100", 900),
    (r"T4\b", "T4", 320),
    (r"RTX\s*5090", "RTX 5090", 1792),
    (r"RTX\s*5080", "RTX 5080", 960),
    (r"RTX\s*4090", "RTX 4090", 1008),
    (r"RTX\s*4080", "RTX 4080", 717),
    (r"RTX\s*4070\s*Ti", "RTX 4070 Ti", 504),
    (r"RTX\s*4070", "RTX 4070", 504),
    (r"RTX\s*3090\s*Ti", "RTX 3090 Ti", 1008),
    (r"RTX\s*3090", "RTX 3090", 936),
    (r"RTX\s*3080\s*Ti", "RTX 3080 Ti", 912),
    (r"RTX\s*3080", "RTX 3080", 760),
    (r"RTX\s*3070", "RTX 3070", 448),
    (r"RTX\s*3060", "RTX 3060", 360),
)


@dataclass(frozen=True)
class Bound:
    """Decode ceiling of one backend on one device."""

    device: str  # the GPU as matched, or "given" for --bandwidth
    bandwidth_gbps: float
    weight_bytes: int

    @property
    def tokens_per_s(self) -> float:
        return self.bandwidth_gbps * 1e9 / self.weight_bytes if self.weight_bytes else 0.0

    def min_seconds(self, new_tokens: int) -> float:
        """The least time `new_tokens` can take to decode (after the first)."""
        return max(new_tokens - 1, 0) / self.tokens_per_s if self.tokens_per_s else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "bandwidth_gbps": self.bandwidth_gbps,
                "weight_bytes": self.weight_bytes, "tokens_per_s": round(self.tokens_per_s, 2)}


def gpu_bandwidth(name: str) -> tuple[str, float] | None:
    """(canonical name, GB/s) for a GPU name as torch or nvidia-smi print it, else None."""
    for pattern, canonical, gbps in GPU_BANDWIDTH_GBPS:
        if re.search(pattern, name, re.IGNORECASE):
            return canonical, gbps
    return None


def weight_bytes_of(backend: Any) -> int:
    """Bytes of weights one decode step reads, from the model files; 0 when unknown (API)."""
    model_dir = getattr(backend, "model_dir", None)
    if model_dir is not None:  # EXL2: the files minus the FP16 embedding ExLlamaV2 keeps on the CPU
        from ragchat.models.vram import model_footprint

        return int(model_footprint(Path(model_dir))[1])
    model_path = getattr(backend, "model_path", None)
    if model_path is not None and Path(model_path).is_file():  # GGUF: the file
        return Path(model_path).stat().st_size
    return 0


def detect_gpu() -> str:
    """The first CUDA device's name, or "" (imports torch: call only for GPU backends)."""
    from ragchat.machine import gpu_info

    info = gpu_info()
    return info.name if info.available else ""


def decode_bound(backend: Any, *, gpu: str = "",
                 bandwidth_gbps: float = 0.0) -> tuple[Bound | None, str]:
    """The bound for `backend`, or None and why not.

    The GPU backend: the GPU named by `gpu`, else the one torch sees, from the table
    (`bandwidth_gbps` for a GPU not in it). The CPU model: `bandwidth_gbps` only (a CPU's
    memory bandwidth is not detectable in a portable way). The API: never (size unknown).
    """
    weights = weight_bytes_of(backend)
    if not weights:
        return None, "model size unknown (remote API): no bandwidth bound"
    if getattr(backend, "name", "") != Engine.EXLLAMAV2:
        if bandwidth_gbps > 0:
            return Bound("given", float(bandwidth_gbps), weights), ""
        return None, "memory bandwidth unknown: pass --bandwidth GBPS for a bound"
    gpu = gpu or detect_gpu()
    found = gpu_bandwidth(gpu) if gpu else None
    if found is not None:
        return Bound(found[0], found[1], weights), ""
    if bandwidth_gbps > 0:
        return Bound(gpu or "given", float(bandwidth_gbps), weights), ""
    if not gpu:
        return None, "no GPU detected: pass --gpu NAME or --bandwidth GBPS for a bound"
    return None, f"GPU {gpu!r} is not in the bandwidth table: pass --bandwidth GBPS"


def device_slug(name: str) -> str:
    """A file-name part for a GPU: 'NVIDIA H100 80GB HBM3' -> 'h100-sxm', else the name."""
    found = gpu_bandwidth(name)
    text = found[0] if found else re.sub(r"\b(NVIDIA|GeForce|Tesla)\b", " ", name, flags=re.I)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "gpu"
