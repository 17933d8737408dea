"""The graph's nodes. Each is a plain function of (state, context, write) -> update: it
reads a `TurnState` and returns its own frozen update (state.py), never the graph's dicts.

LLM calls per turn: contextualize (skipped without history, or when the model is too small
to rewrite: then a question that reads as a follow-up is searched together with the previous
one as the user typed it, followup.py),
relevance_check (one call for all chunks, or retrieval scores where the model cannot
grade or its reply is unreadable), llm_answer (streamed, cleaned as it streams), and
save_memory only when the history is over its budget. Every call renders the stable prefix
from `prompts.conversation`; a turn is stored as its answer call saw it and as the model
generated it, so the next turn finds it in the KV cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ragchat.pipeline import prompts
from ragchat.pipeline.cleaning import (
    LIMIT_NOTE,
    REPEAT_NOTE,
    STOP_STRINGS,
    STOPPED_REPEAT,
    AnswerCleaner,
)
from ragchat.pipeline.followup import follow_up_search, switched_collection, without_lead
from ragchat.pipeline.llmcall import call_llm
from ragchat.pipeline.memory import (
    TokenCounter,
    drop_old_passages,
    fallback_summary,
    transcript_tokens,
    turns_to_fold,
)
from ragchat.pipeline.parsing import (
    CitationFilter,
    cited_numbers,
    is_small_talk,
    parse_grades,
    parse_rewrite,
)
from ragchat.pipeline.quoting import (
    NO_USABLE_ANSWER,
    best_passage,
    quote_fallback,
    thin,
    usable,
)
from ragchat.pipeline.relevance import is_cjk, kept_by_scores
from ragchat.pipeline.result import Chunk, LLMCall
from ragchat.pipeline.state import (
    AnswerUpdate,
    ContextualizeUpdate,
    MemoryUpdate,
    NodeUpdate,
    PastTurn,
    RelevanceUpdate,
    RetrieveUpdate,
    TurnState,
)

NOT_COVERED = "I found nothing about this in your documents."
ENGLISH_ONLY = ("The bundled demo model writes English only; `ragchat doctor` recommends a "
                "model that answers in your language.")
GENERAL = "\n\nGeneral answer, not from your documents:\n\n"
UNREADABLE_GRADES = "scores (the grader's reply was unreadable)"

Write = Callable[[Any], None]  # the graph's stream writer: {"token": ...} or {"stage": ...}
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
    llm_rewrite: bool = True  # False: a follow-up searches with the previous question
    # (followup.py)
    llm_grade: bool = True  # False: relevance by retrieval scores (no grading call)
    general_answers: bool = True  # a brief, labelled general answer when nothing matches
    writes_cjk: bool = True  # False (the model writes English only): a Korean, Chinese or
    # Japanese question gets the best passage's lines instead of a generated answer
    max_paragraphs: int = 0  # end the answer after this many paragraphs (0: no limit)
    quote_thin_answers: bool = False  # follow an answer that adds next to nothing with a quote

    @property
    def system_tasks(self) -> tuple[str, ...]:
        """The tasks whose instructions the system message holds: those this pipeline calls."""
        off = {"REWRITE"} if not self.llm_rewrite else set()
        off |= {"GRADE"} if not self.llm_grade else set()
        return tuple(task for task in prompts.ALL_TASKS if task not in off)


@dataclass(frozen=True)
class Deps:
    """What the nodes need: a chat model, a search function, a token counter."""

    llm: Any
    search: SearchFn
    count_tokens: TokenCounter
    params: PipelineParams = PipelineParams()
    embedding_model: Callable[[], str] = lambda: ""
    collection: Callable[[], str | None] = lambda: None  # the collection searched now


@dataclass
class TurnContext:
    """Per-run context: the cancel flag that Ctrl-C sets, and an optional k."""

    cancel: threading.Event = field(default_factory=threading.Event)
    k: int | None = None


def _prefix(state: TurnState, params: PipelineParams) -> list[prompts.Message]:
    return prompts.conversation(state.summary, state.turns, params.system_tasks)


def visible_passages(turns: Sequence[PastTurn]) -> set[str]:
    """Keys of the passages whose text is still in the conversation's prompt."""
    return {key for turn in turns for key in turn.shown}


