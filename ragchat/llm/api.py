"""The API backend: a Hugging Face endpoint or any OpenAI-compatible server, streamed.

The Hugging Face router by default, an Inference Endpoint, or `--api-base URL`: your own
vLLM, TGI, llama.cpp or Ollama server (ragchat/llm/api_client.py says which client speaks
to which, and why the hub's offline switches block only the hub). Before the first token,
429 / 5xx / connection errors are retried with backoff (honouring Retry-After); after it,
a failure ends the answer with a clear error. Keys are never printed.

The server applies the chat template and tokenizes with special tokens parsed, so every
message content is neutralized before it is sent (control_tokens.py): `<|im_end|>` in a
document reaches the model as text, not as the end of a turn.

Cached prompt tokens are read where the server reports them: `usage.prompt_tokens_details.
cached_tokens` (OpenAI, vLLM with --enable-prompt-tokens-details, llama.cpp's llama-server)
or llama-server's `timings.cache_n`; where it says nothing the cache is "unknown", not 0.
"""

from __future__ import annotations

import os
import random
import re
import threading
from collections.abc import Iterator
from typing import Any

from ragchat.config import Settings
from ragchat.engines import Engine
from ragchat.errors import BackendError
from ragchat.llm.api_client import (
    HF_ROUTER,
    ApiTarget,
    hf_offline_error,
    is_hf_url,
    offline_variable,
    open_client,
    openai_base,
)
from ragchat.llm.api_errors import ApiError, classify_error, retry_after, short
from ragchat.llm.base import Backend, CallStats, Request
from ragchat.llm.concurrency import iterate_cancellable
from ragchat.llm.control_tokens import neutralize
from ragchat.llm.stops import StopFilter
from ragchat.machine import find_token

__all__ = ["HF_ROUTER", "ApiBackend", "api_backend", "blocker", "estimate_tokens", "load",
           "retry_after"]

TOKEN_HINT = "set HF_TOKEN or run `hf auth login`, or point --api-base at your own server"


def server_key(settings: Settings) -> tuple[str | None, str]:
    """The key of your own server: the variable `api_key_env` names ("env NAME"), or none."""
    name = settings.api_key_env.strip()
    if not name:
        return None, "none"
    value = os.environ.get(name, "")
    if not value:
        raise BackendError(f"api_key_env names {name}, which is not set",
                           hint=f"export {name} with the server's key, or change api_key_env "
                                f"({settings.source('api_key_env')})")
    return value, f"env {name}"


def api_backend(settings: Settings) -> ApiBackend:
    """The API backend the settings describe (the HF router, an endpoint or your server)."""
    if is_hf_url(settings.api_base):
        token, source = find_token()
        return ApiBackend(model=settings.api_model, base_url=settings.api_base, token=token,
                          key_source=source, timeout=settings.api_timeout,
                          retries=settings.api_retries)
    key, source = server_key(settings)
    return ApiBackend(model=settings.api_model, base_url=settings.api_base, token=key,
                      key_source=source, discover_model=settings.source("api_model") == "default",
                      timeout=settings.api_timeout, retries=settings.api_retries)


def blocker(settings: Settings) -> str | None:
    """Why the API cannot be used now, without calling it; None when it may be."""
    if not is_hf_url(settings.api_base):
        name = settings.api_key_env.strip()
        return f"api_key_env names {name}, which is not set" \
            if name and not os.environ.get(name) else None
    if offline_variable():
        return f"{offline_variable()} is set"
    return None if find_token()[0] else "no Hugging Face token (HF_TOKEN or `hf auth login`)"


def load(settings: Settings) -> ApiBackend:
    """The engine table's loader: the API backend the settings describe."""
    return api_backend(settings)


