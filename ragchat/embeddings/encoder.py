"""A BERT / XLM-RoBERTa sentence encoder in NumPy: the embedding model without torch.

Importing torch and sentence-transformers costs seconds on every start; a query is one short
text. This module reads a sentence-transformers folder (config.json, model.safetensors,
tokenizer.json, the pooling config) with the `safetensors` and `tokenizers` libraries and runs
the same forward pass in NumPy: token + position + type embeddings, N layers of self-attention
and a GELU feed-forward block with post-LayerNorm, then mean or CLS pooling and L2
normalisation. tests/test_encoder.py checks its vectors against sentence-transformers'.

Only what such folders use is supported; `supports()` says whether a folder qualifies, and
anything else is run by sentence-transformers (ragchat/embeddings/local.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ARCHITECTURES = {"bert": 0, "xlm-roberta": 1}  # model type -> position id offset rule
SUPPORTED_MODULES = (".Transformer", ".Pooling", ".Normalize")  # modules.json "type" endings


@dataclass(frozen=True)
class EncoderConfig:
    model_type: str
    layers: int
    heads: int
    hidden: int
    eps: float
    pad_id: int
    pooling: str | None  # "mean" or "cls" (read_config runs after supports() checked it)
    max_tokens: int


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def supports(folder: str | Path) -> bool:
    """The folder holds a model this encoder runs exactly (else use sentence-transformers)."""
    folder = Path(folder)
    try:
        config = _read_json(folder / "config.json")
        modules = _read_json(folder / "modules.json")
        pooling = _pooling(folder, modules)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (config.get("model_type") in ARCHITECTURES
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and all(m.get("type", "").endswith(SUPPORTED_MODULES) for m in modules)
            and pooling in ("mean", "cls")
            and (folder / "model.safetensors").is_file()
            and (folder / "tokenizer.json").is_file())


def _pooling(folder: Path, modules: list) -> str | None:
    """'mean' or 'cls' from the Pooling module's config (either of its two formats)."""
    for module in modules:
        if module.get("type", "").endswith(".Pooling"):
            pool = _read_json(folder / module.get("path", "") / "config.json")
            if "pooling_mode" in pool:  # sentence-transformers >= 6
                modes = {pool["pooling_mode"]} if isinstance(pool["pooling_mode"], str) \
                    else set(pool["pooling_mode"])
            else:
                modes = {k[len("pooling_mode_"):] for k, v in pool.items()
                         if k.startswith("pooling_mode_") and v}
            modes = {"mean" if m == "mean_tokens" else "cls" if m == "cls_token" else m
                     for m in modes}
            return modes.pop() if len(modes) == 1 and modes <= {"mean", "cls"} else None
    return None


def read_config(folder: Path, max_tokens: int) -> EncoderConfig:
    config = _read_json(folder / "config.json")
    modules = _read_json(folder / "modules.json")
    limit = min(_max_seq_length(folder) or config["max_position_embeddings"], max_tokens)
    if config["model_type"] == "xlm-roberta":  # positions start after the padding index
        limit = min(limit, config["max_position_embeddings"] - config.get("pad_token_id", 1) - 1)
    return EncoderConfig(config["model_type"], config["num_hidden_layers"],
                         config["num_attention_heads"], config["hidden_size"],
                         float(config.get("layer_norm_eps", 1e-12)),
                         int(config.get("pad_token_id", 0)), _pooling(folder, modules), limit)