def number_hits(hits: list[Any], state: TurnState) -> tuple[Chunk, ...]:
    """Give each hit its session-wide number; mark the ones already in the conversation.

    New numbers are committed with the turn (in llm_answer), so a cancelled turn leaves
    no gap in the numbering.
    """
    numbers = dict(state.numbers)
    visible = visible_passages(state.turns)
    out: list[Chunk] = []
    for hit in map(Chunk.from_hit, hits):
        key = hit.key
        if any(h.key == key for h in out):
            continue
        if key not in numbers:
            numbers[key] = max(numbers.values(), default=0) + 1
        out.append(replace(hit, n=numbers[key], seen=key in visible))
    return tuple(out)


class TurnNodes:
    """The five nodes over one set of dependencies."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.p = deps.params

    def _call(self, messages: list[prompts.Message], node: str, ctx: TurnContext,
              max_new_tokens: int, temperature: float = 0.0,
              on_text: Callable[[str], bool | None] | None = None,
              stop: tuple[str, ...] = ()) -> tuple[str, LLMCall]:
        return call_llm(self.deps.llm, messages, node=node, cancel=ctx.cancel,
                        on_text=on_text, max_new_tokens=max_new_tokens,
                        temperature=temperature, stop=list(stop) or None)

    def contextualize(self, state: TurnState, ctx: TurnContext,
                      write: Write) -> ContextualizeUpdate:
        question, turns = state.question, state.turns
        if is_small_talk(question) or (not turns and not state.summary):
            route = "direct" if is_small_talk(question) else "retrieve"
            return ContextualizeUpdate(question, route, rewrite="none")
        collection = self.deps.collection()
        if not self.p.llm_rewrite or switched_collection(turns, collection):
            # after a /collection switch the model is not asked either: the earlier turns
            # are about other documents, and the question is searched as it is
            search = follow_up_search(turns, question, collection)
            return ContextualizeUpdate(search.query, "retrieve", rewrite=search.rewrite)
        messages = _prefix(state, self.p) + [prompts.rewrite_task(question)]
        text, call = self._call(messages, "contextualize", ctx, self.p.rewrite_tokens)
        rewrite = parse_rewrite(text, question)
        if not rewrite.parsed:
            search = follow_up_search(turns, question, collection)
            return ContextualizeUpdate(
                search.query, "retrieve", rewrite_parsed=False,
                rewrite=f"{search.rewrite} (the model's rewrite was unreadable)",
                llm_calls=(call,))
        return ContextualizeUpdate(rewrite.question,
                                   "retrieve" if rewrite.retrieve else "direct",
                                   rewrite="llm", llm_calls=(call,))

    def retrieve(self, state: TurnState, ctx: TurnContext, write: Write) -> RetrieveUpdate:
        hits = self.deps.search(state.standalone_question, ctx.k or self.p.k)
        return RetrieveUpdate(number_hits(hits, state))

    def relevance_check(self, state: TurnState, ctx: TurnContext,
                        write: Write) -> RelevanceUpdate:
        hits = state.hits
        if not hits:
            return RelevanceUpdate(grading="none")
        question = state.standalone_question
        grading, parsed, output = "scores", True, ""
        calls: tuple[LLMCall, ...] = ()
        kept: list[int] = []
        if self.p.llm_grade:
            messages = _prefix(state, self.p) + [prompts.grade_task(question, hits)]
            output, call = self._call(messages, "relevance_check", ctx, self.p.grade_tokens)
            kept, parsed = parse_grades(output, [hit.n for hit in hits])
            grading, calls = ("llm" if parsed else UNREADABLE_GRADES), (call,)
        if not parsed or not self.p.llm_grade:
            # the search may have carried the previous question too: either may match, and
            # the question without its "and"/"그럼" (followup.without_lead)
            asked = list(dict.fromkeys([question, state.question,
                                        without_lead(state.question)]))
            kept = kept_by_scores(asked, hits, self.deps.embedding_model())
        return RelevanceUpdate(grading, tuple(replace(hit, kept=hit.n in kept) for hit in hits),
                               grades_parsed=parsed, grader_output=output, llm_calls=calls)

    def llm_answer(self, state: TurnState, ctx: TurnContext, write: Write) -> AnswerUpdate:
        plan = _answer_plan(state, self.p)
        raw, text, shown = plan.notice, plan.notice, ""
        call: LLMCall | None = None
        streamed: list[str] = []

        def tee(event: Any) -> None:  # what is shown, also kept here
            streamed.append(event.get("token", "") if isinstance(event, dict) else "")
            write(event)

        if plan.notice:
            tee({"token": plan.notice})
        if plan.task is not None:
            raw, shown, call = self._stream_answer(state, plan, ctx, tee)
            text += (plan.lead + shown) if shown else ""
        hits = state.hits if state.route == "retrieve" else ()
        text, quoted = self._fallback(state, plan, text, "".join(streamed), tee)
        turn = PastTurn(question=state.question, answer=text, raw=raw,
                        prompt=plan.task[1] if plan.task else state.question,
                        standalone=state.standalone_question,
                        shown=tuple(hit.key for hit in plan.offered if not hit.seen),
                        rewritten=state.rewrite == "llm", collection=self.deps.collection())
        numbers = {**state.numbers, **{hit.key: hit.n for hit in hits}}
        cited = tuple(n for n in cited_numbers(text) if n in plan.allowed)
        return AnswerUpdate(text, _answer_kind(plan, quoted, bool(shown)), (*state.turns, turn),
                            numbers,
                            plan.told, cited, llm_calls=(call,) if call else ())

    def _fallback(self, state: TurnState, plan: AnswerPlan, text: str, streamed: str,
                  write: Write) -> tuple[str, str]:
        """No usable answer from passages the model was told to use: quote the best one.
        With `quote_thin_answers`, an answer that adds next to nothing to the question is
        kept and followed by the quote. Returns the answer and "quote", "added" or ""."""
        if not plan.told:
            return text, ""
        added = usable(text) and self.p.quote_thin_answers and thin(state.question, text)
        if usable(text) and not added:
            return text, ""
        told = [hit for hit in plan.offered if hit.n in plan.told]
        best = best_passage(state.question, state.standalone_question, told)
        quote = quote_fallback(f"{state.question} {state.standalone_question}",
                               best, lead="" if added else plan.quote_lead)
        sep = "\n\n" if text.strip() else ""
        # on screen, a blank line after what was streamed (its own line ends included)
        ends = len(streamed) - len(streamed.rstrip("\n")) if streamed.strip() else 2
        write({"token": "\n" * max(2 - ends, 0) + quote})
        # what was streamed before a quote of nothing usable is not kept
        return (text + sep + quote, "added") if added else (quote, "quote")

    def _stream_answer(self, state: TurnState, plan: AnswerPlan,
                       ctx: TurnContext, write: Write) -> tuple[str, str, LLMCall]:
        """Stream the answer through the cleaner and the citation filter; return the raw
        text behind what was shown, what was shown, and the call's statistics."""
        shown: list[str] = []
        cleaner = AnswerCleaner(echo_of=prompts.system_prompt(self.p.system_tasks) + "\n"
                                + plan.task_line,
                                max_paragraphs=self.p.max_paragraphs,
                                earlier=[turn.answer for turn in state.turns])
        citations = CitationFilter(plan.allowed)

        def emit(text: str) -> None:
            if text:
                if not shown and plan.lead:
                    write({"token": plan.lead})
                shown.append(text)
                write({"token": text})

        def take(piece: str) -> bool:
            emit(citations.feed(cleaner.feed(piece)))
            return cleaner.stopped is not None  # True: stop the generation here

        assert plan.task is not None
        messages = _prefix(state, self.p) + [plan.task]
        raw, call = self._call(messages, "llm_answer", ctx, self.p.max_new_tokens,
                               self.p.temperature, on_text=take, stop=STOP_STRINGS)
        emit(citations.feed(cleaner.flush()) + citations.flush())
        text = "".join(shown)
        if cleaner.stopped == STOPPED_REPEAT:
            # the start of the repeated sentence streamed before it was known to repeat:
            # the answer kept is the cleaner's, without it
            again = CitationFilter(plan.allowed)
            text = again.feed(cleaner.shown) + again.flush() + REPEAT_NOTE
            emit(REPEAT_NOTE)
        elif not cleaner.stopped and shown and call.new_tokens >= self.p.max_new_tokens:
            emit(LIMIT_NOTE.format(n=self.p.max_new_tokens))
            text += LIMIT_NOTE.format(n=self.p.max_new_tokens)
        return cleaner.kept_raw(raw), text.strip(), call

    def save_memory(self, state: TurnState, ctx: TurnContext, write: Write) -> MemoryUpdate:
        summary, turns = state.summary, list(state.turns)
        calls: tuple[LLMCall, ...] = ()
        fold = turns_to_fold(turns, self.p.memory_token_budget, self.deps.count_tokens)
        if fold:
            summary, call = self._summarize(summary, turns[:fold], ctx)
            turns, calls = turns[fold:], (call,)
        if transcript_tokens(turns, self.deps.count_tokens) > self.p.context_token_budget:
            turns = drop_old_passages(turns)
        return MemoryUpdate(summary, tuple(turns), llm_calls=calls)

    def _summarize(self, summary: str, turns: list[PastTurn],
                   ctx: TurnContext) -> tuple[str, LLMCall]:
        messages = prompts.conversation(summary, turns, self.p.system_tasks) + [
            prompts.summary_task()]
        text, call = self._call(messages, "save_memory", ctx, self.p.summary_tokens)
        return text.strip() or fallback_summary(summary, turns), call


