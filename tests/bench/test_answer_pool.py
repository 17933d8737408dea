"""eval's answering pool on run_calls: each question on a free pipeline, Ctrl-C and the first
error cancel the running turns. Pipelines here are stand-ins whose turns run until they are
cancelled or told to finish (the real ones run in tests/bench/test_eval_concurrency.py)."""

from __future__ import annotations

import signal
import threading

import pytest

from ragchat.bench.answer_pool import answer_all
from ragchat.errors import BackendError
from ragchat.pipeline.result import TurnCancelled
from ragchat.progress import Progress

WAIT = 10  # seconds a turn waits for what the test promises; never reached when it works


class Turn:
    """A running turn: wait() returns when finished, raises TurnCancelled when cancelled."""

    def __init__(self, question: str, started: threading.Barrier) -> None:
        self.question = question
        self.cancelled = threading.Event()
        self.started = started

    def cancel(self) -> None:
        self.cancelled.set()

    def wait(self) -> str:
        if self.question == "fail":
            self.started.wait()
            raise BackendError("the server went away")
        self.started.wait()
        if self.cancelled.wait(WAIT):
            raise TurnCancelled()
        return f"answer to {self.question}"


class Pipeline:
    def __init__(self, started: threading.Barrier) -> None:
        self.started = started
        self.turns: list[Turn] = []

    def start_turn(self, question: str) -> Turn:
        self.turns.append(Turn(question, self.started))
        return self.turns[-1]


def ask_once(ask, pipeline, item):
    return ask(item)


def test_ctrl_c_cancels_every_running_turn(sigint_raises):
    main = threading.main_thread().ident
    started = threading.Barrier(2, timeout=WAIT,
                                action=lambda: signal.pthread_kill(main, signal.SIGINT))
    pipelines = [Pipeline(started), Pipeline(started)]
    with pytest.raises(TurnCancelled):
        answer_all(pipelines, ["a", "b", "c"], ask_once, Progress())
    turns = [t for p in pipelines for t in p.turns]
    assert sorted(t.question for t in turns) == ["a", "b"]  # "c" never started
    assert all(t.cancelled.is_set() for t in turns)


def test_the_first_error_cancels_the_other_turns_and_is_raised():
    started = threading.Barrier(2, timeout=WAIT)
    pipelines = [Pipeline(started), Pipeline(started)]
    with pytest.raises(BackendError, match="went away"):
        answer_all(pipelines, ["a", "fail", "c"], ask_once, Progress())
    turns = {t.question: t for p in pipelines for t in p.turns}
    assert set(turns) == {"a", "fail"} and turns["a"].cancelled.is_set()