def _max_seq_length(folder: Path) -> int | None:
    """Where sentence-transformers keeps it: sentence_bert_config.json (up to version 5), else
    the tokenizer's model_max_length (version 6 saves it there)."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"),
                      ("tokenizer_config.json", "model_max_length")):
        path = folder / name
        value = _read_json(path).get(key) if path.is_file() else None
        if isinstance(value, int) and 0 < value < 1_000_000:
            return value
    return None


class NumpyEncoder:
    """Text -> unit vectors, the forward pass of a BERT-family sentence-transformers model."""

    def __init__(self, folder: str | Path, max_tokens: int = 512) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.config = read_config(folder, max_tokens)
        weights = load_file(str(folder / "model.safetensors"))
        prefix = _prefix(weights)
        self.w = {k[len(prefix):]: v.astype(np.float32, copy=False)
                  for k, v in weights.items() if k.startswith(prefix)}
        self.dim = self.config.hidden
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.config.max_tokens)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """float32 (len(texts), dim), unit rows; batches of similar length, like
        sentence-transformers, so that little time goes to padding.

        BLAS runs on one thread: OpenBLAS's spinning worker threads made a one-query encode
        40 times slower (0.04 s -> 1.5 s) on a 2-core machine that had other work to do."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, user_api="blas"):
            return self._encode(texts, batch_size)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            picked = order[start:start + batch_size]
            out[picked] = self._forward([ids[i] for i in picked])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        cfg = self.config
        length = max(len(x) for x in batch)
        tokens = np.full((len(batch), length), cfg.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, seq in enumerate(batch):
            tokens[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1.0
        x = self._embed(tokens, mask)
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        for layer in range(cfg.layers):
            x = self._layer(x, bias, f"encoder.layer.{layer}.")
        if cfg.pooling == "cls":
            pooled = x[:, 0]
        else:
            pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)

    def _embed(self, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
        cfg, w = self.config, self.w
        if cfg.model_type == "xlm-roberta":  # padding_idx + 1 + position among real tokens
            positions = (np.cumsum(mask, axis=1) * mask).astype(np.int64) + cfg.pad_id
        else:
            positions = np.broadcast_to(np.arange(tokens.shape[1]), tokens.shape)
        x = (w["embeddings.word_embeddings.weight"][tokens]
             + w["embeddings.position_embeddings.weight"][positions]
             + w["embeddings.token_type_embeddings.weight"][0])
        return _layer_norm(x, w, "embeddings.LayerNorm.", cfg.eps)

    def _layer(self, x: np.ndarray, bias: np.ndarray, p: str) -> np.ndarray:
        cfg, w = self.config, self.w
        b, n, _ = x.shape
        h, d = cfg.heads, cfg.hidden // cfg.heads

        def heads(name: str) -> np.ndarray:  # (b * h, n, d)
            y = _linear(x, w, p + f"attention.self.{name}.").reshape(b, n, h, d)
            return np.ascontiguousarray(y.transpose(0, 2, 1, 3)).reshape(b * h, n, d)

        query = heads("query") * np.float32(1.0 / np.sqrt(d))
        key, value = heads("key"), heads("value")
        # one 2-D product per head: NumPy's stacked matmul does not batch them through BLAS
        scores = np.stack([q @ k.T for q, k in zip(query, key)]).reshape(b, h, n, n) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        scores = scores.reshape(b * h, n, n)
        context = np.stack([s @ v for s, v in zip(scores, value)])
        context = context.reshape(b, h, n, d).transpose(0, 2, 1, 3).reshape(b, n, h * d)
        x = _layer_norm(x + _linear(context, w, p + "attention.output.dense."), w,
                        p + "attention.output.LayerNorm.", cfg.eps)
        inner = _gelu(_linear(x, w, p + "intermediate.dense."))
        return _layer_norm(x + _linear(inner, w, p + "output.dense."), w,
                           p + "output.LayerNorm.", cfg.eps)


def _prefix(weights: dict) -> str:
    """Weights are stored as 'embeddings...' or under the model's name ('bert.', 'roberta.')."""
    for key in weights:
        if key.endswith("embeddings.word_embeddings.weight"):
            return key[: -len("embeddings.word_embeddings.weight")]
    raise KeyError("no word embeddings in model.safetensors")


def _linear(x: np.ndarray, w: dict, p: str) -> np.ndarray:
    """x @ W.T + b as one 2-D matrix product (one BLAS call, not one per batch row)."""
    y = x.reshape(-1, x.shape[-1]) @ w[p + "weight"].T
    y += w[p + "bias"]
    return y.reshape(*x.shape[:-1], -1)


def _layer_norm(x: np.ndarray, w: dict, p: str, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + np.float32(eps)) * w[p + "weight"] + w[p + "bias"]


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU of BERT: 0.5 x (1 + erf(x / sqrt 2))."""
    return np.float32(0.5) * x * (np.float32(1.0) + _erf(x * np.float32(0.7071067811865476)))


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to float32 precision (W. J. Cody's rational approximations are in SciPy; NumPy has
    none, and importing SciPy costs a start-up). Abramowitz & Stegun 7.1.26 is only good to
    1.5e-7 absolute, which is below float32's resolution near 1, where it matters."""
    sign = np.sign(x)
    a = np.abs(x)
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.3275911) * a)
    poly = t * (np.float32(0.254829592) + t * (np.float32(-0.284496736) + t * (
        np.float32(1.421413741) + t * (np.float32(-1.453152027) + t * np.float32(1.061405429)))))
    return sign * (np.float32(1.0) - poly * np.exp(-a * a))
