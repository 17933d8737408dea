"""ExLlamaV2 in paged mode without a GPU: overlapping calls decoded together by one dynamic
generator (the stand-in in tests/llm/fakes follows exllamav2 0.3.2's paged API: enqueue,
iterate with every active job advanced in one pass, cancel, max_batch_size, pages), and every
way out of a batch leaving the generator with no job and no page held: a call cancelled or
closed, Ctrl-C, a job the backend refuses, an engine error in the middle of a batch."""

from __future__ import annotations

import ast
import importlib.util
import signal
import threading
import time
from pathlib import Path

import pytest

from ragchat.errors import BackendError
from ragchat.llm import exl2
from tests.llm.exl2_standin import FAKES

COUNT = [{"role": "user", "content": "Count"}]


def ask(n: int) -> list[dict]:
    return [{"role": "system", "content": "Count."}, {"role": "user", "content": "x" * n}]


@pytest.fixture
def backend(paged, model_dir):
    backend = exl2.ExLlamaV2Backend(model_dir)
    yield backend
    backend.close()


@pytest.fixture
def knobs(backend, monkeypatch):
    """Set the stand-in generator's test knobs (class attributes) for this test only."""
    def set_knobs(**values) -> None:
        for name, value in values.items():
            monkeypatch.setattr(type(backend.generator), name, value)

    return set_knobs


def assert_clean(backend) -> None:
    """No job left in the generator, no page held, nothing in flight in the driver."""
    generator = backend.generator
    assert generator.num_remaining_jobs() == 0
    assert generator.referenced_pages == 0
    assert backend.jobs.in_flight == 0


def test_paged_mode_serves_overlapping_calls(backend):
    assert backend.paged and backend.concurrent and backend.concurrency == "batched"
    assert backend.generator.paged and backend.generator.max_batch_size == 4


def test_unpaged_mode_serves_one_call_at_a_time(fake_gpu, model_dir):
    backend = exl2.ExLlamaV2Backend(model_dir)
    assert not backend.paged and not backend.concurrent
    assert backend.concurrency == "sequential" and backend.generator.max_batch_size == 1


def test_requests_at_once_are_decoded_together_each_with_its_own_result(backend, knobs):
    knobs(HOLD_FOR_JOBS=3)  # the first pass waits for all three, as a long prefill would
    asks = [ask(10), ask(20), ask(30)]
    done = backend.complete_many(asks, max_new_tokens=4)
    assert [d.text for d in done] == ["one two three four"] * 3
    assert backend.generator.batches[0] == 3  # one pass advanced all three jobs
    assert len(backend.generator.batches) == 4  # four tokens each: four passes in all
    prompts = [int(backend.prompt_ids(a).shape[-1]) for a in asks]
    assert [d.stats.prompt_tokens for d in done] == prompts  # in the order asked
    assert all(d.stats.new_tokens == 4 and d.finished_s > 0 for d in done)
    assert_clean(backend)


def test_more_requests_than_the_batch_holds_wait_in_the_generator(backend, knobs):
    knobs(HOLD_FOR_JOBS=6)
    done = backend.complete_many([ask(n) for n in range(1, 7)], max_new_tokens=3)
    assert [d.text for d in done] == ["one two three"] * 6
    assert max(backend.generator.batches) == 4  # max_batch_size; two waited their turn
    assert len(backend.generator.enqueued) == 6
    assert_clean(backend)


def test_a_cancelled_call_leaves_the_batch_and_the_others_go_on(backend):
    cancel = threading.Event()
    first = backend.stream(ask(5), max_new_tokens=8, cancel=cancel)
    second = backend.stream(ask(6), max_new_tokens=3)
    first_pieces, second_pieces = iter(first), iter(second)
    assert next(first_pieces) == "one"  # its job alone in the generator
    assert next(second_pieces) == "one"  # this pass advanced both jobs
    cancel.set()
    assert list(first_pieces) == []  # its second token was decoded, but it is cancelled
    assert "".join(second_pieces) == " two three"
    assert backend.generator.cancelled == [backend.generator.enqueued[0]]
    assert first.stats.new_tokens == 2  # what the engine decoded for it, read or not
    assert second.stats.new_tokens == 3
    assert_clean(backend)


def test_a_reader_that_stops_early_releases_its_job_in_the_batch(backend):
    stream = backend.stream(ask(5), max_new_tokens=8)
    assert next(iter(stream)) == "one"
    stream.close()
    assert backend.generator.cancelled and stream.stats.new_tokens == 1
    assert_clean(backend)


