"""The graph's nodes. Each is a plain function of (state, context, write) -> update.

LLM calls per turn: contextualize (skipped without history), relevance_check (one call
for all chunks), llm_answer (streamed), and save_memory only when the history is over
its budget. Every call renders the stable prefix from `prompts.conversation`; a turn is
stored as its answer call saw it, so the next turn finds it in the KV cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ragchat.pipeline import prompts
from ragchat.pipeline.llmcall import call_llm
from ragchat.pipeline.memory import (
    TokenCounter,
    drop_old_passages,
    fallback_summary,
    transcript_tokens,
    turns_to_fold,
)
from ragchat.pipeline.parsing import CitationFilter, is_small_talk, parse_grades, parse_rewrite
from ragchat.pipeline.result import hit_to_dict

NOT_COVERED = ("I found nothing about this in your documents. "
               "General answer, not from your documents:\n\n")

Update = dict[str, Any]
Write = Callable[[Any], None]
SearchFn = Callable[[str, int], list[Any]]


@dataclass(frozen=True)
class PipelineParams:
    k: int = 5
    max_new_tokens: int = 512
    temperature: float = 0.2
    memory_token_budget: int = 1500  # question + answer tokens kept verbatim
    context_token_budget: int = 4096  # turns with their passages, before old passages go
    rewrite_tokens: int = 64
    grade_tokens: int = 32
    summary_tokens: int = 256


@dataclass(frozen=True)
class Deps:
    """What the nodes need: a chat model, a search function, a token counter."""

    llm: Any
    search: SearchFn
    count_tokens: TokenCounter
    params: PipelineParams = PipelineParams()


@dataclass
class TurnContext:
    """Per-run context: the cancel flag that Ctrl-C sets, and an optional k."""

    cancel: threading.Event = field(default_factory=threading.Event)
    k: int | None = None


def _prefix(state: dict[str, Any]) -> list[prompts.Message]:
    return prompts.conversation(state.get("summary") or "", state.get("turns") or [])


def visible_passages(turns: list[dict[str, Any]]) -> set[str]:
    """Keys of the passages whose text is still in the conversation's prompt."""
    return {key for turn in turns for key in turn.get("shown") or []}


def number_hits(hits: list[Any], state: dict[str, Any]) -> list[dict[str, Any]]:
    """Give each hit its session-wide number; mark the ones already in the conversation.

    New numbers are committed with the turn (in llm_answer), so a cancelled turn leaves
    no gap in the numbering.
    """
    numbers = dict(state.get("numbers") or {})
    visible = visible_passages(state.get("turns") or [])
    out: list[dict[str, Any]] = []
    for hit in map(hit_to_dict, hits):
        if any(h["key"] == hit["key"] for h in out):
            continue
        if hit["key"] not in numbers:
            numbers[hit["key"]] = max(numbers.values(), default=0) + 1
        out.append({**hit, "n": numbers[hit["key"]], "seen": hit["key"] in visible})
    return out


