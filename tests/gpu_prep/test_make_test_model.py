"""The random-weight test models: real SmolLM2 tokenizer, Qwen2 shape, files ExLlamaV2 and
ragchat read, and reference logits that transformers reproduces from the saved files."""

from __future__ import annotations

import json

import pytest
from make_test_model import (
    PRESETS,
    compat_config,
    main,
    param_count,
    resolve_shape,
    tokenizer_info,
)

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_model(tokenizer_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "model"
    ref = out.parent / "ref.pt"
    code = main(["model", "--preset", "tiny", "--tokenizer", str(tokenizer_dir), "--out", str(out),
                 "--reference-out", str(ref), "--reference-tokens", "48"])
    assert code == 0
    return out, ref


def test_tokenizer_has_chatml_template_and_special_ids(tokenizer_dir):
    info = tokenizer_info(tokenizer_dir)
    assert info.vocab == 49152
    assert info.eos_id is not None and info.bos_id is not None
    config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text())
    assert "<|im_start|>" in config["chat_template"]
    assert (tokenizer_dir / "chat_template.jinja").read_text() == config["chat_template"]


def test_saved_model_is_a_qwen2_folder(tiny_model):
    out, _ = tiny_model
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"]
    assert config["num_hidden_layers"] == 2 and config["hidden_size"] == 128
    assert config["vocab_size"] == 49152 and config["rope_theta"] == 1e6
    assert "sliding_window" not in config
    assert list(out.glob("*.safetensors"))
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        assert (out / name).is_file()
    report = json.loads((out / "test_model.json").read_text())
    assert report["params"] == sum(
        t.numel() for t in _load_state(out).values())


def _load_state(folder):
    from safetensors.torch import load_file

    state = {}
    for path in folder.glob("*.safetensors"):
        state.update(load_file(str(path)))
    return state


def test_weights_are_random_and_non_trivial(tiny_model):
    state = _load_state(tiny_model[0])
    norm = state["model.layers.0.input_layernorm.weight"].float()
    bias = state["model.layers.0.self_attn.q_proj.bias"].float()
    assert norm.std() > 0.01 and bias.abs().max() > 0  # not the default ones and zeros
    assert all(t.dtype == torch.float16 for t in state.values())


def test_reference_logits_match_a_reload_with_transformers(tiny_model):
    from transformers import AutoModelForCausalLM

    out, ref_path = tiny_model
    ref = torch.load(str(ref_path))
    assert ref["logits"].shape == (48, 49152) and ref["dtype"] == "float32"
    model = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32)
    with torch.no_grad():
        logits = model(input_ids=ref["input_ids"].view(1, -1)).logits[0]
    assert torch.allclose(logits, ref["logits"], atol=1e-3)
    assert 1.5 < float(ref["logits"].std()) < 6  # --logit-std 3: a peaked distribution


def test_ragchat_reads_the_folder(tiny_model):
    from ragchat.llm import vram
    from ragchat.llm.exl2 import load_template
    from ragchat.llm.models import read_json

    out, _ = tiny_model
    template = load_template(out)
    prompt = template.render([{"role": "system", "content": "S"},
                              {"role": "user", "content": "Q"}])
    assert prompt.endswith("<|im_start|>assistant\n") and "<|im_start|>user\nQ<|im_end|>" in prompt
    shape = vram.ModelShape.from_config(read_json(out / "config.json"))
    assert (shape.layers, shape.kv_heads, shape.head_dim) == (2, 2, 32)


def test_qwen14b_preset_has_the_real_model_size():
    from ragchat.llm.vram import QWEN25_14B

    shape = PRESETS["qwen14b"]
    assert (shape.layers, shape.hidden, shape.heads, shape.kv_heads, shape.intermediate) == \
        (48, 5120, 40, 8, 13824)
    ours = param_count(shape, shape.vocab)
    assert ours == pytest.approx(QWEN25_14B.params, rel=1e-3)  # only biases and norms differ
    assert 14.5e9 < ours < 15e9


def test_shape_overrides_and_checks():
    assert resolve_shape("qwen14b", {"layers": 2, "vocab": None}).layers == 2
    with pytest.raises(SystemExit):
        resolve_shape("tiny", {"heads": 3})


def test_compat_config_for_older_readers():
    config = {"rope_parameters": {"rope_theta": 5e5, "rope_type": "default"},
              "use_sliding_window": False, "sliding_window": 4096, "dtype": "float16"}
    fixed = compat_config(config)
    assert fixed["rope_theta"] == 5e5 and "sliding_window" not in fixed
    assert fixed["torch_dtype"] == "float16" and fixed["architectures"] == ["Qwen2ForCausalLM"]
    kept = compat_config({"rope_theta": 1e4, "use_sliding_window": True, "sliding_window": 8})
    assert kept["rope_theta"] == 1e4 and kept["sliding_window"] == 8


def test_embedder_is_a_sentence_transformers_folder(tokenizer_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "embedder"
    assert main(["embedder", "--tokenizer", str(tokenizer_dir), "--out", str(out)]) == 0
    model = SentenceTransformer(str(out), device="cpu")
    vectors = model.encode(["hello world", "a second, longer sentence"], normalize_embeddings=True)
    assert vectors.shape == (2, 64)
    assert abs(float((vectors[0] ** 2).sum()) - 1) < 1e-4