class ApiBackend(Backend):
    name = Engine.API
    concurrent = True  # each call has its own HTTP client: calls may overlap

    def __init__(self, *, model: str, base_url: str = "", token: str | None = None,
                 timeout: float = 60.0, retries: int = 3, backoff_s: float = 0.5,
                 key_source: str = "", discover_model: bool = False) -> None:
        hf = is_hf_url(base_url)
        if hf and offline_variable():
            raise hf_offline_error(offline_variable() or "HF_HUB_OFFLINE")
        if hf and not token:
            raise BackendError("the API backend needs a Hugging Face token", hint=TOKEN_HINT)
        self.base_url = base_url.strip().rstrip("/")  # as given: what describe() shows
        url = self.base_url if hf else openai_base(self.base_url)
        self.target = ApiTarget("hf" if hf else "openai", url, token or None,
                                key_source or ("given" if token else "none"))
        self.model = model
        self.discover_model = discover_model and not hf
        self._served: str | None = None if self.discover_model else model
        self.timeout = timeout
        self.retries = max(retries, 0)
        self.backoff_s = backoff_s
        self._tokenizer: Any = None

    def __repr__(self) -> str:  # never show the key
        return f"ApiBackend(model={self.model!r}, base_url={self.url!r})"

    def describe(self) -> str:
        return f"api:{self.base_url or self.model}"

    @property
    def url(self) -> str:
        """Where the calls go (the router, or the base URL completed with /v1)."""
        return self.target.base

    def count_tokens(self, text: str) -> int:
        tokenizer = self._hub_tokenizer()
        if tokenizer:
            return len(tokenizer.encode(text, add_special_tokens=False).ids)
        return estimate_tokens(text)

    def _hub_tokenizer(self) -> Any:
        """The model's tokenizer where the local hub cache has it (special tokens as text)."""
        if self._tokenizer is None:
            self._tokenizer = _cached_tokenizer(self._served or self.model) or False
        return self._tokenizer

    def control_strings(self) -> tuple[str, ...]:
        """The model's own special tokens, where its tokenizer is at hand (else none: the
        well-known ones are neutralized anyway)."""
        tokenizer = self._hub_tokenizer()
        if not tokenizer:
            return ()
        added = tokenizer.get_added_tokens_decoder().values()
        return tuple(sorted({t.content for t in added if t.special}))

    def _generate(self, request: Request, call: CallStats) -> Iterator[str]:
        from ragchat.llm.templates import normalize_message

        extra = self.control_strings()
        clean = [{**m, "content": neutralize(m["content"], extra)}
                 for m in map(normalize_message, request.messages)]
        body = {"max_tokens": request.max_new_tokens, "temperature": request.temperature,
                "stop": list(request.stop[:4]) or None, "seed": self.seed}
        state = _StreamState()
        try:
            yield from self._attempts(clean, body, request, state, call)
        finally:
            state.fill(call, clean, self.count_tokens)

    def _attempts(self, messages: list[dict], body: dict, request: Request,
                  state: _StreamState, call: CallStats) -> Iterator[str]:
        attempt = 0
        while not request.cancelled:
            try:
                yield from self._once(messages, body, request, state, call)
                return
            except ApiError as exc:
                if state.tokens or not exc.retryable or attempt >= self.retries:
                    raise exc.error from exc
                delay = exc.wait_s if exc.wait_s is not None else self._backoff(attempt)
                attempt += 1
                if self.pause(delay, request.cancel):
                    return

    @staticmethod
    def pause(seconds: float, cancel: threading.Event | None) -> bool:
        """Wait before a retry; True when cancelled meanwhile."""
        return (cancel or threading.Event()).wait(seconds)

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_s * 2**attempt, 8.0) * (0.75 + random.random() / 2)

    def _once(self, messages: list[dict], body: dict, request: Request, state: _StreamState,
              call: CallStats) -> Iterator[str]:
        stops = StopFilter(request.stop)
        with open_client(self.target, self.timeout) as client:
            try:
                model = self._model(client)
                for chunk in iterate_cancellable(lambda: client.chat(model, messages, body),
                                                 request.cancel):
                    piece = state.take(chunk, call)
                    text = stops.feed(piece) if piece else ""
                    if text:
                        yield text
                    if stops.stopped or request.cancelled:
                        return
            except BackendError:
                raise
            except Exception as exc:
                raise self._classify(exc, state) from exc
        if not state.finished:
            raise self._classify(StreamEnded("the stream ended before the answer did"), state)
        tail = stops.flush()
        if tail:
            yield tail

    def _model(self, client: Any) -> str:
        """The model name to send: the one configured, or the one the server serves."""
        if self._served is None:
            self._served = pick_model(client.models(), self.model, self.url)
        return self._served

    def _classify(self, exc: Exception, state: _StreamState) -> ApiError:
        if state.tokens:
            return ApiError(BackendError(
                f"the API stream broke after {state.tokens} tokens: {short(exc)}",
                hint="ask again; if it keeps happening, check the server's logs"), retryable=False)
        return classify_error(exc, self.target, self._served or self.model, self.timeout)


