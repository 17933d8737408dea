"""Choosing a backend: flag > env > config > auto, the auto rule, and the API fallback."""

from __future__ import annotations

import json

import pytest
from llm_http import FaultServer, Reply

from ragchat.config import load_settings
from ragchat.errors import BackendError, ConfigError
from ragchat.llm import BackendChoice, exl2, load_backend, open_chat_model, resolve_backend
from ragchat.models.capabilities import DEMO


def test_the_flag_wins_and_says_so(monkeypatch):
    monkeypatch.setenv("RAGCHAT_BACKEND", "exllamav2")
    choice = resolve_backend(load_settings({"backend": "api"}))
    assert (choice.name, choice.source) == ("api", "flag")


def test_environment_then_config(monkeypatch, ragchat_home):
    config = ragchat_home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('backend = "llamacpp"\n')
    assert resolve_backend(load_settings()).source == "config"
    monkeypatch.setenv("RAGCHAT_BACKEND", "api")
    choice = resolve_backend(load_settings())
    assert (choice.name, choice.source) == ("api", "env")
    assert "RAGCHAT_BACKEND" in choice.reason


def test_auto_without_a_gpu_model_runs_the_embedded_model_and_says_why(monkeypatch):
    monkeypatch.setattr(exl2, "blocker", lambda s: "no CUDA GPU")
    choice = resolve_backend(load_settings())
    assert choice == BackendChoice(
        "llamacpp", "no local GPU model (no CUDA GPU): using the embedded CPU model", "auto")


def test_auto_prefers_the_api_when_it_is_the_configured_fallback(monkeypatch):
    monkeypatch.setattr(exl2, "blocker", lambda s: "no CUDA GPU")
    monkeypatch.setenv("RAGCHAT_API_FALLBACK", "1")
    choice = resolve_backend(load_settings())
    assert (choice.name, choice.source) == ("api", "auto")
    assert "api_fallback" in choice.reason


def test_auto_picks_exllamav2_when_everything_is_there(monkeypatch):
    monkeypatch.setattr(exl2, "blocker", lambda s: None)
    assert resolve_backend(load_settings()).name == "exllamav2"


def test_the_real_probe_on_this_machine_names_a_blocker_or_none():
    blocker = exl2.blocker(load_settings())
    assert blocker is None or isinstance(blocker, str)


def test_unknown_backend_is_a_config_error(monkeypatch):
    monkeypatch.setenv("RAGCHAT_BACKEND", "gpt5")
    with pytest.raises(ConfigError, match="not one of the choices") as info:
        resolve_backend(load_settings())
    assert "auto, exllamav2, llamacpp or api" in info.value.message
    monkeypatch.delenv("RAGCHAT_BACKEND")
    with pytest.raises(ConfigError, match="unknown backend") as info:  # past the settings
        resolve_backend(load_settings().with_values(backend="gpt5"))
    assert info.value.hint == "use auto, exllamav2, llamacpp or api"


def test_gpu_backend_failing_falls_back_to_the_api_and_says_why(monkeypatch, hub_online):
    from ragchat.llm import exl2

    monkeypatch.setattr(exl2, "cuda_available", lambda: False)
    with FaultServer(Reply()) as server:
        monkeypatch.setenv("RAGCHAT_API_FALLBACK", "true")
        settings = load_settings({"backend": "exllamav2", "api_base": server.url})
        backend, choice = load_backend(settings)
        assert backend.name == "api" and backend.describe() == f"api:{server.url}"
        assert choice.fallback_from == "exllamav2" and choice.source == "flag"
        assert exl2.NEEDS_GPU in choice.reason
        assert "".join(backend.stream([{"role": "user", "content": "hi"}])) == "Hello there."