def test_ctrl_c_cancels_every_job_of_the_batch(backend, knobs, sigint_raises, monkeypatch):
    knobs(HOLD_FOR_JOBS=3)
    generator = backend.generator
    iterate = generator.iterate
    main = threading.main_thread().ident

    def iterate_then_interrupt():
        time.sleep(0.01)  # a forward pass takes time
        got = iterate()
        if generator.steps == 2:  # Ctrl-C while the batch is decoding
            signal.pthread_kill(main, signal.SIGINT)
        return got

    monkeypatch.setattr(generator, "iterate", iterate_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        backend.complete_many([ask(5), ask(6), ask(7)], max_new_tokens=50)
    assert sorted(map(id, generator.cancelled)) == sorted(map(id, generator.enqueued))
    assert generator.steps < 50
    assert_clean(backend)
    monkeypatch.setattr(generator, "iterate", iterate)
    assert backend.generate(COUNT, max_new_tokens=2) == "one two"  # still usable


def test_a_request_the_backend_refuses_cancels_the_others(backend, knobs):
    knobs(HOLD_FOR_JOBS=3)  # the two others wait for the third, which never comes
    too_long = ask(backend.context + 10)
    with pytest.raises(BackendError, match="more than the context"):
        backend.complete_many([ask(5), too_long, ask(6)], max_new_tokens=8)
    generator = backend.generator
    assert generator.batches == []  # nothing was decoded
    assert len(generator.cancelled) == len(generator.enqueued) <= 2
    assert_clean(backend)


def test_a_job_the_generator_refuses_fails_alone_and_cancels_the_others(backend, knobs,
                                                                        monkeypatch):
    knobs(HOLD_FOR_JOBS=3)
    generator = backend.generator
    enqueue = generator.enqueue

    def refuse_the_second(job):
        if len(generator.enqueued) == 1 and job not in generator.enqueued:
            raise AssertionError("Job requires 200 pages (only 128 available) and cannot be "
                                 "enqueued.")
        return enqueue(job)

    monkeypatch.setattr(generator, "enqueue", refuse_the_second)
    with pytest.raises(AssertionError, match="cannot be enqueued"):
        backend.complete_many([ask(5), ask(6), ask(7)], max_new_tokens=8)
    assert generator.batches == [] and len(generator.cancelled) == len(generator.enqueued)
    assert_clean(backend)


def test_an_engine_error_in_a_batch_reaches_every_call(backend, knobs):
    knobs(HOLD_FOR_JOBS=3, FAIL_AT_STEP=2)
    with pytest.raises((RuntimeError, BackendError), match="illegal memory access"):
        backend.complete_many([ask(5), ask(6), ask(7)], max_new_tokens=8)
    assert len(backend.generator.cancelled) == 3  # every job taken off the generator
    assert_clean(backend)
    knobs(FAIL_AT_STEP=None)
    assert backend.generate(COUNT, max_new_tokens=2) == "one two"


def test_an_engine_error_fails_every_call_in_flight_not_only_the_one_that_ran_it(backend,
                                                                                  knobs):
    knobs(FAIL_AT_STEP=2)
    first = iter(backend.stream(ask(5), max_new_tokens=8))
    second = iter(backend.stream(ask(6), max_new_tokens=8))
    assert next(first) == "one"
    with pytest.raises(RuntimeError, match="illegal memory access"):
        next(second)  # its pass is the one that fails
    with pytest.raises(BackendError, match="the generator failed while decoding a batch"):
        next(first)  # its job was in that pass: it does not go on alone
    assert len(backend.generator.cancelled) == 2
    assert_clean(backend)


def test_an_engine_error_under_a_lone_stream_leaves_the_generator_clean(backend, knobs):
    knobs(FAIL_AT_STEP=1)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        backend.generate(COUNT, max_new_tokens=4)
    assert_clean(backend)


def test_a_shared_prompt_prefix_is_served_from_whole_pages(backend):
    long_system = {"role": "system", "content": "Rules. " * 100}  # 700 tokens: two full pages
    first = backend.complete([long_system, {"role": "user", "content": "a"}], max_new_tokens=2)
    second = backend.complete([long_system, {"role": "user", "content": "b"}], max_new_tokens=2)
    assert first.stats.cached_tokens == 0
    assert second.stats.cached_tokens == 2 * 256  # pages, not tokens: the paged granularity


# The stand-in against exllamav2 0.3.2's own source (installed with the test extras): the
# parameters ragchat passes exist there under the same names, in the same order, and the
# result fields ragchat reads are fields the real generator writes.

def real_source(relative: str) -> str:
    spec = importlib.util.find_spec("exllamav2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("exllamav2 is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if FAKES in folder.parents:
        pytest.skip("the stand-in shadows exllamav2 here")
    return (folder / relative).read_text(encoding="utf-8")


def parameters(source: str, cls: str) -> dict[str, list[str]]:
    tree = ast.parse(source)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls)
    return {f.name: [a.arg for a in f.args.args] for f in node.body
            if isinstance(f, ast.FunctionDef)}


@pytest.mark.parametrize("cls, methods", [
    ("ExLlamaV2DynamicGenerator", ("__init__", "warmup", "enqueue", "iterate", "cancel",
                                   "num_remaining_jobs", "clear_queue")),
    ("ExLlamaV2DynamicJob", ("__init__",)),
])
def test_the_stand_in_takes_what_the_real_generator_takes(cls, methods):
    real = parameters(real_source("generator/dynamic.py"), cls)
    fake = parameters((FAKES / "exllamav2" / "generator.py").read_text(encoding="utf-8"), cls)
    for method in methods:
        assert fake[method] == real[method], method


def test_the_result_fields_ragchat_reads_are_written_by_the_real_generator():
    source = real_source("generator/dynamic.py")
    read = ["job", "stage", "streaming", "eos", "text", "token_ids", "held", "eos_reason",
            "stop_token", "new_tokens", "prompt_tokens", "cached_tokens", "cached_pages",
            "time_enqueued", "time_prefill", "time_generate"]
    assert [f for f in read if f'"{f}"' not in source] == []
    assert "def assert_paged_attn" in real_source("attn.py")
