"""The adapter around llama-cpp-python, on the real library and the bundled model: every
private attribute ragchat relies on is exercised here, so an upgrade that moves one fails
this file first."""

from __future__ import annotations

import pytest

from ragchat.llm.llama_context import LlamaContext, gpu_layers
from ragchat.machine import BuildInfo, build_info


@pytest.fixture(scope="module")
def context(gguf_path):
    pytest.importorskip("llama_cpp")
    ctx = LlamaContext(gguf_path, n_ctx=512, n_threads=1, n_gpu_layers=0)
    yield ctx
    ctx.close()


def test_template_and_special_tokens(context):
    assert "<|im_start|>" in (context.chat_template or "")
    assert context.special_text("eos") == "<|im_end|>"
    assert context.special_text("bos") in ("", "<|im_start|>", "<|endoftext|>")
    assert context.layers == 30  # SmolLM2-135M's blocks
    end = context.tokenize("<|im_end|>", add_bos=False, special=True)
    assert len(end) == 1 and context.is_end_of_generation(end[0])
    word = context.tokenize(" hello", add_bos=False, special=False)
    assert not context.is_end_of_generation(word[0])
    assert context.detokenize(word) == b" hello"


def test_the_cache_keeps_a_prefix_and_evaluates_only_the_rest(context):
    ids = context.tokenize("The quick brown fox jumps over the lazy dog", add_bos=False,
                           special=False)
    context.keep_prefix(0)
    assert context.evaluated == 0 and context.cached_tokens() == []
    context.eval(ids)
    assert context.cached_tokens() == ids
    assert context.can_keep_prefix  # a transformer's cache can drop its end
    context.keep_prefix(4)
    assert context.evaluated == 4 and context.cached_tokens() == ids[:4]
    context.eval(ids[4:6])
    assert context.cached_tokens() == ids[:6]


def test_generate_yields_token_ids(context):
    ids = context.tokenize("<|im_start|>user\nSay hi<|im_end|>\n<|im_start|>assistant\n",
                           add_bos=False, special=True)
    context.keep_prefix(0)
    context.eval(ids[:-1])
    tokens = context.generate(ids, temp=0.0, top_k=40, top_p=0.95, min_p=0.05,
                              repeat_penalty=1.0)
    first = next(tokens)
    tokens.close()
    assert isinstance(first, int) and first >= 0
    assert context.detokenize([first])  # a token of the vocabulary: it has text


def test_build_info_names_the_backends():
    pytest.importorskip("llama_cpp")
    info = build_info()
    assert info is not None and "CPU" in info.backends
    assert info.gpu_offload is bool(info.gpu_backends) or info.gpu_offload is False


@pytest.mark.parametrize("requested, offload, layers", [
    (-1, True, -1), (-1, False, 0), (0, True, 0), (12, False, 12),
])
def test_gpu_layers_auto_offloads_everything_only_where_the_build_can(requested, offload, layers):
    info = BuildInfo("0.3", ("CUDA", "CPU") if offload else ("CPU",), offload)
    assert gpu_layers(requested, info) == layers
    assert gpu_layers(-1, None) == 0
