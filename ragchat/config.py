"""Settings: flag > environment (RAGCHAT_<KEY>) > config file (TOML) > default.

Every key is declared once, as a typed field of `Settings` with its default and its doc;
`KEYS` lists them for the loader and for docs/reference/config.md (the same table).
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ragchat import paths
from ragchat.engines import BACKEND_CHOICES
from ragchat.errors import ConfigError


@dataclass(frozen=True)
class Key:
    name: str
    default: Any
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    zero: bool = False  # 0 is allowed besides the range (it means "choose for me")

    @property
    def env(self) -> str:
        return "RAGCHAT_" + self.name.upper()

    @property
    def allowed(self) -> str:
        """'1 to 4096', '0, or 100 to 20000', 'auto, numpy or torch', '' (anything)."""
        if self.choices:
            return ", ".join(self.choices[:-1]) + " or " + self.choices[-1]
        if self.minimum is None and self.maximum is None:
            return ""
        low = "" if self.minimum is None else _number(self.minimum)
        high = "" if self.maximum is None else _number(self.maximum)
        span = f"{low} to {high}" if low and high else f"at least {low}" if low else f"at most {high}"
        return f"0, or {span}" if self.zero else span


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) and not value.is_integer() else f"{int(value)}"


def setting(default: Any, doc: str, *, minimum: float | None = None,
            maximum: float | None = None, choices: tuple[str, ...] | None = None,
            zero: bool = False) -> Any:
    """A key of the settings: its default, the sentence docs/reference/config.md shows, and
    the values it may take (a numeric range, perhaps with 0 besides it, or a set of choices),
    checked where the settings are loaded."""
    return field(default=default, metadata={"doc": doc, "minimum": minimum, "maximum": maximum,
                                            "choices": choices, "zero": zero})


@dataclass(frozen=True)
class Settings:
    """Resolved settings, one typed field per key; `source(name)` says where each value came
    from (flag, env RAGCHAT_<KEY>, config <file>, default)."""

    collection: str = setting("default", "Collection used when --collection is not given.")
    embedding_model: str = setting(
        "auto",
        "Embedding model: 'auto' (BAAI/bge-m3 if cached, or with a CUDA GPU if downloadable; "
        "else the bundled all-MiniLM-L6-v2), 'minilm', a sentence-transformers name, or a "
        "local folder.",
    )
    embedding_provider: str = setting(
        "local", "'local' (sentence-transformers) or 'api' (Hugging Face feature extraction).", choices=("local", "api"))
    embedding_device: str = setting("auto", "Device for local embeddings: auto, cpu, cuda.")
    embedding_runtime: str = setting(
        "auto",
        "Code that runs a local embedding model: 'numpy' (ragchat's encoder, on the CPU; BERT "
        "and XLM-RoBERTa models), 'torch' (sentence-transformers from the gpu extra; any "
        "model, GPUs), or 'auto' (numpy, but torch for large ingests on a CUDA GPU or for a "
        "model numpy cannot run, when torch is installed).", choices=("auto", "numpy", "torch"))
    embedding_batch_size: int = setting(32, "Chunks per embedding batch.", minimum=1, maximum=4096)
    chunk_size: int = setting(
        0, "Target chunk size in characters; 0 picks one that suits the model.", minimum=100, maximum=20000, zero=True)
    chunk_overlap: float = setting(
        0.15, "Overlap between neighbouring chunks, as a fraction of chunk_size.", minimum=0, maximum=0.5)
    index_headings: bool = setting(
        True,
        "Put each chunk's heading path into the text that is embedded and BM25-indexed "
        "(measured in docs/performance.md; changing it re-embeds on the next ingest).",
    )
    max_file_mb: float = setting(20.0, "Files larger than this are skipped by ingest.", minimum=0.001, maximum=10240)
    follow_links: bool = setting(
        False, "Follow links whose target is outside the ingested folder (by default such links "
        "are skipped and named; links inside the folder are always followed).")
    max_inflated_mb: float = setting(
        256.0,
        "Most megabytes a container file (DOCX, PPTX, XLSX, HWPX, HWP) may unpack to, all its "
        "parts together; a bigger one (a zip bomb) is skipped and named.", minimum=1, maximum=65536)
    max_xml_elements: int = setting(
        2_000_000, "Most XML elements read from one part of an office file (DOCX, PPTX, XLSX, "
        "HWPX); a file with more is skipped or read in part, and named.", minimum=1000, maximum=1_000_000_000)
    max_sheet_cells: int = setting(
        1_000_000, "Most spreadsheet cells read from one file (counted as read, not from the "
        "declared range); the rest is left out and named.", minimum=100, maximum=1_000_000_000)
    max_page_megapixels: float = setting(
        40.0, "Most megapixels a PDF page is rendered at for OCR; a bigger page is rendered at "
        "a lower resolution, down to 150 dpi, and one too big even then is not OCR'd but "
        "named.", minimum=1, maximum=1000)
    ocr_max_pages: int = setting(
        200, "Most pages of one PDF that are OCR'd (blank pages cost none); the others are "
        "named in the report.", minimum=0, maximum=1_000_000)
    ocr_max_seconds: float = setting(
        300.0, "Most seconds of OCR for one PDF; pages left unread are named.", minimum=1, maximum=86400)
    file_timeout_s: float = setting(
        600.0, "Most seconds one file may take to read; a file that takes longer is stopped, "
        "skipped and named.", minimum=1, maximum=86400)
    reader_memory_mb: int = setting(
        1536, "Memory limit (address space, MB) of the process that reads documents; a file "
        "that needs more is skipped and named (Linux and macOS).", minimum=256, maximum=1_048_576)
    ocr: str = setting(
        "auto",
        "OCR of scanned PDF pages and pages whose text is font codes: 'auto' (with Tesseract,"
        " when it is installed) or 'off' (such pages are only reported).", choices=("auto", "off"))
    search_k: int = setting(5, "Results returned by search and passed to the answer.", minimum=1, maximum=100)
    backend: str = setting("auto", "LLM backend: auto, exllamav2, llamacpp, api.", choices=BACKEND_CHOICES)
    api_fallback: bool = setting(False, "In 'auto', use the API when no local GPU model can run.")
    api_base: str = setting(
        "",
        "Base URL of a Hugging Face Inference Endpoint or of your own OpenAI-compatible "
        "server (vLLM, TGI, llama.cpp, Ollama); empty = the Hugging Face router.",
    )
    api_model: str = setting(
        "Qwen/Qwen2.5-14B-Instruct",
        "Model name sent to the API; left unset, your own server's only model is used.",
    )
    api_key_env: str = setting(
        "",
        "Name of the environment variable that holds your own server's key (sent as a bearer "
        "token, never printed); empty = no key. The Hugging Face router uses HF_TOKEN.",
    )
    api_timeout: float = setting(60.0, "Seconds to wait for the API before giving up.", minimum=1, maximum=3600)
    gguf_model: str = setting(
        "", "GGUF file for the llamacpp backend; empty = bundled SmolLM2-135M."
    )
    llamacpp_ctx: int = setting(8192, "Context length of the llamacpp backend.", minimum=512, maximum=1_048_576)
    llamacpp_repeat_penalty: float = setting(
        1.0,
        "Repetition penalty of the llamacpp backend (1.0 = off); the bundled demo model uses "
        "1.15 unless this is set (it loops without one).", minimum=0.5, maximum=2)
    llamacpp_gpu_layers: int = setting(
        -1,
        "Layers of the GGUF model llama.cpp offloads to a GPU: -1 = all when the installed "
        "llama-cpp-python has a GPU backend (CUDA, Metal, Vulkan, ROCm), else none.", minimum=-1, maximum=100_000)
    llamacpp_threads: int = setting(0, "CPU threads for llamacpp; 0 = half the usable cores.", minimum=0, maximum=1024)
    exl2_model: str = setting(
        "", "EXL2 model folder; empty = the model chosen with `ragchat model use`."
    )
    exl2_cache: str = setting("Q8", "ExLlamaV2 KV cache type: FP16, Q8, Q6, Q4.")
    max_seq_len: int = setting(0, "Context length for exllamav2; 0 = sized from free VRAM.", minimum=256, maximum=1_048_576, zero=True)
    ngram_draft: bool = setting(False, "ExLlamaV2 n-gram speculative decoding.")
    exl2_draft_model: str = setting(
        "", "EXL2 folder of a small draft model for speculative decoding."
    )
    api_retries: int = setting(
        3, "API retries before the first token (429, 5xx, connection errors).", minimum=0, maximum=20)
    max_new_tokens: int = setting(
        512, "Most tokens an answer may have (the bundled demo model uses 192 unless this is set).", minimum=1, maximum=131_072)
    temperature: float = setting(0.2, "Sampling temperature of answers.", minimum=0, maximum=2)
    seed: int = setting(
        -1, "Sampling seed: with the same seed, model, prompt and settings an answer comes out the "
            "same again (llama.cpp, ExLlamaV2, and servers that take a seed); -1: a new one each call.", minimum=-1, maximum=2**32 - 1)
    memory_token_budget: int = setting(
        1500, "History tokens kept verbatim before older turns are summarised.", minimum=100, maximum=1_048_576)
    context_token_budget: int = setting(
        4096,
        "Tokens of past turns with their passages kept in the prompt; older turns drop their "
        "passages.", minimum=256, maximum=1_048_576)
    relevance_check: str = setting(
        "auto",
        "How passages are judged relevant: 'llm' (one grading call), 'scores' (retrieval "
        "scores, no call), 'auto' (scores for the bundled demo model, llm otherwise).", choices=("auto", "llm", "scores"))
    follow_up_rewrite: str = setting(
        "auto",
        "How a follow-up becomes a standalone search: 'llm' (a rewrite call), 'previous' (a"
        " question that reads as a follow-up with the previous question as typed, any other"
        " alone), 'auto' (previous for the bundled demo model).",
        choices=("auto", "llm", "previous"))
    general_answers: bool = setting(
        True,
        "When no passage is relevant, add a brief answer from general knowledge, labelled as such.",
    )
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    config_path: Path = field(default_factory=paths.config_file, compare=False, repr=False)

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")

    @property
    def values(self) -> dict[str, Any]:
        """Every key's value, by name, in the order of the docs."""
        return {key.name: getattr(self, key.name) for key in KEYS}

    def with_values(self, **changes: Any) -> Settings:
        """A copy with some keys changed (their source becomes "override")."""
        unknown = sorted(set(changes) - set(_BY_NAME))
        if unknown:
            raise AttributeError(f"unknown settings {unknown}")
        sources = {**self.sources, **dict.fromkeys(changes, "override")}
        return replace(self, **changes, sources=sources)


