"""End to end: the real embedded model (SmolLM2-135M via llama.cpp) over a real index.

Asserts structure only (citations map to real files, statistics present, the KV cache
serves follow-ups), never the tiny model's wording.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ragchat.pipeline.parsing import cited_numbers
from ragchat.pipeline.result import NODES

from .docs_corpus import QUESTIONS, tiny_model_missing, write_docs

pytestmark = pytest.mark.slow

_missing = tiny_model_missing()


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    """Three turns in one process, as a user would have them."""
    if _missing:
        pytest.skip(_missing)
    from ragchat.config import load_settings
    from ragchat.ingest.ingester import ingest_paths
    from ragchat.pipeline.factory import open_pipeline

    base = tmp_path_factory.mktemp("e2e")
    docs = write_docs(base / "docs")
    saved = os.environ.get("RAGCHAT_HOME")
    os.environ["RAGCHAT_HOME"] = str(base / "home")
    try:
        settings = load_settings({"backend": "llamacpp", "max_new_tokens": 64, "temperature": 0.0})
        ingest_paths(settings, [docs])
        pipeline = open_pipeline(settings, persistent=False)
        try:
            results = [pipeline.ask(question) for question in QUESTIONS]
        finally:
            pipeline.close()
    finally:
        if saved is None:
            os.environ.pop("RAGCHAT_HOME", None)
        else:
            os.environ["RAGCHAT_HOME"] = saved
    for n, result in enumerate(results, start=1):  # shown with -s; the report quotes them
        calls = ", ".join(f"{c.node} {c.cached_tokens}/{c.prompt_tokens}" for c in result.llm_calls)
        print(f"turn {n}: cached/prompt {result.cache_ratio():.3f} ({calls})")
    return docs, results


def test_sources_are_real_files_and_citations_map_to_them(conversation):
    docs, results = conversation
    for result in results:
        assert result.answer.strip()
        for source in result.sources:
            assert Path(source.path).is_absolute() and Path(source.path).is_file()
            assert Path(source.path).parent == docs
            assert source.location and source.text.strip()
        assert set(cited_numbers(result.answer)) <= {s.n for s in result.sources}
    assert any(result.sources for result in results)


def test_every_llm_call_reports_its_statistics(conversation):
    _, results = conversation
    for result in results:
        assert result.backend == "llamacpp"
        assert set(result.timings) <= set(NODES)
        assert {"contextualize", "llm_answer", "save_memory"} <= set(result.timings)
        for call in result.llm_calls:
            assert call.prompt_tokens > 0 and call.new_tokens > 0
            assert 0 <= call.cached_tokens < call.prompt_tokens
            assert call.ttft_s > 0
            # one token has no decode interval; more must show a rate
            assert call.decode_tps > 0 if call.new_tokens > 1 else call.decode_tps == 0


def test_the_demo_model_is_spared_the_steps_it_cannot_do(conversation):
    """No rewrite or grading call: follow-ups search with the previous question (as typed), and
    relevance comes from the retrieval scores (the measured better choice for this model)."""
    _, results = conversation
    first, second, third = results
    for result in results:
        assert {c.node for c in result.llm_calls} <= {"llm_answer", "save_memory"}
        assert result.grading in ("scores", "none")
    assert second.rewrite == 'previous question + this one, because it starts with "and"'
    assert second.standalone_question == f"{first.question} {second.question}"
    # the third searches with the second as it was typed, never with the first as well
    assert third.rewrite == 'previous question + this one, because it refers back ("that")'
    assert third.standalone_question == f"{second.question} {third.question}"


def test_follow_ups_are_served_from_the_kv_cache(conversation):
    _, results = conversation
    first, second, third = results
    for result in (second, third):
        assert all(call.cached_tokens > 0 for call in result.llm_calls)
    assert third.cache_ratio() >= 0.7


def test_answers_are_clean(conversation):
    from ragchat.bench.evaluate import answer_problems

    _, results = conversation
    for result in results:
        assert answer_problems(result, 64) == (), result.answer
