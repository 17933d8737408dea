"""run_calls, the one way ragchat runs several calls at once: the bound, the order, each call's
error kept with it, the first error or Ctrl-C stopping the rest; and complete_many on it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import pytest

from ragchat.errors import BackendError
from ragchat.llm.base import Backend, CallStats, Request
from ragchat.llm.concurrency import Cancel, NotRun, first_error, results, run_calls

WAIT = 10  # seconds a call waits for what the test promises; never reached when it works


def test_at_most_n_at_once_and_results_in_order():
    barrier = threading.Barrier(3, timeout=WAIT)  # breaks unless three run together
    lock, running, most = threading.Lock(), [0], [0]

    def work(item: int, cancel: Cancel) -> int:
        nonlocal running
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        if item < 3:
            barrier.wait()
        with lock:
            running[0] -= 1
        return item * 10

    outcomes = run_calls(work, range(7), at_once=3)
    assert results(outcomes) == [0, 10, 20, 30, 40, 50, 60]
    assert most[0] == 3
    assert all(o.finished_s >= o.started_s for o in outcomes)


def test_the_next_item_is_taken_only_when_a_call_is_free():
    taken, release = [], threading.Event()

    def items() -> Iterator[int]:
        for n in range(5):
            taken.append(n)
            yield n

    def work(item: int, cancel: Cancel) -> int:
        if item < 2:
            assert release.wait(WAIT)
        return item

    def watch() -> None:
        while len(taken) < 2:
            threading.Event().wait(0.01)
        seen.append(list(taken))
        release.set()

    seen: list = []
    threading.Thread(target=watch).start()
    assert results(run_calls(work, items(), at_once=2)) == [0, 1, 2, 3, 4]
    assert seen == [[0, 1]]  # while both calls ran, the third item was not taken yet


def test_an_error_stays_with_its_call_and_a_non_fatal_one_stops_nothing():
    def work(item: int, cancel: Cancel) -> int:
        if item == 1:
            raise ValueError("bad item")
        return item

    outcomes = run_calls(work, range(4), at_once=2, fatal=lambda exc: False)
    assert [o.value for o in outcomes] == [0, None, 2, 3]
    assert isinstance(outcomes[1].error, ValueError) and outcomes[1].ok is False
    with pytest.raises(ValueError, match="bad item"):
        results(outcomes)


def test_the_first_error_cancels_the_running_calls_and_stops_the_rest():
    all_running = threading.Barrier(3, timeout=WAIT)

    def work(item: int, cancel: Cancel) -> str:
        all_running.wait()
        if item == 0:
            raise BackendError("the server went away")
        return "cancelled" if cancel.wait(WAIT) else "ran to the end"

    outcomes = run_calls(work, range(6), at_once=3)
    assert [o.value for o in outcomes[1:3]] == ["cancelled", "cancelled"]
    assert all(isinstance(o.error, NotRun) for o in outcomes[3:])
    assert isinstance(first_error(outcomes), BackendError)
    with pytest.raises(BackendError, match="went away"):
        results(outcomes)


def test_ctrl_c_cancels_the_running_calls_waits_for_them_and_is_raised(sigint_raises):
    main, started, ended = threading.main_thread().ident, [], []
    two_started = threading.Barrier(2, timeout=WAIT, action=lambda: signal.pthread_kill(
        main, signal.SIGINT))

    def work(item: int, cancel: Cancel) -> None:
        started.append(item)
        two_started.wait()
        assert cancel.wait(WAIT)
        ended.append(item)

    with pytest.raises(KeyboardInterrupt):
        run_calls(work, range(5), at_once=2)
    assert sorted(started) == sorted(ended) == [0, 1]  # both saw the cancel and returned
    assert not [t for t in threading.enumerate() if t.name.startswith("ragchat-call-")]


def test_a_cancel_reaches_what_does_not_poll_once():
    cancel, calls = Cancel(), []
    with cancel.hook(lambda: calls.append("a")):
        cancel.set()
        cancel.set()
    assert calls == ["a"]
    with cancel.hook(lambda: calls.append("b")):  # already set: at once
        pass
    assert calls == ["a", "b"]


def test_a_cancel_from_outside_stops_the_run_and_says_so():
    cancel = Cancel()

    def work(item: int, cancel: Cancel) -> int:
        if item == 1:
            cancel.set()
        return item

    outcomes = run_calls(work, range(4), at_once=1, cancel=cancel)
    assert [o.value for o in outcomes[:2]] == [0, 1]
    assert all(isinstance(o.error, NotRun) for o in outcomes[2:])
    with pytest.raises(NotRun):
        results(outcomes)


class Waiting(Backend):
    """Serves overlapping calls; "fail" fails at once, every other call streams until it is
    cancelled (or a long time has passed)."""

    name = "waiting"
    concurrent = True

    def __init__(self) -> None:
        self.cut: list[str] = []
        self.all_running = threading.Barrier(3, timeout=WAIT)

    def describe(self) -> str:
        return self.name

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _generate(self, request: Request, call: CallStats) -> Iterator[str]:
        question = request.messages[-1]["content"]
        if question == "fail":
            self.all_running.wait()
            raise BackendError("503 from the server")
        yield "first"
        call.new_tokens = 1
        self.all_running.wait()
        if request.cancel is not None and request.cancel.wait(WAIT):
            self.cut.append(question)


def test_complete_many_cancels_the_others_when_one_fails():
    backend = Waiting()
    asks = [[{"role": "user", "content": q}] for q in ("a", "fail", "b")]
    with pytest.raises(BackendError, match="503"):
        backend.complete_many(asks, max_new_tokens=5)
    assert sorted(backend.cut) == ["a", "b"]  # their calls were cut short, not waited out