KEYS: tuple[Key, ...] = tuple(
    Key(f.name, f.default, f.metadata["doc"], f.metadata["minimum"], f.metadata["maximum"],
        f.metadata["choices"], f.metadata["zero"])
    for f in fields(Settings) if "doc" in f.metadata
)
_BY_NAME = {k.name: k for k in KEYS}


def coerce(key: Key, raw: Any, origin: str) -> Any:
    """Turn a raw value (string from the environment, TOML value, flag) into the key's type,
    and check it against the key's range or choices. `origin` names where it came from:
    "flag", "RAGCHAT_<KEY>" or the config file's path."""
    value = _typed(key, raw)
    if value is None:
        raise ConfigError(f"{_where(origin)}: {key.name} must be "
                          f"{_kind_name(type(key.default))}, got {_shown(raw)}",
                          hint=_fix_hint(key, origin))
    if not _in_range(key, value):
        what = "not one of the choices" if key.choices else "out of range"
        raise ConfigError(f"{_where(origin)}: {key.name} = {_shown(raw)} is {what} "
                          f"(allowed: {key.allowed})", hint=_fix_hint(key, origin))
    return value


def _typed(key: Key, raw: Any) -> Any:
    """The value in the key's type, or None when it is not one."""
    kind = type(key.default)
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            return {"1": True, "true": True, "yes": True, "on": True, "0": False,
                    "false": False, "no": False, "off": False, "": False}.get(text)
        if kind is int and not isinstance(raw, bool | float):
            return int(str(raw).strip().replace("_", ""))
        if kind is float and not isinstance(raw, bool):
            number = float(raw)
            return number if math.isfinite(number) else None
        if kind is str:
            text = str(raw)
            return text.strip().lower() if key.choices else text
    except (TypeError, ValueError):
        return None
    return None


