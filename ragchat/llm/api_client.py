"""Where the API backend sends its calls, and the two clients that stream them.

Two kinds of target:
- "hf": the Hugging Face router (the default) or an Inference Endpoint. huggingface_hub's
  InferenceClient speaks to it: it knows the hub's token, its offline mode and its errors.
  HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE (the hub's switches) block it, and say so by name.
- "openai": any other `--api-base`, an OpenAI-compatible server of your own (vLLM, TGI,
  llama.cpp's server, Ollama). The `openai` package speaks to it; the hub's offline switches
  do not apply, and its key comes from the environment variable `api_key_env` names, never
  from HF_TOKEN (a Hugging Face token is not sent to somebody else's server).

Both clients are imported when a call is made, never at CLI start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ragchat.errors import BackendError

HF_ROUTER = "https://router.huggingface.co/v1"
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
HF_HOST_SUFFIXES = ("huggingface.co", "huggingface.cloud", "hf.co")
NO_KEY = "EMPTY"  # what OpenAI-compatible servers without a key expect, if anything


@dataclass(frozen=True)
class ApiTarget:
    """One server: its kind, URL and key. The key never appears in repr or messages."""

    kind: str  # "hf" or "openai"
    url: str  # "" = the Hugging Face router
    key: str | None = field(default=None, repr=False)
    key_source: str = "none"  # "HF_TOKEN", "hub login", "env NAME" or "none"

    @property
    def base(self) -> str:
        """The URL calls go to (the router's, read when asked so that tests can move it)."""
        return self.url or HF_ROUTER

    @property
    def key_env(self) -> str:
        return self.key_source[len("env "):] if self.key_source.startswith("env ") else ""


def is_hf_url(url: str) -> bool:
    """The Hugging Face router or an Inference Endpoint (served by the hub's client)."""
    if not url:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return any(host == s or host.endswith("." + s) for s in HF_HOST_SUFFIXES)


def openai_base(url: str) -> str:
    """The base URL the openai client appends `/chat/completions` to.

    `http://host:8000` and `http://host:8000/` become `http://host:8000/v1` (where vLLM,
    llama.cpp's server, TGI and Ollama serve the OpenAI API); a URL with a path keeps it;
    a trailing `/chat/completions` is dropped.
    """
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    if path.endswith("/chat/completions"):
        path = path[: -len("/chat/completions")]
    if not path:
        path = "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def offline_variable() -> str | None:
    """The hub offline switch that is on, or None, read as huggingface_hub reads them:
    HF_HUB_OFFLINE when it is set to anything, else TRANSFORMERS_OFFLINE."""
    name = next((n for n in OFFLINE_VARIABLES if os.environ.get(n)), None)
    if name and os.environ[name].strip().upper() in ("1", "ON", "YES", "TRUE"):
        return name
    return None


def hf_offline_error(variable: str) -> BackendError:
    return BackendError(
        f"{variable} is set, so the Hugging Face router and endpoints are not called",
        hint=f"unset {variable} to use them; your own server (--api-base) works whatever "
             f"{variable} says")


def open_client(target: ApiTarget, timeout: float) -> Any:
    """A client for one call (a context manager with `chat(...)` and `models()`)."""
    return HfChat(target, timeout) if target.kind == "hf" else OpenAIChat(target, timeout)


class HfChat:
    """huggingface_hub's InferenceClient, for the router and Inference Endpoints."""

    def __init__(self, target: ApiTarget, timeout: float) -> None:
        from huggingface_hub import InferenceClient

        self._client = InferenceClient(base_url=target.base, token=target.key, timeout=timeout)

    def __enter__(self) -> HfChat:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._client.close()

    def chat(self, model: str, messages: list[dict], body: dict) -> Iterator[Any]:
        return self._client.chat_completion(  # type: ignore[call-overload]  # **body: sampling
            messages, model=model, stream=True, stream_options={"include_usage": True}, **body)

    def models(self) -> list[str] | None:
        return None  # the router serves every model it has; nothing to discover


class OpenAIChat:
    """The openai package, for any OpenAI-compatible server. Its own retries are off:
    the backend retries (honouring Retry-After) and says what happened."""

    def __init__(self, target: ApiTarget, timeout: float) -> None:
        from openai import OpenAI

        self._client = OpenAI(base_url=target.base, api_key=target.key or NO_KEY,
                              timeout=timeout, max_retries=0)

    def __enter__(self) -> OpenAIChat:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._client.close()

    def chat(self, model: str, messages: list[dict], body: dict) -> Iterator[Any]:
        stream = self._client.chat.completions.create(  # type: ignore[call-overload]  # **body
            model=model, messages=messages, stream=True,
            stream_options={"include_usage": True},
            **{k: v for k, v in body.items() if v is not None})
        try:
            yield from stream
        finally:
            stream.close()

    def models(self) -> list[str] | None:
        """The model names the server lists at /models; None when it has no such list
        (a refusal, a rate limit or a failing server is raised, as for a chat call)."""
        from openai import APIStatusError

        try:
            return [m.id for m in self._client.models.list().data]
        except APIStatusError as exc:
            if exc.status_code in (401, 403, 429) or exc.status_code >= 500 \
                    and exc.status_code != 501:
                raise
            return None
