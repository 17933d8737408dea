"""The GPU backend: EXL2 weights through ExLlamaV2's dynamic generator.

exllamav2 is imported only here and only when this backend loads: on a machine without CUDA
its import fails (it tries to build its CUDA extension), which becomes one clear message.
The dynamic generator hashes prompt pages and reuses matching ones on the next job, so a
prompt that starts like the previous one is prefilled only from where it differs; its final
result says how many tokens came from the cache.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ragchat.errors import BackendError, ModelError
from ragchat.llm import vram
from ragchat.llm.base import Backend, GenerationStats, StatsClock, is_cancelled
from ragchat.llm.models import read_json
from ragchat.llm.templates import ChatTemplate, template_from_tokenizer_config

NEEDS_GPU = "the exllamav2 backend needs an NVIDIA GPU with CUDA: use --api or the CPU model"
STOP_TOKENS = ("<|im_end|>", "<|endoftext|>")
PULL_HINT = "download it with `ragchat model pull`, or set exl2_model to an EXL2 folder"


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def import_exllamav2() -> Any:
    """exllamav2, or BackendError saying why it cannot run here."""
    if not cuda_available():
        raise BackendError(NEEDS_GPU, hint="no CUDA device is visible to torch")
    try:
        import exllamav2
        import exllamav2.generator  # noqa: F401
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "exllamav2":
            raise BackendError(NEEDS_GPU, hint=f"importing exllamav2 failed: {exc}") from exc
        raise BackendError(
            "exllamav2 is not installed",
            hint="pip install 'exllamav2==0.3.2' on the GPU machine (see docs/how-to/gpu-setup.md), "
                 "or use --api / --backend llamacpp",
        ) from exc
    except (OSError, ImportError, RuntimeError) as exc:  # the JIT build of its CUDA extension
        raise BackendError(NEEDS_GPU, hint=f"exllamav2's CUDA extension failed: {exc}") from exc
    return exllamav2


def load_template(model_dir: Path) -> ChatTemplate:
    """The chat template from chat_template.jinja or tokenizer_config.json."""
    config = read_json(model_dir / "tokenizer_config.json")
    jinja_file = model_dir / "chat_template.jinja"
    if jinja_file.is_file():
        config = {**config, "chat_template": jinja_file.read_text(encoding="utf-8")}
    return template_from_tokenizer_config(config)


def check_model_dir(model_dir: Path | None) -> Path:
    if model_dir is None:
        raise ModelError("no EXL2 model found", hint=PULL_HINT)
    model_dir = Path(model_dir).expanduser()
    if not (model_dir / "config.json").is_file() or not any(model_dir.glob("*.safetensors")):
        raise ModelError(f"not an EXL2 model folder: {model_dir}", hint=PULL_HINT)
    return model_dir


def is_oom(exc: BaseException) -> bool:
    return "OutOfMemory" in type(exc).__name__ or "out of memory" in str(exc).lower()


def oom_error(model_dir: Path, context: int, cache_type: str) -> BackendError:
    return BackendError(
        f"out of GPU memory loading {model_dir.name} with a {context}-token {cache_type} cache",
        hint="set a smaller max_seq_len (e.g. RAGCHAT_MAX_SEQ_LEN=8192), a lighter cache "
             "(RAGCHAT_EXL2_CACHE=Q6), a smaller model (`ragchat model pull` another branch), "
             "free the GPU, or use --api",
    )


def free_vram() -> int:
    import torch

    free, _total = torch.cuda.mem_get_info()
    return int(free)


def size_context(model_dir: Path, cache_type: str, requested: int,
                 free: int, draft_dir: Path | None = None) -> int:
    """The cache length for this model: configured, or the longest that fits in free VRAM."""
    shape, weights = vram.model_footprint(model_dir)
    per_token = vram.kv_bytes_per_token(shape, cache_type)
    if draft_dir is not None:
        draft_shape, draft_weights = vram.model_footprint(draft_dir)
        weights += draft_weights
        per_token += vram.kv_bytes_per_token(draft_shape, cache_type)
    context = vram.plan_context(free, weights, per_token, shape.max_positions, requested)
    if not context:
        need = vram.need_bytes(weights, per_token, vram.MIN_CONTEXT)
        raise BackendError(
            f"not enough free GPU memory for {model_dir.name}: {vram.gb(free)} free, "
            f"about {vram.gb(need)} needed with a {vram.MIN_CONTEXT}-token {cache_type} cache",
            hint="free the GPU, use a lighter cache (RAGCHAT_EXL2_CACHE=Q6 or Q4), a smaller "
                 "model (`ragchat model pull REPO --revision 3_0`), or --api",
        )
    return context


class ExLlamaV2Backend(Backend):
    name = "exllamav2"

    def __init__(self, model_dir: Path | None, *, cache_type: str = "Q8", max_seq_len: int = 0,
                 ngram_draft: bool = False, draft_model_dir: Path | None = None) -> None:
        self._lib = import_exllamav2()
        self.model_dir = check_model_dir(model_dir)
        self.draft_dir = check_model_dir(draft_model_dir) if draft_model_dir else None
        self.cache_type = vram.parse_cache_type(cache_type)
        self.template = load_template(self.model_dir)
        self.context = size_context(self.model_dir, self.cache_type, max_seq_len, free_vram(),
                                    self.draft_dir)
        try:
            self._load(ngram_draft)
        except Exception as exc:
            if is_oom(exc):
                raise oom_error(self.model_dir, self.context, self.cache_type) from exc
            raise
        self._lock = threading.Lock()
        self.last_stats = None

    def _cache_class(self) -> Any:
        names = {"FP16": "ExLlamaV2Cache", "Q8": "ExLlamaV2Cache_Q8",
                 "Q6": "ExLlamaV2Cache_Q6", "Q4": "ExLlamaV2Cache_Q4"}
        return getattr(self._lib, names[self.cache_type])

    def _load_model(self, model_dir: Path) -> tuple[Any, Any]:
        lib = self._lib
        config = lib.ExLlamaV2Config(str(model_dir))
        config.arch_compat_overrides(quiet=True)
        config.max_seq_len = self.context
        model = lib.ExLlamaV2(config)
        cache = self._cache_class()(model, max_seq_len=self.context, lazy=True)
        model.load_autosplit(cache, progress=False)
        return model, cache

    def _load(self, ngram_draft: bool) -> None:
        from exllamav2.attn import has_flash_attn_with_paged
        from exllamav2.generator import ExLlamaV2DynamicGenerator

        self.model, self.cache = self._load_model(self.model_dir)
        draft = self._load_model(self.draft_dir) if self.draft_dir else (None, None)
        self.tokenizer = self._lib.ExLlamaV2Tokenizer(self.model.config)
        self.paged = bool(has_flash_attn_with_paged) and not self.model.config.no_flash_attn
        self.generator = ExLlamaV2DynamicGenerator(
            model=self.model, cache=self.cache, tokenizer=self.tokenizer,
            draft_model=draft[0], draft_cache=draft[1],
            use_ngram_draft=ngram_draft and draft[0] is None,
            paged=self.paged, max_batch_size=4 if self.paged else 1,
        )
        self.generator.warmup()
        self.stop_ids = [self.tokenizer.eos_token_id] + [
            tid for tid in (self.tokenizer.single_id(t) for t in STOP_TOKENS) if tid is not None]

    def describe(self) -> str:
        return "exllamav2"

    def count_tokens(self, text: str) -> int:
        return int(self.tokenizer.encode(text).shape[-1])

    def prompt_ids(self, messages: list[dict]) -> Any:
        text = self.template.render(messages)
        return self.tokenizer.encode(text, add_bos=False, encode_special_tokens=True)

    def _job(self, ids: Any, max_new_tokens: int, temperature: float,
             stop: Sequence[str]) -> Any:
        from exllamav2.generator import ExLlamaV2DynamicJob, ExLlamaV2Sampler

        if temperature <= 0:
            settings = ExLlamaV2Sampler.Settings.greedy()
        else:
            settings = ExLlamaV2Sampler.Settings(temperature=temperature, top_p=0.95, top_k=40,
                                                 token_repetition_penalty=1.0)
        room = self.context - int(ids.shape[-1])
        if room < 1:
            raise BackendError(
                f"the prompt has {ids.shape[-1]} tokens, more than the context of {self.context}",
                hint="raise max_seq_len (RAGCHAT_MAX_SEQ_LEN) or ask with fewer search results")
        return ExLlamaV2DynamicJob(
            input_ids=ids, max_new_tokens=min(max_new_tokens, room), gen_settings=settings,
            stop_conditions=[*self.stop_ids, *[s for s in stop if s]],
            decode_special_tokens=False,
        )

    def stream(self, messages: list[dict], *, max_new_tokens: int = 512,
               temperature: float = 0.0, stop: Sequence[str] = (),
               cancel: threading.Event | None = None) -> Iterator[str]:
        with self._lock:
            self.last_stats = None
            clock = StatsClock()
            ids = self.prompt_ids(messages)
            job = self._job(ids, max_new_tokens, temperature, stop)
            final: dict = {}
            self.generator.enqueue(job)
            try:
                yield from self._drain(job, final, cancel, clock)
            finally:
                if not final:
                    self.generator.cancel(job)
                self.last_stats = job_stats(job, final, clock, self.generator)

    def _drain(self, job: Any, final: dict, cancel: threading.Event | None,
               clock: StatsClock) -> Iterator[str]:
        while not final:
            if is_cancelled(cancel) or not self.generator.num_remaining_jobs():
                return
            for result in self.generator.iterate():
                if result.get("job") is not job or result.get("stage") != "streaming":
                    continue
                text = result.get("text", "")
                if text:
                    clock.token()
                    yield text
                if result.get("eos"):
                    final.update(result)

    def close(self) -> None:
        for name in ("generator", "cache", "model"):
            obj = self.__dict__.pop(name, None)
            if name == "model" and obj is not None:
                obj.unload()
        try:
            import torch

            torch.cuda.empty_cache()
        except Exception:  # nothing to free without CUDA
            pass


def job_stats(job: Any, final: dict, clock: StatsClock, generator: Any) -> GenerationStats:
    """Statistics from the final result, or from the job itself when it was cancelled."""
    base = clock.stats(0, 0, 0)
    if final:
        new = int(final.get("new_tokens", 0))
        generate_s = float(final.get("time_generate", 0.0))
        return GenerationStats(
            prompt_tokens=int(final.get("prompt_tokens", 0)),
            cached_tokens=int(final.get("cached_tokens", 0)),
            new_tokens=new,
            ttft_s=float(final.get("time_enqueued", 0.0)) + float(final.get("time_prefill", 0.0)),
            decode_tps=(new - 1) / generate_s if new > 1 and generate_s > 0 else 0.0,
            total_s=base.total_s,
        )
    page = getattr(generator, "page_size", 0)
    cached = getattr(job, "cached_pages", 0) * page + getattr(job, "cached_tokens", 0)
    sequences = getattr(job, "sequences", None)
    prompt = len(sequences[0].input_ids) if sequences else 0
    return clock.stats(prompt, min(cached, prompt), max(int(getattr(job, "new_tokens", 0)), 0))