def _in_range(key: Key, value: Any) -> bool:
    if key.choices:
        return value in key.choices
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    if key.zero and value == 0:
        return True
    return not ((key.minimum is not None and value < key.minimum)
                or (key.maximum is not None and value > key.maximum))


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number",
            str: "text"}.get(kind, kind.__name__)


def _shown(raw: Any) -> str:
    """A raw value as an error line shows it: quoted, short, one line."""
    text = repr(raw) if not isinstance(raw, str) else repr(raw[:60] + ("..." if len(raw) > 60
                                                                         else ""))
    return text.replace("\n", " ")


def _where(origin: str) -> str:
    if origin == "flag":
        return "command line"
    if origin.startswith("RAGCHAT_"):
        return f"environment {origin}"
    return f"config file {origin}"


def _fix_hint(key: Key, origin: str) -> str:
    allowed = f" ({key.allowed})" if key.allowed else ""
    if origin == "flag":
        return f"give a value that {key.name} allows{allowed}"
    if origin.startswith("RAGCHAT_"):
        return f"set {key.env} to a value that {key.name} allows{allowed}, or unset it"
    return f"fix {key.name} in {origin}{allowed}, or delete that line"


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse {path}: {exc}", hint="fix or delete the file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    unknown = sorted(set(data) - set(_BY_NAME))
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(unknown)}",
            hint="see `ragchat doctor` or docs/reference/config.md for the keys",
        )
    return data


