"""The turn state: what the graph's nodes read and write, typed.

The graph keeps its state as plain data (`ChatState`, with `TurnData`, `HitData` and
`CallData` inside): LangGraph checkpoints it per session in SQLite, and plain dicts and
lists load without a registered class, whichever version of ragchat saved them. The nodes
never see that form. `graph.py` hands each node a `TurnState` (frozen, its turns as
`PastTurn`, its hits as `Chunk`, its calls as `LLMCall`) and writes back what the node
returns, one frozen update per node (`ContextualizeUpdate` ... `MemoryUpdate`).

Sessions saved by older versions lack keys added since (a turn's `raw`, `prompt`,
`standalone`, `shown`, `rewritten` and `collection`; a hit's `key` and `seen`; the state's
`numbers`, `told`, `cited`, `rewrite`, `grading` and `answer_kind`): the rule is that a missing key reads as its
field's default, which is what the code before the typed state read it as (`.get()`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from ragchat.pipeline.result import CallData, Chunk, HitData, LLMCall, TurnResult


class TurnData(TypedDict, total=False):
    """A PastTurn as the checkpoint stores it."""

    question: str
    answer: str | None
    raw: str
    prompt: str
    standalone: str
    shown: list[str]
    rewritten: bool
    collection: str


@dataclass(frozen=True)
class PastTurn:
    """A turn of the conversation, as the next turns' prompts render it."""

    question: str
    answer: str  # as shown (citations filtered, notes added)
    raw: str | None = None  # as the model generated it (what the KV cache holds); None in
    # turns saved before it was kept: the prompt then shows `answer`
    prompt: str | None = None  # the answer call's user message (its passages, the question,
    # the task line); None once its passages were dropped: the prompt shows `question`
    standalone: str | None = None  # the question as it was searched
    shown: tuple[str, ...] = ()  # keys of the passages whose text `prompt` holds
    rewritten: bool = False  # `standalone` was written by the model (a rewrite call)
    collection: str | None = None  # the collection searched; None: not known (older turns)

    def without_passages(self) -> PastTurn:
        """The turn with only its question and answer (memory.drop_old_passages; never the
        newest turn, the one the next question's search may need)."""
        return PastTurn(self.question, self.answer, self.raw)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PastTurn:
        return cls(question=str(data.get("question") or ""), answer=data.get("answer") or "",
                   raw=data.get("raw"), prompt=data.get("prompt"),
                   standalone=data.get("standalone"), shown=tuple(data.get("shown") or ()),
                   rewritten=bool(data.get("rewritten", False)),
                   collection=data.get("collection"))

    def to_dict(self) -> TurnData:
        """The checkpoint's form; a field at its default is left out, as in older sessions."""
        data: TurnData = {"question": self.question, "answer": self.answer}
        if self.raw is not None:
            data["raw"] = self.raw
        if self.prompt is not None:
            data["prompt"] = self.prompt
        if self.standalone is not None:
            data["standalone"] = self.standalone
        if self.shown:
            data["shown"] = list(self.shown)
        if self.rewritten:
            data["rewritten"] = True
        if self.collection is not None:
            data["collection"] = self.collection
        return data


class ChatState(TypedDict, total=False):
    """The graph's state as LangGraph keeps and checkpoints it (plain data)."""

    # the conversation (checkpointed per session)
    summary: str
    turns: list[TurnData]
    numbers: dict[str, int]  # passage key -> its number in this session
    # the current turn (reset by every new question)
    question: str
    standalone_question: str
    route: str
    rewrite_parsed: bool
    rewrite: str  # how the question was made standalone, and why (followup.py)
    hits: list[HitData]
    grades_parsed: bool
    grading: str  # how relevance was decided: llm, scores, none
    grader_output: str
    told: list[int]  # passages the answer call was told to use
    cited: list[int]  # passages the answer cites
    answer: str | None
    answer_kind: str  # nodes.ANSWER_KINDS
    timings: dict[str, float]
    llm_calls: list[CallData]


def turn_input(question: str) -> ChatState:
    """The graph input for a new question: it also clears the previous turn's fields."""
    return {
        "question": question, "standalone_question": "", "route": "", "rewrite_parsed": True,
        "rewrite": "", "hits": [], "grades_parsed": True, "grading": "", "grader_output": "",
        "told": [], "cited": [], "answer": None, "answer_kind": "", "timings": {},
        "llm_calls": [],
    }


