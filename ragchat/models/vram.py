"""VRAM arithmetic for ExLlamaV2: weights + KV cache + working memory, and the context that fits.

Pure functions over numbers, so they are tested without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragchat.errors import ConfigError

GiB = 1024**3
PAGE = 256  # ExLlamaV2's cache length must be a multiple of its 256-token page
# CUDA context, activations and scratch buffers; generous, so that a sized context loads.
WORKING_BYTES = int(1.5 * GiB)
MIN_CONTEXT = 2048

# Bits per cached element: the quantized caches store one FP16 scale per 32 values.
CACHE_BITS: dict[str, float] = {"FP16": 16.0, "Q8": 8.5, "Q6": 6.5, "Q4": 4.5}
_ALIASES = {"F16": "FP16", "16": "FP16", "HALF": "FP16", "8": "Q8", "6": "Q6", "4": "Q4"}


def parse_cache_type(text: str) -> str:
    """'q8', 'Q8', '8' -> 'Q8'; FP8 is refused (the dynamic generator does not support it)."""
    key = str(text).strip().upper().replace("-", "").replace("_", "")
    key = _ALIASES.get(key, key)
    if key in CACHE_BITS:
        return key
    if key in ("FP8", "8BIT"):
        raise ConfigError("exl2_cache FP8 does not work with ExLlamaV2's dynamic generator",
                          hint="use Q8 (same size, better quality) or Q6")
    raise ConfigError(f"unknown exl2_cache {text!r}", hint="use one of FP16, Q8, Q6, Q4")


@dataclass(frozen=True)
class ModelShape:
    """What sizing needs from a model's config.json."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    max_positions: int
    tied_embeddings: bool = False

    @classmethod
    def from_config(cls, cfg: dict) -> ModelShape:
        heads = int(cfg.get("num_attention_heads", 1))
        hidden = int(cfg.get("hidden_size", 0))
        return cls(
            layers=int(cfg.get("num_hidden_layers", 0)), hidden=hidden, heads=heads,
            kv_heads=int(cfg.get("num_key_value_heads", heads)),
            head_dim=int(cfg.get("head_dim") or (hidden // max(heads, 1))),
            intermediate=int(cfg.get("intermediate_size", 0)),
            vocab=int(cfg.get("vocab_size", 0)),
            max_positions=int(cfg.get("max_position_embeddings", 32768)),
            tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        )

    @property
    def layer_params(self) -> int:
        kv = self.kv_heads * self.head_dim
        attn = 2 * self.hidden * self.heads * self.head_dim + 2 * self.hidden * kv
        return self.layers * (attn + 3 * self.hidden * self.intermediate)

    @property
    def embed_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def params(self) -> int:
        return self.layer_params + self.embed_params * (1 if self.tied_embeddings else 2)


# Qwen2.5-14B-Instruct, the default model: used to size before it is downloaded.
QWEN25_14B = ModelShape(layers=48, hidden=5120, heads=40, kv_heads=8, head_dim=128,
                        intermediate=13824, vocab=152064, max_positions=32768)


def kv_bytes_per_token(shape: ModelShape, cache_type: str) -> int:
    elements = 2 * shape.layers * shape.kv_heads * shape.head_dim  # K and V
    return int(elements * CACHE_BITS[parse_cache_type(cache_type)] / 8)


def weight_bytes(shape: ModelShape, bpw: float, head_bits: float = 6.0) -> int:
    """VRAM for EXL2 weights: layers at `bpw`, the output head at `head_bits`.

    ExLlamaV2 keeps the (FP16) token embedding table in system memory, not on the GPU.
    """
    return int(shape.layer_params * bpw / 8 + shape.embed_params * head_bits / 8)


def gpu_bytes_of_files(shape: ModelShape, file_bytes: int) -> int:
    """VRAM for a downloaded EXL2 model: its files minus the FP16 embedding kept on the CPU."""
    return max(file_bytes - shape.embed_params * 2, file_bytes // 2)


def round_to_page(tokens: int) -> int:
    return max(tokens // PAGE * PAGE, 0)


def need_bytes(weights: int, per_token: int, context: int) -> int:
    """VRAM a model needs at a context length: weights + cache + working memory."""
    return weights + per_token * context + WORKING_BYTES


def fit_context(free: int, weights: int, per_token: int, max_positions: int) -> int:
    """The longest context (multiple of 256, at most the model's) that fits in `free` bytes.

    0 when not even MIN_CONTEXT fits.
    """
    spare = free - weights - WORKING_BYTES
    tokens = round_to_page(min(spare // max(per_token, 1), max_positions))
    return tokens if tokens >= MIN_CONTEXT else 0


def check_context(requested: int, max_positions: int) -> int:
    """A configured max_seq_len, rounded down to a page and capped at the model's limit."""
    tokens = round_to_page(min(requested, max_positions))
    if tokens < PAGE:
        raise ConfigError(f"max_seq_len {requested} is too small",
                          hint=f"use a multiple of {PAGE}, e.g. 8192, or 0 to size from free VRAM")
    return tokens


def gb(n: int | float) -> str:
    return f"{n / 1e9:.1f} GB"


def model_footprint(model_dir) -> tuple[ModelShape, int]:
    """A model folder's shape (config.json) and the VRAM its weights take (from its files)."""
    from pathlib import Path

    from ragchat.models.registry import read_json

    folder = Path(model_dir)
    shape = ModelShape.from_config(read_json(folder / "config.json"))
    files = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    return shape, gpu_bytes_of_files(shape, files)


def plan_context(free: int, weights: int, per_token: int, max_positions: int,
                 requested: int = 0) -> int:
    """The cache length to allocate: the configured one, or the longest that fits in `free`."""
    if requested:
        return check_context(requested, max_positions)
    return fit_context(free, weights, per_token, max_positions)


def cache_table_markdown(shape: ModelShape = QWEN25_14B, bpw: float = 4.25) -> str:
    """The docs' table (docs/how-to/gpu-setup.md): cache size per token and the VRAM needed
    at 8K, 16K and 32K tokens for each exl2_cache type."""
    weights = weight_bytes(shape, bpw)
    lines = ["| `exl2_cache` | KiB per token | need at 8K | 16K | 32K (the model's maximum) |",
             "| --- | --- | --- | --- | --- |"]
    for cache in CACHE_BITS:
        per_token = kv_bytes_per_token(shape, cache)
        label = f"`{cache}`" + (" (default)" if cache == "Q8" else "")
        needs = " | ".join(gb(need_bytes(weights, per_token, n)) for n in (8192, 16384, 32768))
        lines.append(f"| {label} | {per_token / 1024:.0f} | {needs} |")
    return "\n".join(lines) + "\n"
