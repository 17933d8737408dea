"""`ragchat eval --answers --concurrency N`: N questions at once through the Backend interface,
against the real llama.cpp server on loopback (parallel), the embedded model (sequential, and
it says so), and a batching engine (ExLlamaV2 in paged mode on its stand-in: the turns' calls
decoded together). Structure only: no wall-clock times and no model wording are asserted."""

from __future__ import annotations

import json

import pytest

from tests.helpers import cli

pytestmark = pytest.mark.slow

QA = [
    {"question": "Why do honey bees dance?", "answer": "waggle dance", "source": "bees.md"},
    {"question": "When does the night train to Vienna leave Munich?", "answer": "23:10"},
    {"question": "Where do barn owls sleep?", "source": "owls.txt"},
    {"question": "And what do they hunt?", "context": ["Where do barn owls sleep?"]},
]


@pytest.fixture
def qa_file(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(q) for q in QA) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def short_turns(monkeypatch):
    """One LLM call per turn, and a short one: the tiny model is slow on two cores."""
    monkeypatch.setenv("RAGCHAT_MAX_NEW_TOKENS", "12")
    monkeypatch.setenv("RAGCHAT_RELEVANCE_CHECK", "scores")
    monkeypatch.setenv("RAGCHAT_FOLLOW_UP_REWRITE", "previous")


@pytest.fixture
def own_server_env(monkeypatch, api_env, short_turns):
    for key, value in api_env.items():
        monkeypatch.setenv(key, value)


def run_eval(capsys, qa_file, *flags):
    code, out, err = cli(capsys, "eval", str(qa_file), "--collection", "notes", "--answers",
                         "--json", *flags)
    assert code == 0, err
    return json.loads(out)


def test_n_questions_at_once_as_parallel_requests_to_a_server(
        capsys, in_notes_home, own_server_env, qa_file, llama_server):
    one = run_eval(capsys, qa_file, "--api-base", llama_server)
    three = run_eval(capsys, qa_file, "--api-base", llama_server, "--concurrency", "3")
    speed_1 = one["summary"]["answers"]["throughput"]
    speed_3 = three["summary"]["answers"]["throughput"]
    assert (speed_1["mode"], speed_1["at_once"]) == ("sequential", 1)
    assert (speed_3["mode"], speed_3["at_once"], speed_3["concurrency"]) == ("parallel", 3, 3)
    for speed in (speed_1, speed_3):
        assert speed["answers"] == len(QA)
        assert speed["answers_per_min"] > 0 and speed["tokens_per_s"] > 0
        assert speed["cached_tokens"] is None  # llama-cpp-python's server does not say
    # every question answered, in the file's order, with the same fields as one at a time
    assert [q["line"] for q in three["questions"]] == [1, 2, 3, 4]
    assert [set(q) for q in three["questions"]] == [set(q) for q in one["questions"]]
    assert all(isinstance(q["answer"], str) and q["latency_s"] > 0 for q in three["questions"])


def test_a_local_engine_that_serves_one_call_at_a_time_says_so(
        capsys, in_notes_home, qa_file, short_turns):
    report = run_eval(capsys, qa_file, "--backend", "llamacpp", "--concurrency", "4")
    speed = report["summary"]["answers"]["throughput"]
    assert (speed["mode"], speed["at_once"], speed["concurrency"]) == ("sequential", 1, 4)
    assert "llamacpp serves one call at a time" in speed["note"]
    assert speed["cached_tokens"] > 0  # the embedded engine reports its KV cache


def test_a_batching_engine_gets_the_turns_calls_as_batches(
        capsys, in_notes_home, qa_file, monkeypatch, short_turns, paged_exl2):
    """ExLlamaV2 in paged mode needs CUDA; the real backend runs here on the exllamav2
    stand-in (tests/llm/fakes), whose generator records how many jobs each decoding pass
    advanced together."""
    from ragchat.llm import BackendChoice
    from ragchat.llm.adapter import BackendChatModel
    from ragchat.pipeline import factory

    engine = paged_exl2
    model = BackendChatModel(backend=engine.backend, max_new_tokens=8, temperature=0.0)
    choice = BackendChoice("exllamav2", "stand-in for a paged engine", "flag")
    monkeypatch.setattr(factory, "load_chat_model", lambda settings: (model, choice))
    report = run_eval(capsys, qa_file, "--concurrency", "3")
    speed = report["summary"]["answers"]["throughput"]
    assert (speed["mode"], speed["at_once"]) == ("batched", 3)
    assert speed["answers"] == len(QA)
    assert max(engine.batches) > 1  # calls of different questions were decoded together
    assert len(engine.jobs) >= len(QA) + 1  # every turn's answer (and the context turn)
    assert engine.generator.num_remaining_jobs() == 0


@pytest.fixture
def paged_exl2(paged, model_dir, monkeypatch):
    """The exllamav2 backend in paged mode on the stand-in; its first decoding pass waits
    (10 s at most) until two jobs are in, as a long prefill would let them arrive."""
    from types import SimpleNamespace

    from ragchat.llm.exl2 import ExLlamaV2Backend

    backend = ExLlamaV2Backend(model_dir)
    generator = backend.generator
    monkeypatch.setattr(type(generator), "HOLD_FOR_JOBS", 2)
    yield SimpleNamespace(backend=backend, generator=generator, batches=generator.batches,
                          jobs=generator.enqueued)
    backend.close()


def test_concurrency_needs_answers(capsys, in_notes_home, qa_file):
    code, _, err = cli(capsys, "eval", str(qa_file), "--collection", "notes",
                       "--concurrency", "2")
    assert code == 2 and "--concurrency applies to --answers" in err


def test_the_table_says_how_many_ran_at_once_and_how_fast():
    from ragchat.cli.eval_cmd import summary_rows

    speed = {"concurrency": 8, "mode": "parallel", "at_once": 4, "answers_per_min": 12.34,
             "tokens_per_s": 5.67, "prompt_tokens": 900, "cached_tokens": None}
    summary = {"questions": 4, "judged": 4, "k": 5, "recall": {"5": 1.0}, "mrr": 1.0,
               "answers": {"clean": 1.0, "contains_answer": 1.0, "with_citations": 1.0,
                           "citation_hit": 1.0, "sources_hit": 1.0, "follow_up_search_hit": None,
                           "said_not_covered": None, "latency_median_s": 1.0,
                           "latency_p90_s": 2.0, "latency_max_s": 3.0, "throughput": speed}}
    rows = dict(summary_rows(summary))
    assert rows["questions at once"] == "4 (parallel requests), 8 asked"
    assert rows["answers / min"] == "12.3" and rows["new tokens / s (all turns)"] == "5.7"
    assert rows["prompt tokens, cached"] == "900, unknown"
    speed.update(cached_tokens=500, cache_reported_prompt_tokens=700)  # a call was cut short
    assert dict(summary_rows(summary))["prompt tokens, cached"] == "900, 500 of the 700 reported"
    speed.update(cache_reported_prompt_tokens=900)
    assert dict(summary_rows(summary))["prompt tokens, cached"] == "900, 500"
