"""The LangGraph StateGraph of one turn, with a checkpointer for sessions.

START -> contextualize --(route)--> retrieve -> relevance_check -> llm_answer
                       \\--------------(direct)-----------------> llm_answer
llm_answer -> save_memory -> END
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from ragchat.pipeline.nodes import Deps, Node, TurnContext, make_nodes
from ragchat.pipeline.result import NODES, TurnCancelled
from ragchat.pipeline.state import ChatState, TurnState

if TYPE_CHECKING:
    from langgraph.runtime import Runtime


class GraphNode(Protocol):
    """A node as LangGraph calls it: the state as it keeps it, the run's context."""

    def __call__(self, state: ChatState, *, runtime: Runtime[TurnContext]) -> ChatState: ...


def _timed(name: str, fn: Node) -> GraphNode:
    """Wrap a node: honour cancellation, announce the stage, record time and LLM calls.
    The node reads the state as a TurnState; what it returns goes back as plain data."""

    def node(state: ChatState, *, runtime: Runtime[TurnContext]) -> ChatState:
        ctx = runtime.context if runtime.context is not None else TurnContext()
        if ctx.cancel.is_set():
            raise TurnCancelled()
        write = runtime.stream_writer
        write({"stage": name})
        view = TurnState.from_values(state)
        start = time.perf_counter()
        update = fn(view, ctx, write)
        values = update.to_values()
        values["timings"] = {**view.timings, name: time.perf_counter() - start}
        values["llm_calls"] = [call.to_dict() for call in (*view.llm_calls, *update.llm_calls)]
        return values

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
