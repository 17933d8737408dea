"""The GPU backend: EXL2 weights through ExLlamaV2's dynamic generator.

exllamav2 is imported only here and only when this backend loads: on a machine without CUDA
its import fails (it tries to build its CUDA extension), which becomes one clear message.
The dynamic generator hashes prompt pages and reuses matching ones on the next job, so a
prompt that starts like the previous one is prefilled only from where it differs; its final
result says how many tokens came from the cache. In paged mode (flash-attn) calls may overlap:
their jobs are decoded together (exl2_jobs.py); unpaged, the generator runs one job at a time
and the backend serves one call at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ragchat import machine
from ragchat.config import Settings
from ragchat.engines import Engine
from ragchat.errors import BackendError, ModelError
from ragchat.llm.api_client import offline_variable
from ragchat.llm.base import Backend, CallStats, Request
from ragchat.llm.control_tokens import Special
from ragchat.llm.exl2_jobs import JobDriver
from ragchat.llm.prompt_ids import PromptVocab, encode_prompt
from ragchat.llm.templates import ChatTemplate, template_from_tokenizer_config
from ragchat.models import vram
from ragchat.models.presets import capabilities_of
from ragchat.models.registry import read_json, resolve_exl2_model

NEEDS_GPU = "the exllamav2 backend needs an NVIDIA GPU with CUDA: use --api or the CPU model"
STOP_TOKENS = ("<|im_end|>", "<|endoftext|>")


def pull_hint() -> str:
    """How to get an EXL2 model here: `model use FOLDER` (a folder copied from a machine that
    has one) always works; `model pull` only where the hub may be called."""
    use = ("copy an EXL2 model folder from a machine that has one and run "
           "`ragchat model use FOLDER` (or set exl2_model to it)")
    offline = offline_variable()
    if offline:
        return f"{use}; `ragchat model pull` needs the hub, which {offline} turns off"
    return f"download it with `ragchat model pull`, or {use}"


def smaller_model_hint() -> str:
    """A smaller EXL2 model: from the hub, or (offline) a copied folder."""
    if offline_variable():
        return "a smaller model (a lower-bpw EXL2 folder copied here: `ragchat model use FOLDER`)"
    return "a smaller model (`ragchat model pull REPO --revision 3_0`, or `ragchat model use " \
           "FOLDER` with one copied here)"


def blocker(settings: Settings) -> str | None:
    """Why exllamav2 cannot run here, cheapest check first; None when it can.
    Never imports exllamav2 (its import may start a long CUDA build)."""
    if not machine.has_module("exllamav2"):
        return "exllamav2 is not installed"
    path, why = resolve_exl2_model(settings)
    if path is None:
        return why
    if not path.is_dir():
        return f"the EXL2 model folder {path} does not exist"
    if machine.exllamav2_extension() == "not built":
        return "exllamav2's CUDA extension is not built yet (run once with --backend exllamav2)"
    gpu = machine.gpu_info()
    if not gpu.available:
        return f"no CUDA GPU ({gpu.error})" if gpu.error else "no CUDA GPU"
    return None


def load(settings: Settings) -> ExLlamaV2Backend:
    """The engine table's loader: the configured EXL2 model, with its model's capabilities."""
    path, _why = resolve_exl2_model(settings)
    draft = Path(settings.exl2_draft_model) if settings.exl2_draft_model else None
    backend = ExLlamaV2Backend(path, cache_type=settings.exl2_cache,
                               max_seq_len=settings.max_seq_len,
                               ngram_draft=settings.ngram_draft, draft_model_dir=draft)
    backend.capabilities = capabilities_of(path)
    return backend


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
    except (OSError, ImportError, RuntimeError, NameError) as exc:
        # OSError/RuntimeError: the JIT build of its CUDA extension failed; NameError: a
        # prebuilt extension failed to load (exllamav2/ext.py swallows the ImportError and
        # later refers to the module it never bound)
        raise BackendError(NEEDS_GPU, hint=f"exllamav2's CUDA extension failed: {exc}") from exc
    from exllamav2 import attn

    from ragchat.llm.exl2_attention import apply_causal_fix

    apply_causal_fix(attn)
    return exllamav2


def load_template(model_dir: Path) -> ChatTemplate:
    """The chat template from chat_template.jinja or tokenizer_config.json."""
    config = read_json(model_dir / "tokenizer_config.json")
    jinja_file = model_dir / "chat_template.jinja"
    if jinja_file.is_file():
        config = {**config, "chat_template": jinja_file.read_text(encoding="utf-8")}
    return template_from_tokenizer_config(config)


def prompt_vocab(tokenizer: Any) -> PromptVocab:
    """ExLlamaV2's control tokens (the pieces its `encode_special_tokens=True` splits at)
    and a plain-text encoder.

    ExLlamaV2's own `encode_special_tokens=False` is not plain text: it hands the text to
    the Hugging Face tokenizer, which still matches the added special tokens in it. A copy
    of that tokenizer with `encode_special_tokens` set (the tokenizers library's switch for
    "special tokens are text") encodes `<|im_end|>` in a document as text.
    """
    import copy

    plain = copy.deepcopy(tokenizer.tokenizer_model.hf_tokenizer)
    plain.encode_special_tokens = True
    specials = {text: Special(text, int(token))
                for text, token in tokenizer.extended_piece_to_id.items()}
    return PromptVocab(specials, lambda text: list(plain.encode(text, add_special_tokens=False).ids))


def check_model_dir(model_dir: Path | None) -> Path:
    if model_dir is None:
        raise ModelError("no EXL2 model found", hint=pull_hint())
    model_dir = Path(model_dir).expanduser()
    if not (model_dir / "config.json").is_file() or not any(model_dir.glob("*.safetensors")):
        raise ModelError(f"not an EXL2 model folder: {model_dir}", hint=pull_hint())
    return model_dir


def is_oom(exc: BaseException) -> bool:
    return "OutOfMemory" in type(exc).__name__ or "out of memory" in str(exc).lower()


def oom_error(model_dir: Path, context: int, cache_type: str) -> BackendError:
    return BackendError(
        f"out of GPU memory loading {model_dir.name} with a {context}-token {cache_type} cache",
        hint="set a smaller max_seq_len (e.g. RAGCHAT_MAX_SEQ_LEN=8192), a lighter cache "
             f"(RAGCHAT_EXL2_CACHE=Q6), {smaller_model_hint()}, free the GPU, or use --api",
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
            hint="free the GPU, use a lighter cache (RAGCHAT_EXL2_CACHE=Q6 or Q4), "
                 f"{smaller_model_hint()}, or --api",
        )
    return context


class ExLlamaV2Backend(Backend):
    name = Engine.EXLLAMAV2

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
        self.prompt_vocab = prompt_vocab(self.tokenizer)
        self.paged = bool(has_flash_attn_with_paged) and not self.model.config.no_flash_attn
        self.generator: Any = ExLlamaV2DynamicGenerator(
            model=self.model, cache=self.cache, tokenizer=self.tokenizer,
            draft_model=draft[0], draft_cache=draft[1],
            use_ngram_draft=ngram_draft and draft[0] is None,
            paged=self.paged, max_batch_size=4 if self.paged else 1,
        )
        self.generator.warmup()
        self.jobs = JobDriver(self.generator)
        self.concurrent = self.paged  # paged: overlapping calls are decoded together
        self.stop_ids = [self.tokenizer.eos_token_id] + [
            tid for tid in (self.tokenizer.single_id(t) for t in STOP_TOKENS) if tid is not None]

    def describe(self) -> str:
        return Engine.EXLLAMAV2.value

    @property
    def draft_tokens(self) -> int:
        """Tokens the generator drafts ahead (n-gram or draft model); 0 without drafting."""
        return int(getattr(self.generator, "num_draft_tokens", 0) or 0)

    @property
    def concurrency(self) -> str:
        return "batched" if self.paged else "sequential"

    def count_tokens(self, text: str) -> int:
        return len(self.prompt_vocab.encode_text(text))

    def prompt_ids(self, messages: list[dict]) -> Any:
        """The template's control tokens as tokens, every message content as plain text
        (prompt_ids.py); no BOS but the template's own, as ExLlamaV2 encodes it."""
        import torch

        ids = encode_prompt(self.template, messages, self.prompt_vocab)
        return torch.tensor([ids], dtype=torch.long)

    def _job(self, ids: Any, request: Request) -> Any:
        """A job that makes at most `request.max_new_tokens` tokens.

        With drafting the generator ends a job at max_new_tokens - num_draft_tokens
        (dynamic.py:2127), so the job asks for that many more.
        """
        from exllamav2.generator import ExLlamaV2DynamicJob

        draft = self.draft_tokens
        room = self.context - int(ids.shape[-1]) - draft - 1
        if room < 1:
            raise BackendError(
                f"the prompt has {ids.shape[-1]} tokens, more than the context of {self.context}",
                hint="raise max_seq_len (RAGCHAT_MAX_SEQ_LEN) or ask with fewer search results")
        return ExLlamaV2DynamicJob(
            input_ids=ids, max_new_tokens=min(request.max_new_tokens, room) + draft,
            gen_settings=sampler_settings(request.temperature),
            seed=self.seed,  # type: ignore[arg-type]  # annotated int, defaults to None
            stop_conditions=[*self.stop_ids, *request.stop], decode_special_tokens=False,
        )

    def _generate(self, request: Request, call: CallStats) -> Iterator[str]:
        ids = self.prompt_ids(request.messages)
        call.prompt_tokens = int(ids.shape[-1])
        job = self._job(ids, request)
        final: dict = {}
        self.jobs.submit(job)
        try:
            for result in self.jobs.results(job, request.cancel):
                text = take_result(result, call)
                if result.get("eos"):
                    final.update(result)
                if text:
                    yield text
        finally:
            self.jobs.release(job)
            fill_from_job(call, job, final, self.jobs.generator)  # also after close()

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


