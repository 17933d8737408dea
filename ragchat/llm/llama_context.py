"""The part of llama-cpp-python that ragchat uses, in one place.

llama-cpp-python's public `Llama` API covers most of it; a few things ragchat needs (a
special token's text, the model's vocabulary for end-of-generation tokens, keeping a prefix
of the KV cache, knowing whether the model's cache can keep a prefix at all) reach into its
internals. They live here, behind small methods with their own tests
(tests/llm/test_llama_context.py), so that a new llama-cpp-python release breaks one file
and one test, not the backend. The tested range is pinned in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

from ragchat.errors import BackendError
from ragchat.llm.control_tokens import Special
from ragchat.machine import BuildInfo

GPU_BACKENDS = ("CUDA", "Metal", "Vulkan", "ROCm", "HIP", "SYCL", "OpenCL", "CANN", "MUSA")


def import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise BackendError(
            f"the llamacpp backend needs llama-cpp-python ({exc})",
            hint="pip install llama-cpp-python (see the README for a portable CPU build), "
                 "or use --api",
        ) from exc
    return llama_cpp


def gpu_layers(requested: int, info: BuildInfo | None) -> int:
    """Layers to offload: `requested` when >= 0, else all (-1 to llama.cpp) when the build
    can offload to a GPU, else none."""
    if requested >= 0:
        return requested
    return -1 if info is not None and info.gpu_offload else 0


class LlamaContext:
    """One loaded GGUF model and its KV cache (a `llama_cpp.Llama`)."""

    def __init__(self, model_path: Path, *, n_ctx: int, n_threads: int,
                 n_gpu_layers: int) -> None:
        self._lib = import_llama_cpp()
        self._llm = self._lib.Llama(
            model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads,
            n_threads_batch=n_threads, n_gpu_layers=n_gpu_layers, verbose=False,
        )
        self._vocab = self._lib.llama_model_get_vocab(self._llm.model)

    # --- the model's own chat template and special tokens -----------------------------
    @property
    def chat_template(self) -> str | None:
        return self._llm.metadata.get("tokenizer.chat_template") or None

    @property
    def layers(self) -> int:
        """Transformer blocks of the model (the most `n_gpu_layers` can offload)."""
        meta = self._llm.metadata
        arch = meta.get("general.architecture", "")
        return int(meta.get(f"{arch}.block_count", 0) or 0)

    def special_text(self, which: str) -> str:
        """The text of the model's "bos" or "eos" token ("" when it has none)."""
        token = self._llm.token_bos() if which == "bos" else self._llm.token_eos()
        return self._llm._model.token_get_text(token) if token >= 0 else ""  # private

    def control_tokens(self) -> list[Special]:
        """The tokens llama.cpp parses in text only when asked to (special=True): control
        and unknown tokens, with the whitespace they strip around them."""
        lib, vocab = self._lib, self._vocab
        wanted = lib.LLAMA_TOKEN_ATTR_CONTROL | lib.LLAMA_TOKEN_ATTR_UNKNOWN
        found = []
        for token in range(lib.llama_vocab_n_tokens(vocab)):
            attr = int(lib.llama_vocab_get_attr(vocab, token))
            if attr & wanted:
                text = lib.llama_vocab_get_text(vocab, token).decode("utf-8", "replace")
                found.append(Special(text, token, bool(attr & lib.LLAMA_TOKEN_ATTR_LSTRIP),
                                     bool(attr & lib.LLAMA_TOKEN_ATTR_RSTRIP)))
        return found

    def bos_ids(self) -> tuple[int, ...]:
        """The BOS token llama.cpp puts first (add_bos), or nothing for models without."""
        bos = int(self._llm.token_bos())
        return (bos,) if bos >= 0 and self._lib.llama_vocab_get_add_bos(self._vocab) else ()

    def is_end_of_generation(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self._vocab, token))

    # --- text and tokens -------------------------------------------------------------
    @property
    def n_ctx(self) -> int:
        return int(self._llm.n_ctx())

    @property
    def n_batch(self) -> int:
        return int(self._llm.n_batch)

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def detokenize(self, tokens: list[int]) -> bytes:
        return self._llm.detokenize(tokens)

    # --- the KV cache ----------------------------------------------------------------
    def cached_tokens(self) -> list[int]:
        """The token ids whose keys and values are in the cache now, in order."""
        return self._llm.input_ids[: self._llm.n_tokens].tolist()

    @property
    def can_keep_prefix(self) -> bool:
        """Recurrent and hybrid models cannot drop the end of their state."""
        return not (getattr(self._llm, "_is_recurrent", False)  # private
                    or getattr(self._llm, "_is_hybrid", False))  # private

    def keep_prefix(self, count: int) -> None:
        """Keep the first `count` cached tokens; the next eval() overwrites the rest."""
        if count <= 0 or not self.can_keep_prefix:
            self._llm.reset()
        else:
            self._llm.n_tokens = count

    @property
    def evaluated(self) -> int:
        return int(self._llm.n_tokens)

    def eval(self, tokens: list[int]) -> None:
        self._llm.eval(tokens)

    def set_seed(self, seed: int) -> None:
        """The seed of the next generate() calls' sampler (each call starts it anew)."""
        self._llm.set_seed(seed)

    def generate(self, prompt: list[int], **sampling: Any) -> Generator[int, None, None]:
        """Tokens sampled after `prompt` (of which all but the new part is evaluated)."""
        return self._llm.generate(prompt, **sampling)

    def close(self) -> None:
        llm, self._llm = getattr(self, "_llm", None), None
        if llm is not None:
            llm.close()
