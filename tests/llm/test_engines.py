"""The engine table: every engine is one entry and one module, loaded lazily; an engine
registered through the real table is what `load_backend` loads; each model gets its
capabilities from the model registry and the presets."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from ragchat.config import load_settings
from ragchat.engines import BACKEND_CHOICES, Engine
from ragchat.llm import ENGINES, EngineEntry, build_backend, load_backend
from ragchat.llm.base import Backend, CallStats, Request
from ragchat.models.capabilities import DEFAULT, DEMO, QWEN25_INSTRUCT
from ragchat.models.presets import PRESETS, capabilities_of
from ragchat.models.registry import local_dir_for


def test_every_engine_has_one_entry_and_its_module_defines_blocker_and_load():
    assert list(ENGINES) == list(Engine)
    assert BACKEND_CHOICES == ("auto", "exllamav2", "llamacpp", "api")
    for engine, entry in ENGINES.items():
        assert entry.engine is engine
        module = entry.implementation()
        assert callable(module.blocker) and callable(module.load), entry.module


def test_the_table_imports_no_engine_until_one_is_used():
    code = ("import sys, ragchat.llm, ragchat.cli.main\n"
            "loaded = [m for m in ('ragchat.llm.exl2', 'ragchat.llm.llamacpp', "
            "'ragchat.llm.api', 'llama_cpp', 'torch', 'exllamav2') if m in sys.modules]\n"
            "assert not loaded, loaded")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


class EchoBackend(Backend):
    name = Engine.API

    def describe(self) -> str:
        return "echo"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _generate(self, request: Request, call: CallStats):
        yield request.messages[-1]["content"]


def test_an_engine_registered_in_the_table_is_what_loads(monkeypatch):
    module = types.ModuleType("echo_engine")
    module.blocker = lambda settings: None  # type: ignore[attr-defined]
    module.load = lambda settings: EchoBackend()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "echo_engine", module)
    monkeypatch.setitem(ENGINES, Engine.API, EngineEntry(Engine.API, "echo_engine"))
    backend, choice = load_backend(load_settings({"backend": "api", "seed": 3}))
    assert isinstance(backend, EchoBackend) and choice.name == Engine.API
    assert backend.seed == 3 and backend.capabilities is DEFAULT
    assert backend.generate([{"role": "user", "content": "hello"}]) == "hello"


def test_an_unknown_engine_name_says_which_there_are():
    from ragchat.errors import BackendError

    with pytest.raises(BackendError) as info:
        build_backend("gpt5", load_settings())
    assert info.value.hint == "use exllamav2, llamacpp or api"


def test_each_model_gets_its_capabilities(gguf_path, tmp_path):
    assert capabilities_of(gguf_path) is DEMO
    assert capabilities_of(None) is DEFAULT
    assert capabilities_of(tmp_path / "mistral-7b-instruct.Q4_K_M.gguf") is DEFAULT
    for preset in PRESETS:
        folder = local_dir_for(preset.repo, preset.revision)
        path = folder / preset.file if preset.file else folder
        assert capabilities_of(path) is preset.capabilities is QWEN25_INSTRUCT
    assert capabilities_of(Path("elsewhere") / PRESETS[1].file) is QWEN25_INSTRUCT


def test_the_demo_capabilities_are_the_documented_ones():
    """docs/reference/config.md: 192 answer tokens, repeat penalty 1.15, scores, previous."""
    assert (DEMO.rewrites, DEMO.grades, DEMO.writes_cjk, DEMO.quotes_thin_answers,
            DEMO.max_paragraphs, DEMO.max_new_tokens, DEMO.repeat_penalty) == (
        False, False, False, True, 1, 192, 1.15)
    assert "SmolLM2-135M" in DEMO.caveat and not DEFAULT.caveat


def test_the_blockers_say_why_or_none(monkeypatch, ragchat_home):
    settings = load_settings()
    for entry in ENGINES.values():
        why = entry.blocker(settings)
        assert why is None or (isinstance(why, str) and why)
    monkeypatch.setenv("RAGCHAT_GGUF_MODEL", str(ragchat_home / "missing.gguf"))
    assert "does not exist" in ENGINES[Engine.LLAMACPP].blocker(load_settings())
    from ragchat.llm import api

    monkeypatch.setattr(api, "find_token", lambda: (None, "none"))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert "token" in ENGINES[Engine.API].blocker(load_settings())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert ENGINES[Engine.API].blocker(load_settings()) == "HF_HUB_OFFLINE is set"
    monkeypatch.setenv("RAGCHAT_API_BASE", "http://127.0.0.1:9/v1")
    assert ENGINES[Engine.API].blocker(load_settings()) is None


def test_the_exllamav2_loader_passes_the_settings_and_the_models_capabilities(monkeypatch):
    """Without a GPU: the backend class stands in, the loader's own code runs."""
    from ragchat.llm import exl2

    made = {}

    class StandIn(EchoBackend):
        def __init__(self, model_dir, **kwargs):
            made.update(kwargs, model_dir=model_dir)

    preset = PRESETS[0]
    folder = local_dir_for(preset.repo, preset.revision)
    monkeypatch.setattr(exl2, "ExLlamaV2Backend", StandIn)
    monkeypatch.setenv("RAGCHAT_EXL2_MODEL", str(folder))
    monkeypatch.setenv("RAGCHAT_EXL2_CACHE", "Q6")
    backend = build_backend("exllamav2", load_settings())
    assert isinstance(backend, StandIn) and backend.capabilities is QWEN25_INSTRUCT
    assert made == {"model_dir": folder, "cache_type": "Q6", "max_seq_len": 0,
                    "ngram_draft": False, "draft_model_dir": None}
