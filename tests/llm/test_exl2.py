"""The exllamav2 backend without a GPU: the import guard, sizing, and the streaming loop driven
through a stand-in `exllamav2` package (tests/llm/fakes). The real engine runs the contract
suite in test_contract.py on a CUDA machine (marked `gpu`)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from ragchat.errors import BackendError, ModelError
from ragchat.llm import exl2
from ragchat.llm.probe import has_module

FAKES = Path(__file__).parent / "fakes"
QWEN_CONFIG = {"num_hidden_layers": 48, "hidden_size": 5120, "num_attention_heads": 40,
               "num_key_value_heads": 8, "intermediate_size": 13824, "vocab_size": 152064,
               "max_position_embeddings": 32768,
               "quantization_config": {"quant_method": "exl2", "bits": 4.25}}
TOKENIZER_CONFIG = {"eos_token": "<|im_end|>", "chat_template": (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")}


def _forget_exllamav2():
    for name in [m for m in sys.modules if m == "exllamav2" or m.startswith("exllamav2.")]:
        del sys.modules[name]


@pytest.fixture
def model_dir(tmp_path) -> Path:
    folder = tmp_path / "Qwen2.5-14B-Instruct-exl2--4_25"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(QWEN_CONFIG))
    (folder / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG))
    with open(folder / "output.safetensors", "wb") as f:
        f.truncate(int(9.2e9))  # sparse: the size of the real 4.25 bpw files
    return folder


@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend CUDA works with 24 GB free and put the stand-in exllamav2 first on sys.path."""
    if has_module("exllamav2") and exl2.cuda_available():
        pytest.skip("the real exllamav2 is usable here: test_contract covers it")
    monkeypatch.setattr(exl2, "cuda_available", lambda: True)
    monkeypatch.setattr(exl2, "free_vram", lambda: 24 * 1024**3)
    monkeypatch.syspath_prepend(str(FAKES))
    _forget_exllamav2()
    yield
    _forget_exllamav2()


def test_without_cuda_it_says_what_to_use_and_never_imports_exllamav2(monkeypatch):
    monkeypatch.setattr(exl2, "cuda_available", lambda: False)
    _forget_exllamav2()
    with pytest.raises(BackendError) as info:
        exl2.import_exllamav2()
    assert info.value.message == exl2.NEEDS_GPU
    assert "exllamav2" not in sys.modules


def test_the_oserror_of_its_jit_build_becomes_the_gpu_message(monkeypatch, tmp_path):
    package = tmp_path / "exllamav2"
    package.mkdir()
    (package / "__init__.py").write_text(
        "raise OSError('CUDA_HOME environment variable is not set. Please set it')\n")
    monkeypatch.setattr(exl2, "cuda_available", lambda: True)
    monkeypatch.syspath_prepend(str(tmp_path))
    _forget_exllamav2()
    try:
        with pytest.raises(BackendError) as info:
            exl2.import_exllamav2()
    finally:
        _forget_exllamav2()
    assert info.value.message == exl2.NEEDS_GPU
    assert "CUDA_HOME" in info.value.hint


def test_not_installed_says_how_to_install(monkeypatch):
    if has_module("exllamav2"):
        pytest.skip("exllamav2 is installed here")
    monkeypatch.setattr(exl2, "cuda_available", lambda: True)
    with pytest.raises(BackendError, match="not installed") as info:
        exl2.import_exllamav2()
    assert "exllamav2==0.3.2" in info.value.hint


def test_missing_model_points_at_model_pull(tmp_path):
    with pytest.raises(ModelError) as info:
        exl2.check_model_dir(None)
    assert "ragchat model pull" in info.value.hint
    with pytest.raises(ModelError, match="not an EXL2 model folder"):
        exl2.check_model_dir(tmp_path)


def test_context_is_sized_from_free_vram(model_dir):
    assert exl2.size_context(model_dir, "Q8", 0, 24 * 1024**3) == 32768
    small = exl2.size_context(model_dir, "FP16", 0, 14 * 1024**3)
    assert small % 256 == 0 and 2048 <= small < 32768
    assert exl2.size_context(model_dir, "Q8", 8192, 1) == 8192  # configured: taken as is


def test_too_little_vram_names_the_fixes(model_dir):
    with pytest.raises(BackendError) as info:
        exl2.size_context(model_dir, "Q8", 0, 8 * 1024**3)
    assert "not enough free GPU memory" in info.value.message
    assert "RAGCHAT_EXL2_CACHE" in info.value.hint and "model pull" in info.value.hint


def test_template_comes_from_the_model_folder(model_dir):
    (model_dir / "chat_template.jinja").write_text("{{ messages[0].content }}!")
    assert exl2.load_template(model_dir).render([{"role": "user", "content": "hi"}]) == "hi!"


def test_streams_with_stats_from_the_final_result(fake_gpu, model_dir):
    backend = exl2.ExLlamaV2Backend(model_dir, cache_type="q8")
    import exllamav2

    assert exllamav2.LOADED == [(str(model_dir), "ExLlamaV2Cache_Q8", 32768)]
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Count"}]
    assert "".join(backend.stream(messages, max_new_tokens=3)) == "one two three"
    stats = backend.last_stats
    assert (stats.new_tokens, stats.cached_tokens) == (3, 0)
    assert stats.prompt_tokens == backend.prompt_ids(messages).shape[-1]
    assert stats.ttft_s == pytest.approx(0.011) and stats.decode_tps == pytest.approx(2 / 0.06)
    # special tokens were encoded as tokens, and a follow-up turn reuses the prefix
    assert backend.prompt_ids(messages)[0, 0].item() == 1
    more = messages + [{"role": "assistant", "content": "one two three"},
                       {"role": "user", "content": "Again"}]
    list(backend.stream(more, max_new_tokens=2))
    assert backend.last_stats.cached_tokens >= stats.prompt_tokens - 1
    backend.close()


def test_stop_strings_and_cancellation(fake_gpu, model_dir):
    backend = exl2.ExLlamaV2Backend(model_dir)
    messages = [{"role": "user", "content": "Count"}]
    assert "".join(backend.stream(messages, max_new_tokens=8, stop=[" four"])) == "one two three"
    cancel = threading.Event()
    got = []
    for piece in backend.stream(messages, max_new_tokens=8, cancel=cancel):
        got.append(piece)
        cancel.set()
    assert got == ["one"]
    assert backend.last_stats.new_tokens == 1
    assert backend.generator.cancelled  # the job was taken off the generator


def test_out_of_memory_while_loading_is_explained(fake_gpu, model_dir, monkeypatch):
    monkeypatch.setattr(exl2, "size_context", lambda *a: 2_000_128)  # a page multiple
    with pytest.raises(BackendError) as info:
        exl2.ExLlamaV2Backend(model_dir)
    assert "out of GPU memory" in info.value.message
    assert "RAGCHAT_MAX_SEQ_LEN" in info.value.hint


def test_fp8_cache_is_refused_before_loading(fake_gpu, model_dir):
    from ragchat.errors import ConfigError

    with pytest.raises(ConfigError, match="FP8"):
        exl2.ExLlamaV2Backend(model_dir, cache_type="FP8")