class StreamEnded(ConnectionError):
    """The server closed the stream without saying the answer was complete."""


def pick_model(served: list[str] | None, default: str, url: str) -> str:
    """api_model was not set: the server's only model, else the default if it serves it."""
    if not served or default in served:
        return default
    if len(served) == 1:
        return served[0]
    listed = ", ".join(served[:5]) + (", ..." if len(served) > 5 else "")
    raise BackendError(f"the server at {url} serves {len(served)} models ({listed})",
                       hint="choose one with --api-model (api_model)")


class _StreamState:
    """What the chunks said so far: text pieces, finish, usage, llama-server's timings."""

    def __init__(self) -> None:
        self.tokens = 0
        self.finished = False
        self.usage: Any = None
        self.timings: Any = None

    def take(self, chunk: Any, call: CallStats) -> str:
        if getattr(chunk, "usage", None):
            self.usage = chunk.usage
        timings = _field(chunk, "timings")
        if timings:
            self.timings = timings
        text = ""
        for choice in getattr(chunk, "choices", None) or []:
            delta = getattr(choice, "delta", None)
            text += (getattr(delta, "content", None) or "") if delta is not None else ""
            self.finished = self.finished or bool(getattr(choice, "finish_reason", None))
        if text:
            call.token()
            self.tokens += 1
        return text

    def fill(self, call: CallStats, messages: list[dict], count: Any) -> None:
        """Token counts from the server's usage (or llama-server's timings), else estimated;
        cached tokens only where the server reports them."""
        usage, timings = self.usage, self.timings or {}
        cached = _cached(usage, timings)
        call.cache_known = cached is not None
        call.cached_tokens = cached or 0
        if usage is not None and _field(usage, "prompt_tokens") is not None:
            call.prompt_tokens = int(_field(usage, "prompt_tokens") or 0)
            call.new_tokens = int(_field(usage, "completion_tokens") or self.tokens)
        elif _field(timings, "prompt_n") is not None:
            call.prompt_tokens = int(_field(timings, "prompt_n")) + int(cached or 0)
            call.new_tokens = int(_field(timings, "predicted_n") or self.tokens)
        else:
            call.prompt_tokens = sum(count(m["content"]) + 4 for m in messages)
            call.new_tokens = self.tokens
            call.estimated = True


def _cached(usage: Any, timings: Any) -> int | None:
    """Cached prompt tokens as the server reports them, or None when it does not say."""
    details = _field(usage, "prompt_tokens_details") if usage is not None else None
    cached = _field(details, "cached_tokens") if details is not None else None
    if cached is None:
        cached = _field(timings, "cache_n")
    return None if cached is None else max(int(cached), 0)


def _field(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None)  # fields the client's model does not declare
        if isinstance(extra, dict):
            value = extra.get(name)
    if value is None and hasattr(obj, "get"):
        value = obj.get(name)
    return value


_WORD = re.compile(r"[A-Za-z]+|\d|\s+|[^\sA-Za-z\d]")


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: ~4 letters per token for Latin words, one per other symbol."""
    total = 0
    for match in _WORD.finditer(text):
        piece = match.group()
        if piece.isspace():
            continue
        total += -(-len(piece) // 4) if piece.isascii() and piece.isalpha() else 1
    return total


def _cached_tokenizer(model: str) -> Any:
    """The model's tokenizer.json when it is already in the local hub cache (no download)."""
    try:
        from huggingface_hub import try_to_load_from_cache
        from tokenizers import Tokenizer

        path = try_to_load_from_cache(model, "tokenizer.json")
        if not isinstance(path, str):
            return None
        tokenizer = Tokenizer.from_file(path)
        tokenizer.encode_special_tokens = True  # counted as the neutralized text is sent
        return tokenizer
    except Exception:
        return None
