"""The API backend: a Hugging Face endpoint or any OpenAI-compatible server, streamed.

`huggingface_hub.InferenceClient.chat_completion(stream=True)` against the HF router by
default, or `--api-base URL` (a dedicated endpoint, TGI, vLLM, llama.cpp's server).
Before the first token, 429 / 5xx / connection errors are retried with backoff (honouring
Retry-After); after it, a failure ends the answer with a clear error. The token comes from
HF_TOKEN or the hub's login and is never printed.
"""

from __future__ import annotations

import os
import queue
import random
import re
import threading
from collections.abc import Iterator
from typing import Any

from ragchat.errors import BackendError
from ragchat.llm.base import Backend, CallStats, Request, is_cancelled
from ragchat.llm.stops import StopFilter

HF_ROUTER = "https://router.huggingface.co/v1"
MAX_RETRY_AFTER_S = 60.0
TOKEN_HINT = "set HF_TOKEN or run `hf auth login`, or point --api-base at your own server"


def find_token() -> tuple[str | None, str]:
    """The Hugging Face token and where it came from ("HF_TOKEN", "hub login" or "none")."""
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"], "HF_TOKEN"
    try:
        from huggingface_hub import get_token

        token = get_token()
    except Exception:  # a broken token file must not stop the tool
        token = None
    return (token, "hub login") if token else (None, "none")


class ApiError(Exception):
    """One failed attempt, sorted: retryable or not, and how long the server asked to wait."""

    def __init__(self, error: BackendError, *, retryable: bool, wait_s: float | None = None):
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable
        self.wait_s = wait_s


class ApiBackend(Backend):
    name = "api"
    concurrent = True  # each call has its own HTTP client: calls may overlap

    def __init__(self, *, model: str, base_url: str = "", token: str | None = None,
                 timeout: float = 60.0, retries: int = 3, backoff_s: float = 0.5) -> None:
        if not token and not base_url:
            raise BackendError("the API backend needs a Hugging Face token", hint=TOKEN_HINT)
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.retries = max(retries, 0)
        self.backoff_s = backoff_s
        self._tokenizer: Any = None

    def __repr__(self) -> str:  # never show the token
        return f"ApiBackend(model={self.model!r}, base_url={self.base_url or HF_ROUTER!r})"

    def describe(self) -> str:
        return f"api:{self.base_url or self.model}"

    @property
    def url(self) -> str:
        return self.base_url or HF_ROUTER

    def count_tokens(self, text: str) -> int:
        if self._tokenizer is None:
            self._tokenizer = _cached_tokenizer(self.model) or False
        if self._tokenizer:
            return len(self._tokenizer.encode(text, add_special_tokens=False).ids)
        return estimate_tokens(text)

    def _generate(self, request: Request, call: CallStats) -> Iterator[str]:
        from ragchat.llm.templates import normalize_message

        clean = [normalize_message(m) for m in request.messages]
        body = {"max_tokens": request.max_new_tokens, "temperature": request.temperature,
                "stop": list(request.stop[:4]) or None}
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
        from huggingface_hub import InferenceClient

        stops = StopFilter(request.stop)
        with InferenceClient(base_url=self.url, token=self._token, timeout=self.timeout) as client:
            def chunks() -> Iterator[Any]:
                return client.chat_completion(
                    messages, model=self.model, stream=True,
                    stream_options={"include_usage": True}, **body)

            try:
                for chunk in pump(chunks, request.cancel):
                    piece = state.take(chunk, call)
                    text = stops.feed(piece) if piece else ""
                    if text:
                        yield text
                    if stops.stopped or request.cancelled:
                        return
            except Exception as exc:
                raise self._classify(exc, state) from exc
        if not state.finished:
            raise self._classify(ConnectionError("the stream ended before the answer did"), state)
        tail = stops.flush()
        if tail:
            yield tail

    def _classify(self, exc: Exception, state: _StreamState) -> ApiError:
        if state.tokens:
            return ApiError(BackendError(
                f"the API stream broke after {state.tokens} tokens: {_short(exc)}",
                hint="ask again; if it keeps happening, check the server's logs"), retryable=False)
        return classify_error(exc, self.url, self.model, self.timeout)


