"""Embeddings by the Hugging Face Inference API (feature extraction)."""

from __future__ import annotations

import numpy as np

from ragchat.config import Settings
from ragchat.errors import ModelError


class ApiEmbedder:
    def __init__(self, model: str, settings: Settings) -> None:
        from huggingface_hub import InferenceClient, get_token

        token = get_token()
        if not token and not model.startswith(("http://", "https://")):
            raise ModelError(
                "API embeddings need a Hugging Face token",
                hint="set HF_TOKEN or run `hf auth login`, or set RAGCHAT_EMBEDDING_PROVIDER=local",
            )
        self.name = "api:" + model
        self.client = InferenceClient(model=model, token=token, timeout=settings.api_timeout)
        self.batch_size = settings.embedding_batch_size
        self.max_chars = 1500
        self.dim = int(self.embed(["dimension probe"]).shape[1])

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start:start + self.batch_size]
            try:
                out = np.asarray(self.client.feature_extraction(batch), dtype=np.float32)
            except Exception as exc:
                raise ModelError(f"embedding API call failed: {type(exc).__name__}: {exc}",
                                 hint="check HF_TOKEN and the network") from exc
            if out.ndim == 3:  # token embeddings: mean-pool
                out = out.mean(axis=1)
            rows.append(out)
        vectors = np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)
