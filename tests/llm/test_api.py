"""The API backend against a scripted loopback server: errors, retries, broken streams, usage.

(The same backend runs the full contract against a real llama.cpp server in test_contract.py.)
"""

from __future__ import annotations

import pytest
from llm_http import FaultServer, Reply, free_port

from ragchat.errors import BackendError
from ragchat.llm.api import ApiBackend, estimate_tokens, retry_after

pytestmark = pytest.mark.usefixtures("hub_online")

MESSAGES = [{"role": "user", "content": "Hello?"}]
SECRET = "hf_not_a_real_token_0123456789"


def backend(url: str, **kwargs) -> ApiBackend:
    kwargs.setdefault("timeout", 5.0)
    api = ApiBackend(model="some/model", base_url=url, token=kwargs.pop("token", None), **kwargs)
    api.waits = []

    def pause(seconds, cancel):  # record the waits instead of sleeping through them
        api.waits.append(seconds)
        return False

    api.pause = pause
    return api


def test_streams_text_and_sends_the_request_openai_style():
    with FaultServer(Reply(pieces=("Hel", "lo", "!"))) as server:
        api = backend(server.url, token=SECRET)
        text = "".join(api.stream(MESSAGES, max_new_tokens=7, temperature=0.0, stop=["END"]))
    assert text == "Hello!"
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    body = request["json"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 7 and body["stop"] == ["END"] and body["model"] == "some/model"
    assert body["messages"] == MESSAGES
    assert request["headers"]["authorization"] == f"Bearer {SECRET}"


def test_usage_and_cached_tokens_come_from_the_server():
    usage = {"prompt_tokens": 50, "completion_tokens": 3, "total_tokens": 53,
             "prompt_tokens_details": {"cached_tokens": 32}}
    with FaultServer(Reply(usage=usage)) as server:
        api = backend(server.url)
        stats = api.complete(MESSAGES).stats
    assert (stats.prompt_tokens, stats.cached_tokens, stats.new_tokens) == (50, 32, 3)
    assert stats.estimated is False and stats.cache_known is True


def test_without_usage_counts_are_estimated():
    with FaultServer(Reply(pieces=("a", "b", "c", "d"))) as server:
        api = backend(server.url)
        stats = api.complete(MESSAGES).stats
    assert stats.new_tokens == 4 and stats.estimated is True
    assert stats.prompt_tokens > 0 and stats.cache_known is False


def test_401_fails_at_once_naming_the_token_without_showing_it():
    with FaultServer(Reply(status=401)) as server:
        api = backend(server.url, token=SECRET)
        with pytest.raises(BackendError) as info:
            list(api.stream(MESSAGES))
    assert len(server.requests) == 1
    assert "token" in info.value.message and "HF_TOKEN" in info.value.hint
    assert SECRET not in str(info.value) and SECRET not in repr(api)


def test_429_waits_as_long_as_retry_after_says_then_succeeds():
    with FaultServer(Reply(status=429, headers={"Retry-After": "2"}), Reply()) as server:
        api = backend(server.url)
        text = "".join(api.stream(MESSAGES))
    assert text == "Hello there."
    assert len(server.requests) == 2
    assert api.waits == [2.0]


def test_503_is_retried_with_backoff_then_reported():
    with FaultServer(Reply(status=503)) as server:
        api = backend(server.url, retries=2, backoff_s=0.5)
        with pytest.raises(BackendError) as info:
            list(api.stream(MESSAGES))
    assert len(server.requests) == 3
    assert len(api.waits) == 2 and api.waits[1] > api.waits[0] > 0
    assert "HTTP 503" in info.value.message


def test_a_stream_broken_before_the_first_token_is_retried():
    with FaultServer(Reply(break_after=0), Reply()) as server:
        api = backend(server.url)
        assert "".join(api.stream(MESSAGES)) == "Hello there."
    assert len(server.requests) == 2


def test_a_stream_broken_after_the_first_token_fails_clearly():
    with FaultServer(Reply(pieces=("one", " two", " three"), break_after=2), Reply()) as server:
        api = backend(server.url)
        got = []
        stream = api.stream(MESSAGES)
        with pytest.raises(BackendError) as info:
            for piece in stream:
                got.append(piece)
    assert got == ["one", " two"]
    assert len(server.requests) == 1
    assert "broke after 2 tokens" in info.value.message
    assert stream.stats is not None and stream.stats.new_tokens == 2


def test_a_stream_that_ends_without_finishing_is_an_error():
    with FaultServer(Reply(pieces=("x",), finish=False)) as server:
        api = backend(server.url, retries=0)
        with pytest.raises(BackendError, match="broke after 1 tokens"):
            list(api.stream(MESSAGES))


def test_timeout_gives_up_with_the_setting_to_change():
    with FaultServer(Reply(hang_s=3.0)) as server:
        api = backend(server.url, timeout=0.5)
        with pytest.raises(BackendError) as info:
            list(api.stream(MESSAGES))
    assert "did not answer within 0.5 s" in info.value.message
    assert "api_timeout" in info.value.hint


def test_server_down_is_one_clear_line_after_retries():
    url = f"http://127.0.0.1:{free_port()}"
    api = backend(url, retries=1)
    with pytest.raises(BackendError) as info:
        list(api.stream(MESSAGES))
    assert info.value.message.startswith(f"cannot reach the API at {url}")
    assert "\n" not in info.value.message
    assert len(api.waits) == 1


def test_cancel_while_the_server_is_still_thinking():
    import threading

    cancel = threading.Event()
    with FaultServer(Reply(hang_s=2.0)) as server:
        def cancel_once_asked():
            while not server.requests:
                threading.Event().wait(0.01)
            cancel.set()

        threading.Thread(target=cancel_once_asked).start()
        api = backend(server.url, timeout=30)
        stream = api.stream(MESSAGES, cancel=cancel)
        assert list(stream) == []
        assert server.finished == []  # returned before the server even answered
    assert stream.stats.new_tokens == 0


def test_no_token_and_no_base_url_names_both_fixes():
    with pytest.raises(BackendError) as info:
        ApiBackend(model="Qwen/Qwen2.5-14B-Instruct", token=None)
    assert "HF_TOKEN" in info.value.hint and "hf auth login" in info.value.hint


def test_describe_names_the_url_or_the_model():
    assert ApiBackend(model="m", base_url="http://h:1/v1/", token=None).describe() == "api:http://h:1/v1"
    assert ApiBackend(model="Qwen/Q", token=SECRET).describe() == "api:Qwen/Q"


def test_offline_mode_is_reported_not_retried(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with FaultServer(Reply()) as server:
        api = backend(server.url)
        with pytest.raises(BackendError, match="HF_HUB_OFFLINE"):
            list(api.stream(MESSAGES))
    assert api.waits == [] and server.requests == []


def test_retry_after_reads_seconds_and_http_dates():
    class Response:
        def __init__(self, value):
            self.headers = {"retry-after": value}

    assert retry_after(Response("3")) == 3.0
    assert retry_after(Response("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0
    assert retry_after(Response("soon")) is None


def test_token_estimate_is_plausible():
    assert estimate_tokens("") == 0
    assert 2 <= estimate_tokens("hello world") <= 4
    assert estimate_tokens("안녕하세요") == 5
