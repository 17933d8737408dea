"""A BERT / XLM-RoBERTa sentence encoder in NumPy: the embedding model without torch.

ragchat's base install has no torch: this module embeds every text on the CPU, queries and
large ingests alike, for the bundled all-MiniLM-L6-v2 (BERT) and BAAI/bge-m3 (XLM-RoBERTa).
It reads a sentence-transformers folder (config.json, model.safetensors or
pytorch_model.bin, tokenizer.json, the pooling config) with the `safetensors` and
`tokenizers` libraries (ragchat/embeddings/weights.py) and runs the same forward pass
(ragchat/embeddings/forward.py): token + position + type embeddings, N layers of
self-attention and a GELU feed-forward block with post-LayerNorm, then mean or CLS pooling
and L2 normalisation. tests/embeddings/test_encoder.py checks its vectors against
sentence-transformers'.

Only what such folders use is supported; `supports()` says whether a folder qualifies, and
anything else needs sentence-transformers (the `torch` runtime, ragchat/embeddings/local.py).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragchat.embeddings.forward import Layer, Model, layer_norm_, run_layers
from ragchat.embeddings.weights import load_weights, weights_file

ARCHITECTURES = {"bert": 0, "xlm-roberta": 1}  # model type -> position id offset rule
SUPPORTED_MODULES = (".Transformer", ".Pooling", ".Normalize")  # modules.json "type" endings
# Texts are split into groups that run in parallel threads, one per core (NumPy and BLAS
# release the GIL); a group has at least this many tokens, so a query runs on one thread.
GROUP_TOKENS = 256
# A single group this large (one long text) runs its matrix products on every core instead.
BLAS_THREADS_TOKENS = 1024


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
            and weights_file(folder) is not None
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
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.config = read_config(folder, max_tokens)
        path = weights_file(folder)
        if path is None:
            raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {folder}")
        weights = load_weights(path)
        prefix = _prefix(weights)
        w = {k[len(prefix):]: v.astype(np.float32, copy=False)
             for k, v in weights.items() if k.startswith(prefix)}
        del weights
        self.embeddings = _embedding_tables(w)
        self.model = _model(w, self.config)
        self.dim = self.config.hidden
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.config.max_tokens)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """float32 (len(texts), dim), unit rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        return self.encode_ids(ids, batch_size)

    def encode_ids(self, ids: list[list[int]], batch_size: int = 32) -> np.ndarray:
        """Unit vectors of tokenized texts (token ids with the special tokens).

        The texts are split into groups of at most `batch_size` texts and of about equal
        token counts, one or more per core, run in parallel threads with BLAS on one thread
        each. One small group (a query) runs on the calling thread: OpenBLAS's spinning
        worker threads made a one-query encode 40 times slower (0.04 s -> 1.5 s) on a
        2-core machine that had other work to do."""
        from threadpoolctl import threadpool_limits

        groups = plan_groups([len(x) for x in ids], batch_size, _cores())
        tokens = sum(len(x) for x in ids)
        blas = _cores() if len(groups) == 1 and tokens >= BLAS_THREADS_TOKENS else 1
        out = np.empty((len(ids), self.dim), dtype=np.float32)

        def run(group: list[int]) -> None:
            out[group] = self._forward([ids[i] for i in group])

        with threadpool_limits(blas, user_api="blas"):
            if len(groups) == 1:
                run(groups[0])
            elif groups:
                with ThreadPoolExecutor(min(len(groups), _cores())) as pool:
                    list(pool.map(run, groups))
        return out

    def _forward(self, texts: list[list[int]]) -> np.ndarray:
        """Unit vectors of token-id lists, packed end to end (no padding)."""
        cfg = self.config
        lengths = [len(x) for x in texts]
        tokens = np.fromiter((t for x in texts for t in x), dtype=np.int64, count=sum(lengths))
        x = self._embed(tokens, lengths)
        run_layers(self.model, x, lengths)
        starts = np.cumsum([0, *lengths[:-1]])
        if cfg.pooling == "cls":
            pooled = x[starts]
        else:
            pooled = np.add.reduceat(x, starts, axis=0) \
                / np.asarray(lengths, dtype=np.float32)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, np.float32(1e-12))

    def _embed(self, tokens: np.ndarray, lengths: list[int]) -> np.ndarray:
        cfg = self.config
        words, positions, types, norm = self.embeddings
        offset = cfg.pad_id + 1 if cfg.model_type == "xlm-roberta" else 0  # after padding_idx
        where = np.concatenate([np.arange(n) for n in lengths]) + offset
        x = words[tokens]
        x += positions[where]
        x += types
        layer_norm_(x, *norm, np.float32(cfg.eps))
        return x


