"""A conversation: the compiled graph, its session, and turns run on a worker thread.

The worker thread runs the graph; the caller's thread reads events (tokens, stages,
the answer) from a queue. So Ctrl-C in the caller only sets the cancel flag, the
backend stops at the next token, and the session stays as it was before the turn.
After the answer, save_memory may still run on the worker; the next turn (or any
session operation) waits for it first, so it always sees its result.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ragchat.models.capabilities import DEFAULT, Capabilities
from ragchat.pipeline.graph import build_graph
from ragchat.pipeline.memory import token_counter
from ragchat.pipeline.nodes import Deps, PipelineParams, TurnContext
from ragchat.pipeline.result import TurnCancelled, TurnResult
from ragchat.pipeline.sessions import (
    SessionInfo,
    check_session_name,
    close_checkpointer,
    session_names,
)
from ragchat.pipeline.state import PastTurn, TurnState, result_from_state, turn_input


@dataclass(frozen=True)
class Stage:
    node: str


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Answered:
    """The answer is complete; save_memory may still be running."""

    result: TurnResult


@dataclass(frozen=True)
class Done:
    result: TurnResult


Event = Stage | Token | Answered | Done
_CANCELLED = object()


class TurnHandle:
    """One running turn. Iterate `events()`; `cancel()` from any thread; `wait()` to finish."""

    def __init__(self, run: Callable[[Callable[[Any], None]], TurnResult],
                 context: TurnContext) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._context = context
        self._finished = False
        self.result: TurnResult | None = None
        self._thread = threading.Thread(target=self._work, args=(run,), daemon=True)
        self._thread.start()

    def _work(self, run: Callable[[Callable[[Any], None]], TurnResult]) -> None:
        try:
            self._queue.put(Done(run(self._queue.put)))
        except TurnCancelled:
            self._queue.put(_CANCELLED)
        except BaseException as exc:  # handed to the reading thread
            self._queue.put(exc)

    def cancel(self) -> None:
        self._context.cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._context.cancel.is_set()

    def events(self) -> Iterator[Event]:
        """Events until Done; raises TurnCancelled, or the error that ended the turn."""
        while not self._finished:
            item = self._queue.get()
            if isinstance(item, Done):
                self._finished = True
                self.result = item.result
                yield item
            elif item is _CANCELLED:
                self._finished = True
                raise TurnCancelled()
            elif isinstance(item, BaseException):
                self._finished = True
                raise item
            else:
                yield item

    def wait(self) -> TurnResult | None:
        """Drain the rest of the turn; returns the final result."""
        for _ in self.events():
            pass
        self._thread.join()
        return self.result


class ChatPipeline:
    """Turns of one conversation (a session) over one retriever and one chat model."""

    def __init__(self, llm: Any, *, retriever: Any, checkpointer: Any, session: str,
                 params: PipelineParams | None = None, backend: str = "",
                 choice: Any = None, count_tokens: Callable[[str], int] | None = None,
                 capabilities: Capabilities = DEFAULT) -> None:
        self.llm = llm
        self.retriever = retriever  # anything with .search(query, k)
        self.backend = backend
        self.choice = choice  # the backend choice (name, reason, source), when known
        self.capabilities = capabilities  # what the answering model can do
        self.checkpointer = checkpointer
        self.session = check_session_name(session)
        self.params = params or PipelineParams()
        deps = Deps(llm=llm, search=retriever.search,
                    count_tokens=count_tokens or token_counter(llm), params=self.params,
                    embedding_model=lambda: str(getattr(retriever, "embedding_model", "")),
                    collection=lambda: getattr(retriever, "collection", None))
        self._graph = build_graph(deps, checkpointer)
        self._pending: TurnHandle | None = None
        self.last: TurnResult | None = None
        self.deferred_error: Exception | None = None

    def _config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.session}}

    def start_turn(self, question: str, k: int | None = None) -> TurnHandle:
        """Start a turn on a worker thread (after the previous one has fully finished)."""
        self.settle()
        context = TurnContext(k=k)
        config = self._config()
        session = self.session

        def run(put: Callable[[Any], None]) -> TurnResult:
            answered = False
            for mode, chunk in self._graph.stream(turn_input(question), config,
                                                  context=context,
                                                  stream_mode=["custom", "values"]):
                if mode == "custom":
                    put(Token(chunk["token"]) if "token" in chunk else Stage(chunk["stage"]))
                elif not answered and chunk.get("answer") is not None:
                    answered = True
                    state = TurnState.from_values(chunk)
                    self.last = result_from_state(state, self.backend, session, False)
                    put(Answered(self.last))
            state = TurnState.from_values(self._graph.get_state(config).values)
            self.last = result_from_state(state, self.backend, session, True)
            return self.last

        self._pending = TurnHandle(run, context)
        return self._pending

    def ask(self, question: str, k: int | None = None,
            on_token: Callable[[str], None] | None = None) -> TurnResult:
        """Run one turn to the end; Ctrl-C cancels it and raises TurnCancelled."""
        handle = self.start_turn(question, k)
        try:
            for event in handle.events():
                if isinstance(event, Token) and on_token is not None:
                    on_token(event.text)
        except KeyboardInterrupt:
            handle.cancel()
            try:
                handle.wait()
            except TurnCancelled:
                pass
            raise TurnCancelled() from None
        result = handle.wait()
        assert result is not None
        return result

    def settle(self) -> None:
        """Wait for the previous turn (its save_memory) to finish.

        An error that nobody has read yet (save_memory failing after the answer was
        shown) is kept in `deferred_error` for the caller to report.
        """
        pending, self._pending = self._pending, None
        if pending is not None:
            try:
                pending.wait()
            except TurnCancelled:
                pass
            except Exception as exc:
                self.deferred_error = exc

    def last_result(self) -> TurnResult | None:
        """The last answered turn of this session, also one answered by an earlier process."""
        self.settle()
        if self.last is None:
            state = self.state()
            if state.answer is not None:
                self.last = result_from_state(state, self.backend, self.session, True)
        return self.last

    def state(self) -> TurnState:
        """The session's state as the last turn left it (empty for a new session)."""
        self.settle()
        return TurnState.from_values(self._graph.get_state(self._config()).values or {})

    def history(self) -> tuple[str, list[PastTurn]]:
        """The summary of the folded turns, and the turns since."""
        state = self.state()
        return state.summary, list(state.turns)

    def reset(self) -> None:
        """Forget this session's conversation."""
        self.settle()
        self.checkpointer.delete_thread(self.session)
        self.last = None

    def switch(self, session: str) -> None:
        self.settle()
        self.session = check_session_name(session)
        self.last = None

    def sessions(self) -> list[SessionInfo]:
        self.settle()
        infos = []
        for name in session_names(self.checkpointer):
            values = self._graph.get_state({"configurable": {"thread_id": name}}).values or {}
            state = TurnState.from_values(values)
            infos.append(SessionInfo(name, len(state.turns), bool(state.summary)))
        return infos

    def close(self) -> None:
        try:
            self.settle()
        finally:
            close = getattr(self.retriever, "close", None)
            if close is not None:
                close()
            close_checkpointer(self.checkpointer)