Node = Callable[[TurnState, TurnContext, Write], NodeUpdate]


def make_nodes(deps: Deps) -> dict[str, Node]:
    nodes = TurnNodes(deps)
    return {name: getattr(nodes, name) for name in
            ("contextualize", "retrieve", "relevance_check", "llm_answer", "save_memory")}


@dataclass(frozen=True)
class AnswerPlan:
    """The answer call: its task message (None: no call), the passages in its prompt, the
    ones it was told to use, the citable numbers, and a fixed notice shown first."""

    task: prompts.Message | None
    offered: tuple[Chunk, ...]
    told: tuple[int, ...]
    allowed: frozenset[int]
    notice: str = ""
    lead: str = ""  # shown before the answer's first words, if it has any
    quote_lead: str = NO_USABLE_ANSWER  # why the best passage is quoted, when it is

    @property
    def task_line(self) -> str:
        """The task message's instruction line ("TASK: ..."): an answer must not copy it
        (the question it may restate; the passages it may quote)."""
        content = self.task[1] if self.task else ""
        at = content.rfind("TASK:")
        return content[at:] if at >= 0 else ""


ANSWER_KINDS = {
    "generated": "the model's answer",
    "generated+quote": "the model's answer, which adds next to nothing to the question, then "
                       "the best passage's most relevant lines",
    "quote": "the best passage's most relevant lines: the model wrote nothing usable, or "
             "it cannot write the question's language",
    "general": "nothing in the documents covers it: said so, then a labelled general answer",
    "not_covered": "nothing in the documents covers it: said so",
    "notice": "a fixed line (the model cannot write the question's language)",
}


