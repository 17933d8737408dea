"""The API backend against scripted loopback servers: errors, retries, broken streams, usage,
cache statistics, keys and model discovery.

Your own server (any `--api-base` that is not Hugging Face's) is tested with HF_HUB_OFFLINE=1
and TRANSFORMERS_OFFLINE=1 set, as an air-gapped site runs: those switches govern the hub,
not your server. The Hugging Face router is tested through the hub's client, with the
router's address moved to loopback. (The same backend runs the full contract against a
real llama.cpp server in test_contract.py.)
"""

from __future__ import annotations

import threading

import pytest
from llm_http import FaultServer, Reply, free_port

from ragchat.errors import BackendError
from ragchat.llm.api import ApiBackend, api_backend, estimate_tokens, retry_after
from ragchat.llm.api_client import is_hf_url, offline_variable, openai_base

MESSAGES = [{"role": "user", "content": "Hello?"}]
SECRET = "sk-not-a-real-key-0123456789"
HF_SECRET = "hf_not_a_real_token_0123456789"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Both hub offline switches on, as the process would see them from its start."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


def backend(url: str, **kwargs) -> ApiBackend:
    kwargs.setdefault("timeout", 5.0)
    api = ApiBackend(model="some/model", base_url=url, token=kwargs.pop("token", None), **kwargs)
    api.waits = []

    def pause(seconds, cancel):  # record the waits instead of sleeping through them
        api.waits.append(seconds)
        return False

    api.pause = pause
    return api


def settings_for(monkeypatch, **values):
    """Real settings resolved from RAGCHAT_* variables, as a user's config would give them."""
    from ragchat.config import load_settings

    for key, value in values.items():
        monkeypatch.setenv(f"RAGCHAT_{key.upper()}", str(value))
    return load_settings()


# -- your own server, with the hub's offline switches on --------------------------------------

pytestmark = pytest.mark.usefixtures("offline")


