"""API failures sorted into what the user reads and whether a retry may help.

Both clients (huggingface_hub's and openai's) are read by the names of their exception
classes and the HTTP response they carry, so neither has to be imported to classify.
Each message names the setting or variable that is actually the cause.
"""

from __future__ import annotations

from typing import Any

from ragchat.errors import BackendError
from ragchat.llm.api_client import ApiTarget, hf_offline_error, offline_variable

MAX_RETRY_AFTER_S = 60.0
TIMEOUT_NAMES = {"TimeoutException", "TimeoutError", "Timeout", "InferenceTimeoutError",
                 "APITimeoutError"}
CONNECTION_NAMES = {"TransportError", "RequestException", "APIConnectionError"}


class ApiError(Exception):
    """One failed attempt, sorted: retryable or not, and how long the server asked to wait."""

    def __init__(self, error: BackendError, *, retryable: bool, wait_s: float | None = None):
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable
        self.wait_s = wait_s


def classify_error(exc: Exception, target: ApiTarget, model: str, timeout: float) -> ApiError:
    """Turn a client/transport exception into a user-facing error, and say if a retry may help."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    url = target.base
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is not None:
        return _http_error(int(status), exc, target, model)
    if "OfflineModeIsEnabled" in names:
        return ApiError(hf_offline_error(offline_variable() or "HF_HUB_OFFLINE"), retryable=False)
    if names & TIMEOUT_NAMES:
        return ApiError(BackendError(f"the API at {url} did not answer within {timeout:g} s",
                                     hint="raise api_timeout (RAGCHAT_API_TIMEOUT) or try later"),
                        retryable=False)
    if names & {"OverloadedError"}:
        return ApiError(BackendError("the API model is overloaded", hint="try again later"),
                        retryable=True)
    if "StreamEnded" in names:
        return ApiError(BackendError(f"the API at {url} ended the stream before any answer",
                                     hint="check the server's logs; some servers end a stream "
                                          "when another request arrives"), retryable=True)
    if isinstance(exc, ConnectionError) or names & CONNECTION_NAMES:
        return ApiError(BackendError(f"cannot reach the API at {url}: {short(_root(exc))}",
                                     hint=_unreachable_hint(target)), retryable=True)
    return ApiError(BackendError(f"the API call failed: {short(exc)}",
                                 hint="check --api-base / --api-model"), retryable=False)


def _root(exc: BaseException) -> BaseException:
    """The first cause that says what happened ("Connection refused", not "Connection error.")."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen and str(exc.__cause__):
        exc = exc.__cause__
        seen.add(id(exc))
    return exc


def _unreachable_hint(target: ApiTarget) -> str:
    if target.kind == "hf":
        return "check your network, or point --api-base at your own server"
    return "is the server up? check --api-base (api_base)"


def _http_error(status: int, exc: Exception, target: ApiTarget, model: str) -> ApiError:
    wait = retry_after(getattr(exc, "response", None))
    url = target.base
    if status in (401, 403):
        return ApiError(_refused(status, target), retryable=False)
    if status == 404:
        return ApiError(BackendError(f"the API at {url} has no model {model!r} (HTTP 404)",
                                     hint=_model_hint(target)), retryable=False)
    if status == 429:
        return ApiError(BackendError("the API is rate limiting this token (HTTP 429)",
                                     hint="wait a minute, or use a dedicated endpoint (--api-base)"),
                        retryable=wait is None or wait <= MAX_RETRY_AFTER_S, wait_s=wait)
    if status >= 500:
        return ApiError(BackendError(f"the API server failed (HTTP {status})",
                                     hint="try again later, or use another endpoint"),
                        retryable=True, wait_s=wait)
    return ApiError(BackendError(f"the API rejected the request (HTTP {status}): {short(exc)}",
                                 hint="check --api-model, max_new_tokens and temperature"),
                    retryable=False)


def _refused(status: int, target: ApiTarget) -> BackendError:
    if target.kind == "hf":
        return BackendError(f"the API refused the token (HTTP {status})",
                            hint="check HF_TOKEN or run `hf auth login`; the token needs "
                                 "permission to call Inference Providers")
    if target.key_env:
        return BackendError(f"the server at {target.base} refused the key in "
                            f"{target.key_env} (HTTP {status})",
                            hint=f"put the key the server expects in {target.key_env} "
                                 "(api_key_env names that variable)")
    if target.key:
        return BackendError(f"the server at {target.base} refused the key (HTTP {status})",
                            hint="check the key the server expects")
    return BackendError(f"the server at {target.base} wants a key (HTTP {status})",
                        hint="put the key in an environment variable and set api_key_env "
                             "(RAGCHAT_API_KEY_ENV) to its name")


def _model_hint(target: ApiTarget) -> str:
    if target.kind == "hf":
        return "check --api-model and --api-base"
    return f"set --api-model (api_model) to a model the server lists at {target.base}/models"


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


def short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
