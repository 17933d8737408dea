"""Pure parts, no model: stop strings over a stream, chat templates, VRAM arithmetic."""

from __future__ import annotations

import pytest

from ragchat.errors import ConfigError, ModelError
from ragchat.llm.stops import StopFilter
from ragchat.llm.templates import CHATML, ChatTemplate, template_from_tokenizer_config
from ragchat.models import vram

# The non-tool part of Qwen2.5-Instruct's chat_template (tokenizer_config.json), verbatim logic.
QWEN_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
    "assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if (message.role == 'user') or (message.role == 'system' and not loop.first) "
    "or (message.role == 'assistant') %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
QWEN_CONFIG = {"chat_template": QWEN_TEMPLATE, "eos_token": "<|im_end|>", "bos_token": None,
               "pad_token": "<|endoftext|>"}


def feed_all(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    f = StopFilter(stops)
    out = "".join(f.feed(p) for p in pieces)
    return out + f.flush(), f.stopped


@pytest.mark.parametrize("pieces", [["Hello END more"], ["Hel", "lo E", "N", "D more"],
                                    list("Hello END more")])
def test_stop_string_split_across_pieces(pieces):
    assert feed_all(["END"], pieces) == ("Hello ", True)


def test_partial_stop_at_the_end_is_released():
    assert feed_all(["END"], ["Hello E", "N"]) == ("Hello EN", False)


def test_earliest_of_several_stops_wins():
    assert feed_all(["world", "lo"], ["Hello world"]) == ("Hel", True)


def test_no_stops_passes_through():
    f = StopFilter(["", ""])
    assert f.feed("abc") == "abc" and f.flush() == ""


def test_text_is_held_only_while_it_may_become_a_stop():
    f = StopFilter(["</answer>"])
    assert f.feed("a <") == "a "
    assert f.feed("b") == "<b"


def test_qwen_template_renders_chatml_with_default_system():
    template = template_from_tokenizer_config(QWEN_CONFIG)
    text = template.render([{"role": "user", "content": "Hi"}])
    assert text == ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                    "assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert template.eos_token == "<|im_end|>" and template.bos_token == ""


def test_appending_turns_only_appends_text():
    template = template_from_tokenizer_config(QWEN_CONFIG)
    turn1 = [{"role": "system", "content": "Rules."}, {"role": "user", "content": "Q1"}]
    turn2 = turn1 + [{"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}]
    assert template.render(turn2).startswith(template.render(turn1))


def test_list_of_named_templates_and_missing_template():
    named = {"chat_template": [{"name": "tool_use", "template": "x"},
                               {"name": "default", "template": "{{ messages[0]['content'] }}"}]}
    assert template_from_tokenizer_config(named).render([{"role": "user", "content": "y"}]) == "y"
    assert template_from_tokenizer_config({}).source == CHATML


def test_block_content_and_bad_roles():
    t = ChatTemplate(CHATML)
    blocks = [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]
    assert "user\nab<|im_end|>" in t.render([{"role": "user", "content": blocks}])
    with pytest.raises(ModelError, match="unknown chat role"):
        t.render([{"role": "wizard", "content": "x"}])


def test_template_errors_become_model_errors():
    t = ChatTemplate("{{ raise_exception('only user and assistant roles') }}")
    with pytest.raises(ModelError, match="only user and assistant roles"):
        t.render([{"role": "user", "content": "x"}])


@pytest.mark.parametrize(("text", "kind"), [("q8", "Q8"), ("Q6", "Q6"), ("4", "Q4"),
                                            ("fp16", "FP16"), ("F16", "FP16"), (" q_4 ", "Q4")])
def test_cache_types(text, kind):
    assert vram.parse_cache_type(text) == kind


@pytest.mark.parametrize("text", ["FP8", "8bit", "Q5", "huge"])
def test_bad_cache_types(text):
    with pytest.raises(ConfigError):
        vram.parse_cache_type(text)


def test_qwen_14b_kv_cache_per_token_matches_the_known_figures():
    kib = {t: vram.kv_bytes_per_token(vram.QWEN25_14B, t) / 1024 for t in vram.CACHE_BITS}
    assert kib == {"FP16": 192.0, "Q8": 102.0, "Q6": 78.0, "Q4": 54.0}


def test_qwen_14b_sizes():
    shape = vram.QWEN25_14B
    assert 14.6e9 < shape.params < 14.9e9
    assert 28e9 < shape.params * 2 < 32e9  # FP16: does not fit a 24 GB card
    assert 7e9 < vram.weight_bytes(shape, 4.25) < 8.5e9


def test_fit_context_is_a_page_multiple_capped_by_the_model():
    per_token = vram.kv_bytes_per_token(vram.QWEN25_14B, "Q8")
    weights = int(7.6e9)
    free_24gb = int(23.5 * vram.GiB)
    tokens = vram.fit_context(free_24gb, weights, per_token, 1_000_000)
    assert tokens % vram.PAGE == 0
    assert vram.need_bytes(weights, per_token, tokens) <= free_24gb
    assert vram.need_bytes(weights, per_token, tokens + vram.PAGE) > free_24gb
    assert vram.fit_context(free_24gb, weights, per_token, 32768) == 32768
    assert vram.fit_context(int(8 * vram.GiB), weights, per_token, 32768) == 0


def test_configured_context_is_rounded_to_a_page():
    assert vram.plan_context(0, 0, 1, 32768, requested=5000) == 4864
    assert vram.plan_context(0, 0, 1, 32768, requested=100000) == 32768
    with pytest.raises(ConfigError):
        vram.check_context(100, 32768)


def test_shape_from_config_json():
    cfg = {"num_hidden_layers": 48, "hidden_size": 5120, "num_attention_heads": 40,
           "num_key_value_heads": 8, "intermediate_size": 13824, "vocab_size": 152064,
           "max_position_embeddings": 32768}
    assert vram.ModelShape.from_config(cfg) == vram.QWEN25_14B