def load_settings(flags: dict[str, Any] | None = None) -> Settings:
    """Resolve every key. `flags` holds command-line values; None means "not given".
    Raises ConfigError on the first value that is unusable."""
    settings, problems = _resolve(flags, lenient=False)
    return settings


def load_settings_leniently(flags: dict[str, Any] | None = None
                            ) -> tuple[Settings, list[ConfigError]]:
    """As `load_settings`, but an unusable value (or config file) is left out, its key
    keeps the value from the next source down, and the errors are returned: what `doctor`
    runs with, so that it can report a broken setting instead of stopping on it."""
    return _resolve(flags, lenient=True)


def _resolve(flags: dict[str, Any] | None, lenient: bool) -> tuple[Settings, list[ConfigError]]:
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path = paths.config_file()
    problems: list[ConfigError] = []
    try:
        file_values = read_config_file(path)
    except ConfigError as exc:
        if not lenient:
            raise
        problems.append(exc)
        file_values = {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in KEYS:
        candidates = [(flags.get(key.name), "flag", "flag"),
                      (os.environ.get(key.env), key.env, f"env {key.env}"),
                      (file_values.get(key.name), str(path), f"config {path}")]
        values[key.name], sources[key.name] = key.default, "default"
        for raw, origin, source in candidates:
            if raw is None:
                continue
            try:
                values[key.name], sources[key.name] = coerce(key, raw, origin), source
                break
            except ConfigError as exc:
                if not lenient:
                    raise
                problems.append(exc)
    return Settings(**values, sources=sources, config_path=path), problems


def keys_markdown() -> str:
    """The reference table of docs/reference/config.md (kept in sync by a test)."""
    rows = ["| key | environment | default | allowed | meaning |",
            "| --- | --- | --- | --- | --- |"]
    for key in KEYS:
        default = repr(key.default) if isinstance(key.default, str) else str(key.default).lower()
        allowed = key.allowed or ("true, false" if isinstance(key.default, bool) else "")
        rows.append(f"| `{key.name}` | `{key.env}` | `{default}` | {allowed} | {key.doc} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m ragchat.config > the table for docs/reference/config.md
    print(keys_markdown(), end="")
