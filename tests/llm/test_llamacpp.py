"""The embedded backend with the real tiny model: template, truthful cache accounting, limits."""

from __future__ import annotations

import pytest

from ragchat.errors import BackendError, ModelError

USER = {"role": "user", "content": "Say hello."}


def test_prompt_uses_the_models_own_chat_template(llama_backend):
    text = llama_backend.template.render([USER])
    # SmolLM2's template (from the GGUF metadata) adds its own system turn when none is given.
    assert text.startswith("<|im_start|>system\n")
    assert text.endswith("<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n")
    ids = llama_backend.prompt_tokens([USER])
    start = llama_backend._ctx.tokenize("<|im_start|>", add_bos=False, special=True)
    assert ids[0] == start[0]  # special tokens are tokens, not text


def test_cached_tokens_are_the_common_prefix(llama_backend):
    first = [{"role": "system", "content": "Be brief."}, USER]
    other = [{"role": "system", "content": "Be long and detailed."}, USER]
    llama_backend.generate(first, max_new_tokens=2)
    ids_first = llama_backend.prompt_tokens(first)
    ids_other = llama_backend.prompt_tokens(other)
    common = next(i for i, (a, b) in enumerate(zip(ids_first, ids_other, strict=False)) if a != b)
    assert llama_backend.complete(other, max_new_tokens=2).stats.cached_tokens == common
    # the same prompt again: all but the last token come from the cache
    again = llama_backend.complete(other, max_new_tokens=2).stats
    assert again.cached_tokens == len(ids_other) - 1


def test_cache_survives_a_cancelled_generation(llama_backend):
    import threading

    cancel = threading.Event()
    for _ in llama_backend.stream([USER], max_new_tokens=50, cancel=cancel):
        cancel.set()
    stats = llama_backend.complete([USER], max_new_tokens=2).stats
    assert stats.cached_tokens == stats.prompt_tokens - 1


def test_a_seed_makes_sampled_answers_repeat(llama_backend, gguf_path, monkeypatch):
    story = [{"role": "user", "content": "Tell me a story about a fox."}]
    try:
        llama_backend.seed = 7
        runs = {llama_backend.generate(story, max_new_tokens=40, temperature=1.0)
                for _ in range(3)}
    finally:
        llama_backend.seed = None
    assert len(runs) == 1  # without the seed, three runs at temperature 1 differ
    from ragchat.config import load_settings
    from ragchat.llm import build_backend

    monkeypatch.setenv("RAGCHAT_GGUF_MODEL", str(gguf_path))
    monkeypatch.setenv("RAGCHAT_SEED", "7")
    answers = []
    for _ in range(2):  # the setting, in two loads of the model (as two runs of ragchat)
        seeded = build_backend("llamacpp", load_settings())
        try:
            assert seeded.seed == 7
            answers.append(seeded.generate(story, max_new_tokens=40, temperature=1.0))
        finally:
            seeded.close()
    assert answers[0] == answers[1]


def test_count_tokens(llama_backend):
    assert llama_backend.count_tokens("") == 0
    assert 1 <= llama_backend.count_tokens("hello world") <= 4


def test_prompt_longer_than_the_context_is_a_clear_error(llama_backend):
    long = {"role": "user", "content": "word " * (llama_backend.context_length + 10)}
    with pytest.raises(BackendError) as info:
        list(llama_backend.stream([long], max_new_tokens=2))
    assert "llamacpp_ctx" in info.value.hint


def test_missing_model_file(tmp_path):
    from ragchat.llm.llamacpp import LlamaCppBackend

    with pytest.raises(ModelError, match="not found"):
        LlamaCppBackend(tmp_path / "nope.gguf")


def test_a_file_that_is_not_a_model(tmp_path):
    from ragchat.llm.llamacpp import LlamaCppBackend

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file" * 100)
    with pytest.raises(ModelError, match="cannot load"):
        LlamaCppBackend(bad)


def test_default_threads_leave_cores_free():
    from ragchat.llm.llamacpp import default_threads

    assert default_threads() >= 1


def test_cancel_during_prefill_stops_between_chunks(llama_backend, monkeypatch):
    import threading

    from ragchat.llm.llamacpp import PREFILL_FIRST_CHUNK

    cancel = threading.Event()
    real_eval = llama_backend._ctx.eval
    chunks = []

    def eval_then_cancel(tokens):
        chunks.append(len(tokens))
        real_eval(tokens)
        cancel.set()  # as if Ctrl-C came while this chunk ran

    long = [{"role": "user", "content": "Tell me about rivers. " * 30}]
    llama_backend._ctx.keep_prefix(0)
    monkeypatch.setattr(llama_backend._ctx, "eval", eval_then_cancel)
    stream = llama_backend.stream(long, max_new_tokens=5, cancel=cancel, temperature=0.2)
    assert list(stream) == []
    assert chunks == [PREFILL_FIRST_CHUNK]
    assert stream.stats.new_tokens == 0
    monkeypatch.undo()
    assert llama_backend.complete(long, max_new_tokens=1).stats.cached_tokens == PREFILL_FIRST_CHUNK


@pytest.mark.parametrize("step_s", [0.0001, 100.0])
def test_a_reproducible_call_splits_its_prefill_the_same_whatever_the_speed(
        llama_backend, monkeypatch, step_s):
    """Greedy (or seeded) calls prefill in fixed chunks: the split decides the logits' last
    bits, and a split sized from the measured speed changed greedy answers between runs."""
    import ragchat.llm.llamacpp as llamacpp

    monkeypatch.setattr(llamacpp, "PREFILL_STEP_S", step_s)  # a slow or a fast machine
    real_eval = llama_backend._ctx.eval
    chunks: list[int] = []

    def record(tokens):
        chunks.append(len(tokens))
        real_eval(tokens)

    long = [{"role": "user", "content": "Tell me about rivers. " * 40}]
    llama_backend._ctx.keep_prefix(0)
    monkeypatch.setattr(llama_backend._ctx, "eval", record)
    llama_backend.complete(long, max_new_tokens=1, temperature=0.0)
    assert len(chunks) > 2 and set(chunks[:-1]) == {llamacpp.PREFILL_FIXED_CPU}
    chunks.clear()
    llama_backend._ctx.keep_prefix(0)
    llama_backend.complete(long, max_new_tokens=1, temperature=0.7)  # sampled: by speed
    assert chunks[0] == llamacpp.PREFILL_FIRST_CHUNK