def sampler_settings(temperature: float) -> Any:
    from exllamav2.generator import ExLlamaV2Sampler

    if temperature <= 0:
        return ExLlamaV2Sampler.Settings.greedy()
    return ExLlamaV2Sampler.Settings(temperature=temperature, top_p=0.95, top_k=40,
                                     token_repetition_penalty=1.0)


def take_result(result: dict, call: CallStats) -> str:
    """The text of one streaming result; marks its tokens on `call`.

    The final result of a job that ended on a stop token carries text still held back
    (a partial stop string or an incomplete character) in result["held"]: it belongs to
    the answer.
    """
    ids = result.get("token_ids")
    count = int(ids.numel()) if ids is not None and hasattr(ids, "numel") else 0
    text = result.get("text", "") or ""
    if result.get("eos"):
        held = result.get("held") or {}
        text += held.get("text", "") or ""
        if result.get("eos_reason") == "stop_token":
            count += 1  # the stop token is sampled but not streamed
    if count or text:
        call.token(max(count, 1))
    return text


def fill_from_job(call: CallStats, job: Any, final: dict, generator: Any) -> None:
    """Token counts and engine timings from the final result, or from the job if cancelled.

    `new_tokens` in the final result counts the stop token: it is not part of the answer.
    TTFT is enqueue -> first token; decode speed is the engine's own (stop token included,
    as it took a decoding step).
    """
    if final:
        new = int(final.get("new_tokens", 0))
        generate_s = float(final.get("time_generate", 0.0))
        call.prompt_tokens = int(final.get("prompt_tokens", call.prompt_tokens))
        call.cached_tokens = int(final.get("cached_tokens", 0))
        call.new_tokens = new - 1 if final.get("eos_reason") == "stop_token" else new
        call.engine_ttft_s = (float(final.get("time_enqueued", 0.0))
                              + float(final.get("time_prefill", 0.0)))
        call.engine_decode_tps = (new - 1) / generate_s if new > 1 and generate_s > 0 else 0.0
        return
    page = getattr(generator, "page_size", 0)
    call.cached_tokens = getattr(job, "cached_pages", 0) * page + getattr(job, "cached_tokens", 0)
    call.new_tokens = max(int(getattr(job, "new_tokens", 0)), 0)