class TurnNodes:
    """The five nodes over one set of dependencies."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.p = deps.params

    def _call(self, messages: list[prompts.Message], node: str, ctx: TurnContext,
              max_new_tokens: int, temperature: float = 0.0,
              on_text: Callable[[str], None] | None = None) -> tuple[str, dict[str, Any]]:
        text, call = call_llm(self.deps.llm, messages, node=node, cancel=ctx.cancel,
                              on_text=on_text, max_new_tokens=max_new_tokens,
                              temperature=temperature)
        return text, asdict(call)

    def contextualize(self, state: dict[str, Any], ctx: TurnContext, write: Write) -> Update:
        question = state["question"]
        if not state.get("turns") and not state.get("summary"):
            route = "direct" if is_small_talk(question) else "retrieve"
            return {"standalone_question": question, "route": route, "rewrite_parsed": True}
        messages = _prefix(state) + [prompts.rewrite_task(question)]
        text, call = self._call(messages, "contextualize", ctx, self.p.rewrite_tokens)
        rewrite = parse_rewrite(text, question)
        return {
            "standalone_question": rewrite.question,
            "route": "retrieve" if rewrite.retrieve else "direct",
            "rewrite_parsed": rewrite.parsed,
            "llm_calls": [call],
        }

    def retrieve(self, state: dict[str, Any], ctx: TurnContext, write: Write) -> Update:
        hits = self.deps.search(state["standalone_question"], ctx.k or self.p.k)
        return {"hits": number_hits(hits, state)}

    def relevance_check(self, state: dict[str, Any], ctx: TurnContext, write: Write) -> Update:
        hits = state.get("hits") or []
        if not hits:
            return {"grades_parsed": True}
        messages = _prefix(state) + [prompts.grade_task(state["standalone_question"], hits)]
        text, call = self._call(messages, "relevance_check", ctx, self.p.grade_tokens)
        kept, parsed = parse_grades(text, [hit["n"] for hit in hits])
        return {
            "hits": [{**hit, "kept": hit["n"] in kept} for hit in hits],
            "grades_parsed": parsed,
            "grader_output": text,
            "llm_calls": [call],
        }

    def llm_answer(self, state: dict[str, Any], ctx: TurnContext, write: Write) -> Update:
        task, allowed, notice = _answer_task(state)
        if notice:
            write({"token": notice})
        text, raw, call = self._stream_answer(_prefix(state) + [task], allowed, ctx, write)
        hits = (state.get("hits") or []) if state.get("route") == "retrieve" else []
        # the prompt history keeps what the model generated, token for token (`raw`), so
        # that the next call finds it in the KV cache; `answer` is what the user saw
        turn = {"question": state["question"], "prompt": task[1], "answer": text, "raw": raw,
                "shown": [hit["key"] for hit in hits if not hit.get("seen")]}
        numbers = {**(state.get("numbers") or {}), **{hit["key"]: hit["n"] for hit in hits}}
        return {"answer": notice + text, "turns": list(state.get("turns") or []) + [turn],
                "numbers": numbers, "llm_calls": [call]}

    def _stream_answer(self, messages: list[prompts.Message], allowed: set[int],
                       ctx: TurnContext, write: Write) -> tuple[str, str, dict[str, Any]]:
        """Stream the answer through the citation filter; return what the user saw and
        what the model generated."""
        shown: list[str] = []
        citations = CitationFilter(allowed)

        def emit(text: str) -> None:
            if not shown:
                text = text.lstrip()
            if text:
                shown.append(text)
                write({"token": text})

        raw, call = self._call(messages, "llm_answer", ctx, self.p.max_new_tokens,
                               self.p.temperature, on_text=lambda t: emit(citations.feed(t)))
        emit(citations.flush())
        return "".join(shown).strip(), raw, call

    def save_memory(self, state: dict[str, Any], ctx: TurnContext, write: Write) -> Update:
        turns = list(state.get("turns") or [])
        update: Update = {}
        fold = turns_to_fold(turns, self.p.memory_token_budget, self.deps.count_tokens)
        if fold:
            summary = self._summarize(state.get("summary") or "", turns[:fold], ctx, update)
            turns = turns[fold:]
            update.update(summary=summary, turns=turns)
        if transcript_tokens(turns, self.deps.count_tokens) > self.p.context_token_budget:
            update["turns"] = drop_old_passages(turns)
        return update

    def _summarize(self, summary: str, turns: list[dict[str, Any]], ctx: TurnContext,
                   update: Update) -> str:
        messages = prompts.conversation(summary, turns) + [prompts.summary_task()]
        text, call = self._call(messages, "save_memory", ctx, self.p.summary_tokens)
        update["llm_calls"] = [call]
        return text.strip() or fallback_summary(summary, turns)


def make_nodes(deps: Deps) -> dict[str, Callable[[dict[str, Any], TurnContext, Write], Update]]:
    nodes = TurnNodes(deps)
    return {name: getattr(nodes, name) for name in
            ("contextualize", "retrieve", "relevance_check", "llm_answer", "save_memory")}


def _answer_task(state: dict[str, Any]) -> tuple[prompts.Message, set[int], str]:
    """The answer call's task message, the citable passage numbers, and a fixed notice."""
    question = state.get("standalone_question") or state["question"]
    if state.get("route") == "direct":
        return prompts.chat_task(state["question"]), set(), ""
    hits = state.get("hits") or []
    kept = [hit["n"] for hit in hits if hit.get("kept")]
    if not kept:
        return prompts.general_task(question, hits), set(), NOT_COVERED
    return prompts.answer_task(question, hits, kept), set(kept), ""
