"""Local embedding models: the NumPy encoder (the base install, CPU) or sentence-transformers
(the gpu extra: CUDA, or a model the NumPy encoder does not run)."""

from __future__ import annotations

import os
import warnings

import numpy as np

from ragchat.config import Settings
from ragchat.embeddings.folders import model_folder
from ragchat.errors import ModelError

TORCH_MISSING_HINT = ("choose a BERT or XLM-RoBERTa model (RAGCHAT_EMBEDDING_MODEL=minilm or "
                      "BAAI/bge-m3), or install the gpu extra, which brings torch and "
                      "sentence-transformers (docs/how-to/gpu-setup.md)")
MAX_SEQ_CAP = 512  # bge-m3 takes 8192 tokens; on a CPU 512 is the sane cap for chunks


class NumpyEmbedder:
    """The model's forward pass in NumPy (ragchat/embeddings/encoder.py): no torch import,
    ready in a fraction of a second; the same vectors as LocalEmbedder (tested)."""

    def __init__(self, name: str, settings: Settings) -> None:
        from ragchat.embeddings.encoder import NumpyEncoder, supports

        self.name = name
        self.batch_size = settings.embedding_batch_size
        folder = model_folder(name)
        assert folder is not None  # model_folder downloads or raises
        if not supports(folder):
            raise ModelError(f"the NumPy encoder cannot run {name} (not a BERT or XLM-RoBERTa "
                             "sentence-transformers model)", hint=TORCH_MISSING_HINT)
        self.encoder = NumpyEncoder(folder, max_tokens=MAX_SEQ_CAP)
        self.dim = self.encoder.dim
        self.max_chars = self.encoder.config.max_tokens * 3

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts, batch_size=self.batch_size)


class LocalEmbedder:
    """sentence-transformers: any model it loads, on the CPU or a GPU."""

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
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    source = model_folder(name)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ModelError("the torch embedding runtime needs torch and sentence-transformers, "
                         f"which are not installed ({exc})", hint=TORCH_MISSING_HINT) from exc

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