def test_streams_text_and_sends_the_request_openai_style():
    with FaultServer(Reply(pieces=("Hel", "lo", "!"))) as server:
        api = backend(server.url, token=SECRET)
        text = "".join(api.stream(MESSAGES, max_new_tokens=7, temperature=0.0, stop=["END"]))
    assert text == "Hello!"
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"  # /v1 added to a bare host:port
    body = request["json"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 7 and body["stop"] == ["END"] and body["model"] == "some/model"
    assert body["messages"] == MESSAGES
    assert request["headers"]["authorization"] == f"Bearer {SECRET}"


def test_base_urls_are_completed_to_where_openai_servers_answer():
    assert openai_base("http://gpu-box:8000") == "http://gpu-box:8000/v1"
    assert openai_base("http://gpu-box:8000/v1/") == "http://gpu-box:8000/v1"
    assert openai_base("http://h:1/v1/chat/completions") == "http://h:1/v1"
    assert openai_base("https://h/openai/v1") == "https://h/openai/v1"
    assert is_hf_url("") and is_hf_url("https://xyz.endpoints.huggingface.cloud")
    assert is_hf_url("https://router.huggingface.co/v1")
    assert not is_hf_url("http://127.0.0.1:8080/v1") and not is_hf_url("http://huggingface.lan")


def test_usage_and_cached_tokens_come_from_the_server():
    usage = {"prompt_tokens": 50, "completion_tokens": 3, "total_tokens": 53,
             "prompt_tokens_details": {"cached_tokens": 32}}
    with FaultServer(Reply(usage=usage)) as server:
        stats = backend(server.url).complete(MESSAGES).stats
    assert (stats.prompt_tokens, stats.cached_tokens, stats.new_tokens) == (50, 32, 3)
    assert stats.estimated is False and stats.cache_known is True


def test_llama_server_timings_give_the_cache_when_usage_does_not():
    usage = {"prompt_tokens": 40, "completion_tokens": 3, "total_tokens": 43}
    timings = {"cache_n": 28, "prompt_n": 12, "predicted_n": 3}
    with FaultServer(Reply(usage=usage, timings=timings)) as server:
        stats = backend(server.url).complete(MESSAGES).stats
    assert (stats.prompt_tokens, stats.cached_tokens, stats.new_tokens) == (40, 28, 3)
    assert stats.cache_known is True and stats.estimated is False


def test_llama_server_timings_alone_are_enough():
    with FaultServer(Reply(timings={"cache_n": 30, "prompt_n": 10, "predicted_n": 3})) as server:
        stats = backend(server.url).complete(MESSAGES).stats
    assert (stats.prompt_tokens, stats.cached_tokens, stats.new_tokens) == (40, 30, 3)
    assert stats.cache_known is True and stats.estimated is False


def test_a_server_that_does_not_report_its_cache_leaves_it_unknown():
    usage = {"prompt_tokens": 50, "completion_tokens": 3, "total_tokens": 53}  # vLLM's default
    with FaultServer(Reply(usage=usage)) as server:
        stats = backend(server.url).complete(MESSAGES).stats
    assert (stats.prompt_tokens, stats.new_tokens) == (50, 3)
    assert stats.cache_known is False and stats.cached_tokens == 0 and not stats.estimated


def test_without_usage_counts_are_estimated():
    with FaultServer(Reply(pieces=("a", "b", "c", "d"))) as server:
        stats = backend(server.url).complete(MESSAGES).stats
    assert stats.new_tokens == 4 and stats.estimated is True
    assert stats.prompt_tokens > 0 and stats.cache_known is False


def test_401_without_a_key_names_the_setting_for_one():
    with FaultServer(Reply(status=401)) as server:
        api = backend(server.url)
        with pytest.raises(BackendError) as info:
            list(api.stream(MESSAGES))
    assert len(server.requests) == 1
    assert "wants a key (HTTP 401)" in info.value.message
    assert "api_key_env" in info.value.hint and "HF_TOKEN" not in str(info.value)


def test_the_key_comes_from_the_variable_api_key_env_names_and_is_never_shown(monkeypatch):
    monkeypatch.setenv("TEAM_LLM_KEY", SECRET)
    monkeypatch.setenv("HF_TOKEN", HF_SECRET)
    with FaultServer(Reply(), Reply(status=401)) as server:
        api = api_backend(settings_for(monkeypatch, api_base=server.url, api_model="m",
                                       api_key_env="TEAM_LLM_KEY"))
        api.pause = lambda seconds, cancel: False
        assert "".join(api.stream(MESSAGES)) == "Hello there."
        with pytest.raises(BackendError) as info:
            list(api.stream(MESSAGES))
    assert [r["headers"]["authorization"] for r in server.requests] == [f"Bearer {SECRET}"] * 2
    assert "refused the key in TEAM_LLM_KEY (HTTP 401)" in info.value.message
    assert SECRET not in str(info.value) and SECRET not in repr(api)
    assert SECRET not in repr(api.target)


def test_a_hugging_face_token_is_not_sent_to_your_own_server(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", HF_SECRET)
    with FaultServer(Reply()) as server:
        api = api_backend(settings_for(monkeypatch, api_base=server.url, api_model="m"))
        "".join(api.stream(MESSAGES))
    assert HF_SECRET not in server.requests[0]["headers"].get("authorization", "")


def test_api_key_env_naming_an_unset_variable_says_which(monkeypatch):
    monkeypatch.delenv("TEAM_LLM_KEY", raising=False)
    with pytest.raises(BackendError) as info:
        api_backend(settings_for(monkeypatch, api_base="http://127.0.0.1:9/v1",
                                 api_key_env="TEAM_LLM_KEY"))
    assert info.value.message == "api_key_env names TEAM_LLM_KEY, which is not set"
    assert "RAGCHAT_API_KEY_ENV" in info.value.hint


def test_the_model_is_the_servers_own_when_api_model_is_not_set(monkeypatch):
    with FaultServer(Reply(), models=["served-model"]) as server:
        api = api_backend(settings_for(monkeypatch, api_base=server.url))
        "".join(api.stream(MESSAGES))
        "".join(api.stream(MESSAGES))
    paths = [r["path"] for r in server.requests]
    assert paths == ["/v1/models", "/v1/chat/completions", "/v1/chat/completions"]
    assert server.requests[1]["json"]["model"] == "served-model"


def test_the_seed_setting_is_sent_and_left_out_when_unset(monkeypatch):
    from ragchat.llm import build_backend

    with FaultServer(Reply(), models=["m"]) as server:
        seeded = build_backend("api", settings_for(monkeypatch, api_base=server.url, seed=11))
        "".join(seeded.stream(MESSAGES))
        monkeypatch.delenv("RAGCHAT_SEED")
        unseeded = build_backend("api", settings_for(monkeypatch, api_base=server.url))
        "".join(unseeded.stream(MESSAGES))
    chats = [r["json"] for r in server.requests if r["path"] == "/v1/chat/completions"]
    assert chats[0]["seed"] == 11 and "seed" not in chats[1]


def test_api_model_when_set_is_sent_as_it_is(monkeypatch):
    with FaultServer(Reply(), models=["served-model"]) as server:
        api = api_backend(settings_for(monkeypatch, api_base=server.url, api_model="mine"))
        "".join(api.stream(MESSAGES))
    assert [r["path"] for r in server.requests] == ["/v1/chat/completions"]
    assert server.requests[0]["json"]["model"] == "mine"


def test_several_served_models_ask_for_api_model(monkeypatch):
    with FaultServer(Reply(), models=["a", "b"]) as server:
        api = api_backend(settings_for(monkeypatch, api_base=server.url))
        with pytest.raises(BackendError) as info:
            list(api.stream(MESSAGES))
    assert "serves 2 models (a, b)" in info.value.message and "--api-model" in info.value.hint


def test_a_server_without_a_model_list_gets_the_default_name(monkeypatch):
    with FaultServer(Reply()) as server:  # GET /v1/models: 404
        api = api_backend(settings_for(monkeypatch, api_base=server.url))
        "".join(api.stream(MESSAGES))
    assert server.requests[-1]["json"]["model"] == "Qwen/Qwen2.5-14B-Instruct"


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
    url = f"http://127.0.0.1:{free_port()}/v1"
    api = backend(url, retries=1)
    with pytest.raises(BackendError) as info:
        list(api.stream(MESSAGES))
    assert info.value.message.startswith(f"cannot reach the API at {url}")
    assert "\n" not in info.value.message and "--api-base" in info.value.hint
    assert "HF_HUB_OFFLINE" not in str(info.value)
    assert len(api.waits) == 1


def test_cancel_while_the_server_is_still_thinking():
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


def test_describe_names_the_url_or_the_model():
    assert ApiBackend(model="m", base_url="http://h:1/v1/", token=None).describe() == "api:http://h:1/v1"


# -- the Hugging Face router and endpoints -----------------------------------------------------

@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_the_hub_offline_switch_that_is_set_is_named(monkeypatch, variable):
    other = "TRANSFORMERS_OFFLINE" if variable == "HF_HUB_OFFLINE" else "HF_HUB_OFFLINE"
    monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(variable, "1")
    assert offline_variable() == variable
    for url in ("", "https://xyz.endpoints.huggingface.cloud"):
        with pytest.raises(BackendError) as info:
            ApiBackend(model="Qwen/Q", base_url=url, token=HF_SECRET)
        assert info.value.message.startswith(f"{variable} is set")
        assert f"unset {variable}" in info.value.hint and "--api-base" in info.value.hint
        assert other not in str(info.value)


def test_hf_hub_offline_set_to_0_lets_the_hub_through(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # huggingface_hub then ignores TRANSFORMERS_OFFLINE
    assert offline_variable() is None


@pytest.fixture
def hub_router(monkeypatch, hub_online):
    """The router's address moved to a loopback fault server, hub access on."""
    from ragchat.llm import api_client

    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)

    def serve(*replies):
        server = FaultServer(*replies)
        monkeypatch.setattr(api_client, "HF_ROUTER", server.url + "/v1")
        return server

    return serve


def test_the_router_is_called_through_the_hub_client_with_the_hf_token(hub_router):
    with hub_router(Reply(pieces=("Hi", "!"))) as server:
        api = backend("", token=HF_SECRET)
        assert api.target.kind == "hf"
        assert "".join(api.stream(MESSAGES)) == "Hi!"
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {HF_SECRET}"
    assert request["json"]["model"] == "some/model"


def test_the_router_refusing_the_token_names_hf_token(hub_router):
    with hub_router(Reply(status=401)) as server:
        api = backend("", token=HF_SECRET)
        with pytest.raises(BackendError) as info:
            list(api.stream(MESSAGES))
    assert len(server.requests) == 1
    assert "token" in info.value.message and "HF_TOKEN" in info.value.hint
    assert HF_SECRET not in str(info.value) and HF_SECRET not in repr(api)


def test_no_token_and_no_base_url_names_both_fixes(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE")
    with pytest.raises(BackendError) as info:
        ApiBackend(model="Qwen/Qwen2.5-14B-Instruct", token=None)
    assert "HF_TOKEN" in info.value.hint and "hf auth login" in info.value.hint
    assert ApiBackend(model="Qwen/Q", token=HF_SECRET).describe() == "api:Qwen/Q"


# -- small pieces --------------------------------------------------------------------------------

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


def test_the_clients_are_imported_only_when_a_call_is_made():
    import subprocess
    import sys

    code = ("import sys, ragchat.cli.main, ragchat.llm, ragchat.llm.api\n"
            "print('HEAVY', [m for m in ('openai', 'huggingface_hub', 'httpx') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