def test_without_fallback_the_gpu_error_reaches_the_user(monkeypatch):
    from ragchat.llm import exl2

    monkeypatch.setattr(exl2, "cuda_available", lambda: False)
    with pytest.raises(BackendError) as info:
        load_backend(load_settings({"backend": "exllamav2"}))
    assert info.value.message == exl2.NEEDS_GPU


def test_api_without_token_names_hf_token(monkeypatch, hub_online):
    with pytest.raises(BackendError) as info:
        load_backend(load_settings({"backend": "api"}))
    assert "HF_TOKEN" in info.value.hint and "hf auth login" in info.value.hint


def test_open_chat_model_loads_the_embedded_model(monkeypatch, gguf_path):
    monkeypatch.setattr(exl2, "blocker", lambda s: "no CUDA GPU")
    monkeypatch.setenv("RAGCHAT_LLAMACPP_CTX", "1024")
    monkeypatch.setenv("RAGCHAT_MAX_NEW_TOKENS", "3")
    chat, choice = open_chat_model(load_settings())
    try:
        assert choice.name == "llamacpp" and chat.max_new_tokens == 3
        # the bundled model comes with its capabilities, and llama.cpp with its penalty
        assert chat.capabilities is DEMO and chat.backend.repeat_penalty == DEMO.repeat_penalty
        assert chat.backend.model_path == gguf_path and chat.backend.context_length == 1024
        reply = chat.invoke("Hi")
        assert reply.usage_metadata["output_tokens"] <= 3
    finally:
        chat.backend.close()


def test_model_use_selection_is_what_llamacpp_loads(monkeypatch, gguf_path, ragchat_home):
    from ragchat.models import registry as models

    copy = ragchat_home / "data" / "models" / "tiny.gguf"
    copy.parent.mkdir(parents=True)
    copy.symlink_to(gguf_path)
    models.select(models.describe(copy))
    assert json.loads(models.selection_path().read_text()) == {"gguf": str(copy)}
    path, why = models.resolve_gguf_model(load_settings())
    assert path == copy and "model use" in why
    monkeypatch.setenv("RAGCHAT_GGUF_MODEL", str(gguf_path))
    assert models.resolve_gguf_model(load_settings())[0] == gguf_path


def test_repetition_penalty_is_off_for_real_models_and_on_for_the_demo_one(monkeypatch, tmp_path):
    from ragchat.config import load_settings
    from ragchat.llm.llamacpp import repeat_penalty_for
    from ragchat.models.capabilities import DEMO
    from ragchat.models.presets import capabilities_of
    from ragchat.models.registry import resolve_gguf_model

    def penalty() -> float:
        settings = load_settings()
        return repeat_penalty_for(settings, capabilities_of(resolve_gguf_model(settings)[0]))

    assert penalty() == DEMO.repeat_penalty == 1.15  # the bundled model
    other = tmp_path / "Qwen2.5-7B-Instruct-Q4_K_M.gguf"
    other.write_bytes(b"GGUF")
    monkeypatch.setenv("RAGCHAT_GGUF_MODEL", str(other))
    assert penalty() == 1.0
    monkeypatch.setenv("RAGCHAT_LLAMACPP_REPEAT_PENALTY", "1.1")
    assert penalty() == 1.1  # set: taken as is


def test_gpu_layers_follow_the_build(monkeypatch):
    from ragchat import machine
    from ragchat.config import load_settings
    from ragchat.llm.llamacpp import gpu_layers_for

    cpu = machine.BuildInfo("0.3.36", ("CPU",), False)
    cuda = machine.BuildInfo("0.3.36", ("CUDA", "CPU"), True)
    monkeypatch.setattr(machine, "build_info", lambda: cpu)
    assert gpu_layers_for(load_settings()) == 0
    monkeypatch.setattr(machine, "build_info", lambda: cuda)
    assert gpu_layers_for(load_settings()) == -1  # all layers
    monkeypatch.setenv("RAGCHAT_LLAMACPP_GPU_LAYERS", "20")
    assert gpu_layers_for(load_settings()) == 20