@dataclass(frozen=True)
class TurnState:
    """What a node reads: the conversation so far and what this turn's nodes wrote."""

    question: str = ""
    summary: str = ""
    turns: tuple[PastTurn, ...] = ()
    numbers: Mapping[str, int] = field(default_factory=dict)
    standalone_question: str = ""
    route: str = ""  # "retrieve" or "direct"; "" before contextualize
    rewrite: str = ""
    rewrite_parsed: bool = True
    hits: tuple[Chunk, ...] = ()
    grades_parsed: bool = True
    grading: str = ""
    grader_output: str = ""
    told: tuple[int, ...] = ()
    cited: tuple[int, ...] = ()
    answer: str | None = None  # None until llm_answer
    answer_kind: str = ""
    timings: Mapping[str, float] = field(default_factory=dict)
    llm_calls: tuple[LLMCall, ...] = ()

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> TurnState:
        """From the graph's state (ChatState); a key it lacks takes the field's default."""
        def text(key: str) -> str:
            return str(values.get(key) or "")

        return cls(
            question=text("question"), summary=text("summary"),
            turns=tuple(PastTurn.from_dict(t) for t in values.get("turns") or ()),
            numbers=dict(values.get("numbers") or {}),
            standalone_question=text("standalone_question"), route=text("route"),
            rewrite=text("rewrite"), rewrite_parsed=bool(values.get("rewrite_parsed", True)),
            hits=tuple(Chunk.from_dict(h) for h in values.get("hits") or ()),
            grades_parsed=bool(values.get("grades_parsed", True)), grading=text("grading"),
            grader_output=text("grader_output"), told=tuple(values.get("told") or ()),
            cited=tuple(values.get("cited") or ()), answer=values.get("answer"),
            answer_kind=text("answer_kind"), timings=dict(values.get("timings") or {}),
            llm_calls=tuple(LLMCall.from_dict(c) for c in values.get("llm_calls") or ()))


class NodeUpdate(Protocol):
    """What a node returns: the LLM calls it made, and its fields as the graph keeps them."""

    @property
    def llm_calls(self) -> tuple[LLMCall, ...]: ...

    def to_values(self) -> ChatState: ...


def _turns(turns: Sequence[PastTurn]) -> list[TurnData]:
    return [turn.to_dict() for turn in turns]


def _hits(hits: Sequence[Chunk]) -> list[HitData]:
    return [hit.to_dict() for hit in hits]


@dataclass(frozen=True)
class ContextualizeUpdate:
    """The question made standalone, and whether it needs the documents."""

    standalone_question: str
    route: str  # "retrieve" or "direct"
    rewrite: str  # how, and why: "none", "llm", "previous question + this one, because ..."
    rewrite_parsed: bool = True
    llm_calls: tuple[LLMCall, ...] = ()

    def to_values(self) -> ChatState:
        return {"standalone_question": self.standalone_question, "route": self.route,
                "rewrite": self.rewrite, "rewrite_parsed": self.rewrite_parsed}


@dataclass(frozen=True)
class RetrieveUpdate:
    """The search hits, numbered for the session, `seen` where the conversation shows them."""

    hits: tuple[Chunk, ...]
    llm_calls: tuple[LLMCall, ...] = ()

    def to_values(self) -> ChatState:
        return {"hits": _hits(self.hits)}


@dataclass(frozen=True)
class RelevanceUpdate:
    """The hits with the verdict `kept`, and how it was decided."""

    grading: str  # "llm", "scores", UNREADABLE_GRADES or "none" (no hits)
    hits: tuple[Chunk, ...] = ()
    grades_parsed: bool = True
    grader_output: str = ""
    llm_calls: tuple[LLMCall, ...] = ()

    def to_values(self) -> ChatState:
        return {"grading": self.grading, "hits": _hits(self.hits),
                "grades_parsed": self.grades_parsed, "grader_output": self.grader_output}


@dataclass(frozen=True)
class AnswerUpdate:
    """The answer, and the conversation with this turn appended."""

    answer: str
    answer_kind: str  # nodes.ANSWER_KINDS
    turns: tuple[PastTurn, ...]
    numbers: Mapping[str, int]  # with the new passages' numbers committed
    told: tuple[int, ...]
    cited: tuple[int, ...]
    llm_calls: tuple[LLMCall, ...] = ()

    def to_values(self) -> ChatState:
        return {"answer": self.answer, "answer_kind": self.answer_kind,
                "turns": _turns(self.turns), "numbers": dict(self.numbers),
                "told": list(self.told), "cited": list(self.cited)}


@dataclass(frozen=True)
class MemoryUpdate:
    """The conversation within its budgets: older turns folded into the summary, or their
    passages dropped."""

    summary: str
    turns: tuple[PastTurn, ...]
    llm_calls: tuple[LLMCall, ...] = ()

    def to_values(self) -> ChatState:
        return {"summary": self.summary, "turns": _turns(self.turns)}


def result_from_state(state: TurnState, backend: str, session: str,
                      memory_done: bool) -> TurnResult:
    """The TurnResult of the state after llm_answer (or after save_memory)."""
    used = next((c.backend for c in reversed(state.llm_calls) if c.backend), "")
    by_n = {c.n: c for c in state.hits}
    shown = [by_n[n] for n in (state.cited or state.told) if n in by_n]
    return TurnResult(
        question=state.question,
        standalone_question=state.standalone_question or state.question,
        route=state.route or "retrieve",
        answer=state.answer or "",
        answer_kind=state.answer_kind,
        sources=tuple(shown),
        sources_kind=("cited" if state.cited else "given") if shown else "none",
        told=state.told, cited=state.cited, rewrite=state.rewrite,
        grading=state.grading,
        retrieved=state.hits,
        grades_parsed=state.grades_parsed,
        timings=dict(state.timings),
        llm_calls=state.llm_calls,
        backend=used or backend,
        session=session,
        memory_done=memory_done,
    )