def plan_groups(lengths: list[int], batch_size: int, cores: int) -> list[list[int]]:
    """Indices of the texts in groups: at most `batch_size` texts each, enough groups to keep
    every core busy when there are GROUP_TOKENS per group, longest texts first into the
    group with the fewest tokens so far (groups end up with about equal work)."""
    count = len(lengths)
    wanted = min(cores, max(1, sum(lengths) // GROUP_TOKENS), count)
    groups_n = max(wanted, -(-count // max(1, batch_size)))
    groups: list[list[int]] = [[] for _ in range(groups_n)]
    load = [0] * groups_n
    for i in sorted(range(count), key=lambda i: -lengths[i]):
        open_groups = [g for g in range(groups_n) if len(groups[g]) < batch_size]
        g = min(open_groups, key=lambda g: load[g])
        groups[g].append(i)
        load[g] += lengths[i]
    return [g for g in groups if g]


def _cores() -> int:
    from ragchat.machine import cores

    return cores()


def _prefix(weights: dict) -> str:
    """Weights are stored as 'embeddings...' or under the model's name ('bert.', 'roberta.')."""
    for key in weights:
        if key.endswith("embeddings.word_embeddings.weight"):
            return key[: -len("embeddings.word_embeddings.weight")]
    raise KeyError("no word embeddings in the weights file")


def _embedding_tables(w: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                        tuple[np.ndarray, np.ndarray]]:
    return (w["embeddings.word_embeddings.weight"], w["embeddings.position_embeddings.weight"],
            w["embeddings.token_type_embeddings.weight"][0],
            (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]))


def _model(w: dict, cfg: EncoderConfig) -> Model:
    """The layers' weights as forward.py wants them; each stored matrix is dropped from `w`
    once copied, so loading needs little more memory than the model."""
    scale = 1.0 / float(np.sqrt(cfg.hidden // cfg.heads))  # folded into the query

    def matrix(*names: str, first_scale: float = 1.0) -> np.ndarray:
        parts = [w.pop(n) for n in names]
        parts[0] = parts[0] * np.float32(first_scale)
        return np.ascontiguousarray(np.concatenate(parts).T)

    def layer(p: str) -> Layer:
        a = p + "attention."
        qkv = matrix(*(f"{a}self.{n}.weight" for n in ("query", "key", "value")),
                     first_scale=scale)
        qkv_bias = np.concatenate([w[a + "self.query.bias"] * np.float32(scale), w[a + "self.key.bias"],
                                   w[a + "self.value.bias"]])
        return Layer(qkv, qkv_bias, matrix(a + "output.dense.weight"), w[a + "output.dense.bias"],
                     (w[a + "output.LayerNorm.weight"], w[a + "output.LayerNorm.bias"]),
                     matrix(p + "intermediate.dense.weight"), w[p + "intermediate.dense.bias"],
                     matrix(p + "output.dense.weight"), w[p + "output.dense.bias"],
                     (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]))

    layers = tuple(layer(f"encoder.layer.{i}.") for i in range(cfg.layers))
    return Model(cfg.heads, np.float32(cfg.eps), layers)
