"""The one cache-reuse measurement (ragchat.bench.conversation), on fakes: what a turn's
calls found in the cache, and the cold backend that finds nothing there."""

from __future__ import annotations

from ragchat.bench.conversation import ColdCache, Turn, cache_totals, call_json, run_turns
from ragchat.pipeline.result import LLMCall, TurnResult


def result(*calls: LLMCall) -> TurnResult:
    return TurnResult("q", "q", "retrieve", "a", (), (), True, {"llm_answer": 0.1}, calls, "fake")


def test_a_call_says_what_it_prefilled_and_unknown_stays_unknown():
    known = LLMCall("llm_answer", 400, 300, 30, 0.123456, 40.0)
    assert call_json(known) == {"node": "llm_answer", "prompt_tokens": 400, "cached_tokens": 300,
                                "prefilled_tokens": 100, "ttft_s": 0.1235}
    silent = LLMCall("llm_answer", 400, 0, 30, 0.2, 40.0, cache_known=False)
    assert call_json(silent)["cached_tokens"] is None
    assert call_json(silent)["prefilled_tokens"] is None


def test_totals_over_a_turns_calls():
    calls = [call_json(LLMCall("relevance_check", 300, 0, 2, 0.5, 9.0)),
             call_json(LLMCall("llm_answer", 320, 290, 20, 0.1, 9.0))]
    assert cache_totals(calls) == {"prompt_tokens": 620, "cached_tokens": 290,
                                   "prefilled_tokens": 330, "cached_share": 290 / 620}
    # results files written before "prefilled_tokens" existed
    old = [{"node": "llm_answer", "prompt_tokens": 100, "cached_tokens": 60, "ttft_s": 1.0}]
    assert cache_totals(old)["prefilled_tokens"] == 40
    unknown = calls + [call_json(LLMCall("llm_answer", 10, 0, 1, 0.1, 9.0, cache_known=False))]
    assert cache_totals(unknown) == {"prompt_tokens": 630, "cached_tokens": None,
                                     "prefilled_tokens": None, "cached_share": None}
    assert cache_totals([])["cached_share"] == 0.0


class FakePipeline:
    def __init__(self) -> None:
        self.session, self.asked = "start", []

    def switch(self, session: str) -> None:
        self.session = session

    def ask(self, question: str) -> TurnResult:
        self.asked.append((self.session, question))
        cached = 0 if len(self.asked) == 1 else 100
        return result(LLMCall("llm_answer", 120, cached, 5, 0.2, 30.0))


def test_turns_run_in_order_in_one_session():
    pipeline = FakePipeline()
    turns = run_turns(pipeline, ["first?", "and then?"], session="s1")
    assert pipeline.asked == [("s1", "first?"), ("s1", "and then?")]
    assert [t.number for t in turns] == [1, 2] and all(t.wall_s > 0 for t in turns)
    assert [t.totals["cached_tokens"] for t in turns] == [0, 100]
    assert turns[1].to_json()["calls"][0]["prefilled_tokens"] == 20
    assert set(turns[0].to_json()) == {"turn", "wall_s", "calls"}
    run_turns(pipeline, ["again?"])  # without a session: the pipeline's current one
    assert pipeline.asked[-1] == ("s1", "again?")
    assert isinstance(turns[0], Turn)


class FakeBackend:
    name = "fake"

    def __init__(self) -> None:
        self.requests: list[int | None] = []

    def describe(self) -> str:
        return "fake backend"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def complete(self, messages, max_new_tokens=None, **kwargs):
        from types import SimpleNamespace

        self.requests.append(max_new_tokens)
        return SimpleNamespace(stats=None)

    def stream(self, messages, **kwargs):
        self.requests.append(kwargs.get("max_new_tokens", "stream"))
        return iter(())

    def close(self) -> None:
        self.requests.append(None)


def test_the_cold_backend_evicts_before_every_call():
    inner = FakeBackend()
    cold = ColdCache(inner)
    assert cold.name == "fake" and cold.describe() == "fake backend"
    assert cold.count_tokens("two words") == 2
    cold.stream([{"role": "user", "content": "hi"}], max_new_tokens=8)
    cold.stream([{"role": "user", "content": "hi"}], max_new_tokens=8)
    # one token of an unrelated request before each call
    assert inner.requests == [1, 8, 1, 8]
    cold.close()
    assert inner.requests[-1] is None
