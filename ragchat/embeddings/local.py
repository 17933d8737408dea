"""sentence-transformers on this machine (CPU or CUDA)."""

from __future__ import annotations

import os
import warnings

import numpy as np

from ragchat.config import Settings
from ragchat.errors import ModelError

MAX_SEQ_CAP = 512  # bge-m3 takes 8192 tokens; on a CPU 512 is the sane cap for chunks


class LocalEmbedder:
    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.batch_size = settings.embedding_batch_size
        self.model = _load(name, settings.embedding_device)
        self.dim = int(self.model.get_sentence_embedding_dimension())
        seq = min(int(self.model.max_seq_length or 256), MAX_SEQ_CAP)
        self.model.max_seq_length = seq
        self.max_chars = seq * 3

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def _load(name: str, device: str):
    from ragchat.embeddings import BUNDLED, bundled_minilm_path

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    source = bundled_minilm_path() if name == BUNDLED else _resolve(name)
    warnings.filterwarnings("ignore", category=FutureWarning)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars on every start
    hf_logging.set_verbosity_error()
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(source, device=None if device == "auto" else device)
    except Exception as exc:  # a missing or broken model folder, a failed download
        raise ModelError(
            f"cannot load embedding model {name}: {type(exc).__name__}: {exc}",
            hint="set embedding_model (RAGCHAT_EMBEDDING_MODEL) to a model that is available, "
                 "or 'minilm' for the bundled one",
        ) from exc


def _resolve(name: str) -> str:
    """A local folder as is; a hub name from the local cache, downloading it if needed."""
    if os.path.isdir(os.path.expanduser(name)):
        return os.path.expanduser(name)
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(name, local_files_only=True)
    except Exception:
        pass
    try:
        return snapshot_download(name)
    except Exception as exc:
        raise ModelError(
            f"embedding model {name} is not cached and cannot be downloaded ({type(exc).__name__})",
            hint="connect to the internet once, or set RAGCHAT_EMBEDDING_MODEL=minilm",
        ) from exc