def _answer_kind(plan: AnswerPlan, quoted: str, generated: bool) -> str:
    """Which of ANSWER_KINDS the turn's answer is; `generated`: the model's text was shown
    (a general answer the model left empty is not one)."""
    if quoted:
        return "generated+quote" if quoted == "added" else "quote"
    if plan.task is None or (plan.notice == NOT_COVERED and not generated):
        return "not_covered" if plan.notice == NOT_COVERED else "notice"
    return "general" if plan.notice == NOT_COVERED else "generated"


def _answer_plan(state: TurnState, params: PipelineParams) -> AnswerPlan:
    question = state.standalone_question or state.question
    quote_only = not params.writes_cjk and is_cjk(state.question)
    if state.route == "direct":
        if quote_only:
            return AnswerPlan(None, (), (), frozenset(), ENGLISH_ONLY)
        return AnswerPlan(prompts.chat_task(state.question), (), (), frozenset())
    hits = state.hits
    told = tuple(hit.n for hit in hits if hit.kept)
    # after a grading call (read or not) the answer shares its prompt, all candidates, so
    # the grader's prefill is reused and every candidate counts as shown for the next turn
    graded_by_call = state.grading in ("llm", UNREADABLE_GRADES)
    offered = hits if graded_by_call else tuple(h for h in hits if h.kept)
    if not told:
        if not params.general_answers or quote_only:
            return AnswerPlan(None, (), (), frozenset(), NOT_COVERED)
        return AnswerPlan(prompts.general_task(question, offered), offered, (), frozenset(),
                          NOT_COVERED, GENERAL)
    allowed = frozenset(hit.n for hit in offered)
    if quote_only:
        return AnswerPlan(None, offered, told, allowed, quote_lead=ENGLISH_ONLY)
    return AnswerPlan(prompts.answer_task(question, offered, told), offered, told, allowed)
