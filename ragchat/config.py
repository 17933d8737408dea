"""Settings: flag > environment (RAGCHAT_<KEY>) > config file (TOML) > default.

Every key is declared once in `KEYS`; docs/reference/config.md documents the same table.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragchat import paths
from ragchat.errors import ConfigError


@dataclass(frozen=True)
class Key:
    name: str
    default: Any
    doc: str

    @property
    def env(self) -> str:
        return "RAGCHAT_" + self.name.upper()


KEYS: tuple[Key, ...] = (
    Key("collection", "default", "Collection used when --collection is not given."),
    Key("embedding_model", "auto",
        "Embedding model: 'auto' (BAAI/bge-m3 if cached, or with a CUDA GPU if downloadable; "
        "else the bundled all-MiniLM-L6-v2), 'minilm', a sentence-transformers name, or a "
        "local folder."),
    Key("embedding_provider", "local",
        "'local' (sentence-transformers) or 'api' (Hugging Face feature extraction)."),
    Key("embedding_device", "auto", "Device for local embeddings: auto, cpu, cuda."),
    Key("embedding_runtime", "auto",
        "Code that runs a local embedding model: 'numpy' (starts in a fraction of a second; "
        "BERT and XLM-RoBERTa models), 'torch' (sentence-transformers; any model, GPUs), or "
        "'auto' (numpy for queries and small ingests, torch for large ones or on cuda)."),
    Key("embedding_batch_size", 32, "Chunks per embedding batch."),
    Key("chunk_size", 0, "Target chunk size in characters; 0 picks one that suits the model."),
    Key("chunk_overlap", 0.15, "Overlap between neighbouring chunks, as a fraction of chunk_size."),
    Key("index_headings", True,
        "Put each chunk's heading path into the text that is embedded and BM25-indexed "
        "(measured in docs/performance.md; changing it re-embeds on the next ingest)."),
    Key("max_file_mb", 20.0, "Files larger than this are skipped by ingest."),
    Key("ocr", "auto",
        "OCR of scanned PDF pages and pages whose text is font codes: 'auto' (with Tesseract, "
        "when it is installed) or 'off' (such pages are only reported)."),
    Key("search_k", 5, "Results returned by search and passed to the answer."),
    Key("backend", "auto", "LLM backend: auto, exllamav2, llamacpp, api."),
    Key("api_fallback", False, "In 'auto', use the API when no local GPU model can run."),
    Key("api_base", "",
        "Base URL of a Hugging Face Inference Endpoint or of your own OpenAI-compatible server "
        "(vLLM, TGI, llama.cpp, Ollama); empty = the Hugging Face router."),
    Key("api_model", "Qwen/Qwen2.5-14B-Instruct",
        "Model name sent to the API; left unset, your own server's only model is used."),
    Key("api_key_env", "",
        "Name of the environment variable that holds your own server's key (sent as a bearer "
        "token, never printed); empty = no key. The Hugging Face router uses HF_TOKEN."),
    Key("api_timeout", 60.0, "Seconds to wait for the API before giving up."),
    Key("gguf_model", "", "GGUF file for the llamacpp backend; empty = bundled SmolLM2-135M."),
    Key("llamacpp_ctx", 8192, "Context length of the llamacpp backend."),
    Key("llamacpp_repeat_penalty", 1.0,
        "Repetition penalty of the llamacpp backend (1.0 = off); the bundled demo model "
        "uses 1.15 unless this is set (it loops without one)."),
    Key("llamacpp_gpu_layers", -1,
        "Layers of the GGUF model llama.cpp offloads to a GPU: -1 = all when the installed "
        "llama-cpp-python has a GPU backend (CUDA, Metal, Vulkan, ROCm), else none."),
    Key("llamacpp_threads", 0, "CPU threads for llamacpp; 0 = half the usable cores."),
    Key("exl2_model", "", "EXL2 model folder; empty = the model chosen with `ragchat model use`."),
    Key("exl2_cache", "Q8", "ExLlamaV2 KV cache type: FP16, Q8, Q6, Q4."),
    Key("max_seq_len", 0, "Context length for exllamav2; 0 = sized from free VRAM."),
    Key("ngram_draft", False, "ExLlamaV2 n-gram speculative decoding."),
    Key("exl2_draft_model", "", "EXL2 folder of a small draft model for speculative decoding."),
    Key("api_retries", 3, "API retries before the first token (429, 5xx, connection errors)."),
    Key("max_new_tokens", 512,
        "Most tokens an answer may have (the bundled demo model uses 192 unless this is set)."),
    Key("temperature", 0.2, "Sampling temperature of answers."),
    Key("memory_token_budget", 1500, "History tokens kept verbatim before older turns are summarised."),
    Key("context_token_budget", 4096,
        "Tokens of past turns with their passages kept in the prompt; older turns drop their passages."),
    Key("relevance_check", "auto",
        "How passages are judged relevant: 'llm' (one grading call), 'scores' (retrieval "
        "scores, no call), 'auto' (scores for the bundled demo model, llm otherwise)."),
    Key("follow_up_rewrite", "auto",
        "How a follow-up becomes a standalone search: 'llm' (a rewrite call), 'previous' "
        "(the previous question and this one), 'auto' (previous for the bundled demo model)."),
    Key("general_answers", True,
        "When no passage is relevant, add a brief answer from general knowledge, labelled as such."),
)

_BY_NAME = {k.name: k for k in KEYS}


@dataclass(frozen=True)
class Settings:
    """Resolved settings; `sources[name]` says where each value came from."""

    values: dict[str, Any]
    sources: dict[str, str]
    config_path: Path

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name: str) -> str:
        return self.sources[name]


def coerce(key: Key, raw: Any, origin: str) -> Any:
    """Turn a raw value (string from the environment, TOML value, flag) into the key's type."""
    kind = type(key.default)
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind is int and not isinstance(raw, bool):
            return int(raw)
        if kind is float and not isinstance(raw, bool):
            return float(raw)
        if kind is str:
            return str(raw)
    except (TypeError, ValueError):
        pass
    raise ConfigError(
        f"{origin}: {key.name} must be a {kind.__name__}, got {raw!r}",
        hint=f"fix it in {paths.config_file()} or unset {key.env}",
    )


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
    """Resolve every key. `flags` holds command-line values; None means "not given"."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path = paths.config_file()
    file_values = read_config_file(path)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in KEYS:
        if key.name in flags:
            values[key.name] = coerce(key, flags[key.name], "flag")
            sources[key.name] = "flag"
        elif key.env in os.environ:
            values[key.name] = coerce(key, os.environ[key.env], key.env)
            sources[key.name] = f"env {key.env}"
        elif key.name in file_values:
            values[key.name] = coerce(key, file_values[key.name], str(path))
            sources[key.name] = f"config {path}"
        else:
            values[key.name] = key.default
            sources[key.name] = "default"
    return Settings(values=values, sources=sources, config_path=path)




def keys_markdown() -> str:
    """The reference table of docs/reference/config.md (kept in sync by a test)."""
    rows = ["| key | environment | default | meaning |", "| --- | --- | --- | --- |"]
    for key in KEYS:
        default = repr(key.default) if isinstance(key.default, str) else str(key.default).lower()
        rows.append(f"| `{key.name}` | `{key.env}` | `{default}` | {key.doc} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m ragchat.config > the table for docs/reference/config.md
    print(keys_markdown(), end="")