def pump(start: Any, cancel: threading.Event | None, poll_s: float = 0.1) -> Iterator[Any]:
    """Iterate `start()` in a worker thread, so that a cancel is seen while the network blocks.

    On cancel this returns at once; the caller closes the client, which ends the worker.
    """
    items: queue.SimpleQueue = queue.SimpleQueue()

    def work() -> None:
        try:
            for item in start():
                items.put((True, item))
            items.put((False, None))
        except BaseException as exc:  # handed to the consumer
            items.put((False, exc))

    threading.Thread(target=work, name="ragchat-api-stream", daemon=True).start()
    while True:
        try:
            more, value = items.get(timeout=poll_s)
        except queue.Empty:
            if is_cancelled(cancel):
                return
            continue
        if not more:
            if value is not None:
                raise value
            return
        yield value


class _StreamState:
    """What the chunks said so far: text pieces, finish, usage."""

    def __init__(self) -> None:
        self.tokens = 0
        self.finished = False
        self.usage: Any = None

    def take(self, chunk: Any, call: CallStats) -> str:
        if getattr(chunk, "usage", None):
            self.usage = chunk.usage
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
        """Token counts from the server's usage, else estimated."""
        usage = self.usage
        if usage is not None and _field(usage, "prompt_tokens") is not None:
            details = _field(usage, "prompt_tokens_details") or {}
            cached = _field(details, "cached_tokens")
            call.prompt_tokens = int(_field(usage, "prompt_tokens") or 0)
            call.cached_tokens = int(cached or 0)
            call.cache_known = cached is not None
            call.new_tokens = int(_field(usage, "completion_tokens") or self.tokens)
            return
        call.prompt_tokens = sum(count(m["content"]) + 4 for m in messages)
        call.new_tokens = self.tokens
        call.estimated = True
        call.cache_known = False


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None and hasattr(obj, "get"):
        value = obj.get(name)
    return value


def classify_error(exc: Exception, url: str, model: str, timeout: float) -> ApiError:
    """Turn a client/transport exception into a user-facing error, and say if a retry may help."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is not None:
        return _http_error(int(status), exc, url, model)
    if "OfflineModeIsEnabled" in names:
        return ApiError(BackendError("HF_HUB_OFFLINE is set, so huggingface_hub makes no requests",
                                     hint="unset HF_HUB_OFFLINE to use --api"), retryable=False)
    if names & {"TimeoutException", "TimeoutError", "Timeout", "InferenceTimeoutError"}:
        return ApiError(BackendError(f"the API at {url} did not answer within {timeout:g} s",
                                     hint="raise api_timeout (RAGCHAT_API_TIMEOUT) or try later"),
                        retryable=False)
    if names & {"OverloadedError"}:
        return ApiError(BackendError("the API model is overloaded", hint="try again later"),
                        retryable=True)
    if isinstance(exc, ConnectionError) or names & {"TransportError", "RequestException"}:
        return ApiError(BackendError(f"cannot reach the API at {url}: {_short(exc)}",
                                     hint="is the server up? check --api-base and your network"),
                        retryable=True)
    return ApiError(BackendError(f"the API call failed: {_short(exc)}",
                                 hint="check --api-base / --api-model"), retryable=False)


def _http_error(status: int, exc: Exception, url: str, model: str) -> ApiError:
    wait = retry_after(getattr(exc, "response", None))
    if status in (401, 403):
        error = BackendError(f"the API refused the token (HTTP {status})",
                             hint="check HF_TOKEN or run `hf auth login`; the token needs "
                                  "permission to call Inference Providers")
        return ApiError(error, retryable=False)
    if status == 404:
        return ApiError(BackendError(f"the API at {url} has no model {model!r} (HTTP 404)",
                                     hint="check --api-model and --api-base"), retryable=False)
    if status == 429:
        return ApiError(BackendError("the API is rate limiting this token (HTTP 429)",
                                     hint="wait a minute, or use a dedicated endpoint (--api-base)"),
                        retryable=wait is None or wait <= MAX_RETRY_AFTER_S, wait_s=wait)
    if status >= 500:
        return ApiError(BackendError(f"the API server failed (HTTP {status})",
                                     hint="try again later, or use another endpoint"),
                        retryable=True, wait_s=wait)
    return ApiError(BackendError(f"the API rejected the request (HTTP {status}): {_short(exc)}",
                                 hint="check --api-model, max_new_tokens and temperature"),
                    retryable=False)


def retry_after(response: Any) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    value = getattr(response, "headers", {}).get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


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
        return Tokenizer.from_file(path) if isinstance(path, str) else None
    except Exception:
        return None
