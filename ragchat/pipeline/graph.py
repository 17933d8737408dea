"""The LangGraph StateGraph of one turn, with a checkpointer for sessions.

START -> contextualize --(route)--> retrieve -> relevance_check -> llm_answer
                       \\--------------(direct)-----------------> llm_answer
llm_answer -> save_memory -> END
"""

from __future__ import annotations

import time
from typing import Any, TypedDict

from ragchat.pipeline.nodes import Deps, TurnContext, make_nodes
from ragchat.pipeline.result import NODES, TurnCancelled


class ChatState(TypedDict, total=False):
    # the conversation (checkpointed per session)
    summary: str
    turns: list[dict[str, Any]]
    numbers: dict[str, int]  # passage key -> its number in this session
    # the current turn (reset by every new question)
    question: str
    standalone_question: str
    route: str
    rewrite_parsed: bool
    rewrite: str  # how the question was made standalone: llm, previous question + this one
    hits: list[dict[str, Any]]
    grades_parsed: bool
    grading: str  # how relevance was decided: llm, scores, none
    grader_output: str
    told: list[int]  # passages the answer call was told to use
    cited: list[int]  # passages the answer cites
    answer: str | None
    answer_kind: str  # nodes.ANSWER_KINDS
    timings: dict[str, float]
    llm_calls: list[dict[str, Any]]


def turn_input(question: str) -> dict[str, Any]:
    """The graph input for a new question: it also clears the previous turn's fields."""
    return {
        "question": question, "standalone_question": "", "route": "", "rewrite_parsed": True,
        "rewrite": "", "hits": [], "grades_parsed": True, "grading": "", "grader_output": "",
        "told": [], "cited": [], "answer": None, "answer_kind": "", "timings": {},
        "llm_calls": [],
    }


def _timed(name: str, fn: Any) -> Any:
    """Wrap a node: honour cancellation, announce the stage, record time and LLM calls."""

    def node(state: ChatState, runtime: Any) -> dict[str, Any]:
        ctx = runtime.context if runtime.context is not None else TurnContext()
        if ctx.cancel.is_set():
            raise TurnCancelled()
        write = runtime.stream_writer
        write({"stage": name})
        start = time.perf_counter()
        update = fn(state, ctx, write)
        timings = dict(state.get("timings") or {})
        timings[name] = time.perf_counter() - start
        update["timings"] = timings
        if "llm_calls" in update:
            update["llm_calls"] = list(state.get("llm_calls") or []) + update["llm_calls"]
        return update

    node.__name__ = name
    return node


def _route(state: ChatState) -> str:
    return "retrieve" if state.get("route") == "retrieve" else "direct"


def build_graph(deps: Deps, checkpointer: Any = None) -> Any:
    """Compile the turn graph. `checkpointer` keeps sessions (thread_id = session name)."""
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(ChatState, context_schema=TurnContext)
    nodes = make_nodes(deps)
    for name in NODES:
        graph.add_node(name, _timed(name, nodes[name]))
    graph.add_edge(START, "contextualize")
    graph.add_conditional_edges(
        "contextualize", _route, {"retrieve": "retrieve", "direct": "llm_answer"})
    graph.add_edge("retrieve", "relevance_check")
    graph.add_edge("relevance_check", "llm_answer")
    graph.add_edge("llm_answer", "save_memory")
    graph.add_edge("save_memory", END)
    return graph.compile(checkpointer=checkpointer)
