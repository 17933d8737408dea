"""The graph's nodes. Each is a plain function of (state, context, write) -> update.

LLM calls per turn: contextualize (skipped without history, or when the model is too small
to rewrite: then the previous question and the new one are searched together),
relevance_check (one call for all chunks, or retrieval scores where the model cannot
grade or its reply is unreadable), llm_answer (streamed, cleaned as it streams), and
save_memory only when the history is over its budget. Every call renders the stable prefix
from `prompts.conversation`; a turn is stored as its answer call saw it and as the model
generated it, so the next turn finds it in the KV cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ragchat.pipeline import prompts
from ragchat.pipeline.cleaning import (
    LIMIT_NOTE,
    REPEAT_NOTE,
    STOP_STRINGS,
    STOPPED_REPEAT,
    AnswerCleaner,
)
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
from ragchat.pipeline.quoting import NO_USABLE_ANSWER, quote_fallback, thin, usable
from ragchat.pipeline.relevance import is_cjk, kept_by_scores, overlap
from ragchat.pipeline.result import hit_to_dict

NOT_COVERED = "I found nothing about this in your documents."
ENGLISH_ONLY = ("The bundled demo model writes English only; `ragchat doctor` recommends a "
                "model that answers in your language.")
GENERAL = "\n\nGeneral answer, not from your documents:\n\n"
UNREADABLE_GRADES = "scores (the grader's reply was unreadable)"
FOLLOW_UP_CONTEXT = 300  # characters of the previous question kept for a follow-up's search

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
    llm_rewrite: bool = True  # False: a follow-up searches with the previous question
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


@dataclass
class TurnContext:
    """Per-run context: the cancel flag that Ctrl-C sets, and an optional k."""

    cancel: threading.Event = field(default_factory=threading.Event)
    k: int | None = None


def _prefix(state: dict[str, Any], params: PipelineParams) -> list[prompts.Message]:
    return prompts.conversation(state.get("summary") or "", state.get("turns") or [],
                                params.system_tasks)


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


def follow_up_query(turns: list[dict[str, Any]], question: str) -> str:
    """What a follow-up searches for when no rewrite is at hand: the previous question (as
    it was searched) and the new one, so "and how do I turn it off?" finds its topic."""
    previous = (turns[-1].get("standalone") or turns[-1]["question"]) if turns else ""
    previous = previous[-FOLLOW_UP_CONTEXT:].strip()
    return f"{previous} {question}".strip() if previous else question


class TurnNodes:
    """The five nodes over one set of dependencies."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.p = deps.params

    def _call(self, messages: list[prompts.Message], node: str, ctx: TurnContext,
              max_new_tokens: int, temperature: float = 0.0,
              on_text: Callable[[str], bool | None] | None = None,
              stop: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
        text, call = call_llm(self.deps.llm, messages, node=node, cancel=ctx.cancel,
                              on_text=on_text, max_new_tokens=max_new_tokens,
                              temperature=temperature, stop=list(stop) or None)
        return text, asdict(call)

    def contextualize(self, state: dict[str, Any], ctx: TurnContext, write: Write) -> Update:
        question = state["question"]
        turns = state.get("turns") or []
        if is_small_talk(question) or (not turns and not state.get("summary")):
            route = "direct" if is_small_talk(question) else "retrieve"
            return {"standalone_question": question, "route": route, "rewrite_parsed": True,
                    "rewrite": "none"}
        if not self.p.llm_rewrite:
            return {"standalone_question": follow_up_query(turns, question), "route": "retrieve",
                    "rewrite_parsed": True, "rewrite": "previous question + this one"}
        messages = _prefix(state, self.p) + [prompts.rewrite_task(question)]
        text, call = self._call(messages, "contextualize", ctx, self.p.rewrite_tokens)
        rewrite = parse_rewrite(text, question)
        if not rewrite.parsed:
            return {"standalone_question": follow_up_query(turns, question), "route": "retrieve",
                    "rewrite_parsed": False, "llm_calls": [call],
                    "rewrite": "previous question + this one (the rewrite was unreadable)"}
        return {
            "standalone_question": rewrite.question,
            "route": "retrieve" if rewrite.retrieve else "direct",
            "rewrite_parsed": True, "rewrite": "llm",
            "llm_calls": [call],
        }

    def retrieve(self, state: dict[str, Any], ctx: TurnContext, write: Write) -> Update:
        hits = self.deps.search(state["standalone_question"], ctx.k or self.p.k)
        return {"hits": number_hits(hits, state)}

    def relevance_check(self, state: dict[str, Any], ctx: TurnContext, write: Write) -> Update:
        hits = state.get("hits") or []
        if not hits:
            return {"grades_parsed": True, "grading": "none"}
        question = state["standalone_question"]
        update: Update = {"grades_parsed": True, "grading": "scores"}
        kept: list[int] = []
        if self.p.llm_grade:
            messages = _prefix(state, self.p) + [prompts.grade_task(question, hits)]
            text, call = self._call(messages, "relevance_check", ctx, self.p.grade_tokens)
            kept, parsed = parse_grades(text, [hit["n"] for hit in hits])
            update.update(grades_parsed=parsed, grader_output=text, llm_calls=[call],
                          grading="llm" if parsed else UNREADABLE_GRADES)
        if not update["grades_parsed"] or not self.p.llm_grade:
            # the search may have carried the previous question too: either may match
            asked = list(dict.fromkeys([question, state["question"]]))
            kept = kept_by_scores(asked, hits, self.deps.embedding_model())
        update["hits"] = [{**hit, "kept": hit["n"] in kept} for hit in hits]
        return update

    def llm_answer(self, state: dict[str, Any], ctx: TurnContext, write: Write) -> Update:
        plan = _answer_plan(state, self.p)
        raw, text, call = plan.notice, plan.notice, None
        streamed: list[str] = []

        def tee(event: Any) -> None:  # what is shown, also kept here
            streamed.append(event.get("token", "") if isinstance(event, dict) else "")
            write(event)

        if plan.notice:
            tee({"token": plan.notice})
        if plan.task is not None:
            raw, shown, call = self._stream_answer(state, plan, ctx, tee)
            text += (plan.lead + shown) if shown else ""
        hits = (state.get("hits") or []) if state.get("route") == "retrieve" else []
        text, quoted = self._fallback(state, plan, text, "".join(streamed), tee)
        turn = {"question": state["question"], "standalone": state.get("standalone_question"),
                "prompt": plan.task[1] if plan.task else state["question"],
                "answer": text, "raw": raw,
                "shown": [hit["key"] for hit in plan.offered if not hit.get("seen")]}
        numbers = {**(state.get("numbers") or {}), **{hit["key"]: hit["n"] for hit in hits}}
        cited = [n for n in cited_numbers(text) if n in plan.allowed]
        return {"answer": text, "answer_kind": _answer_kind(plan, quoted),
                "turns": list(state.get("turns") or []) + [turn],
                "numbers": numbers, "told": plan.told, "cited": cited,
                "llm_calls": [call] if call else []}

    def _fallback(self, state: dict[str, Any], plan: AnswerPlan, text: str, streamed: str,
                  write: Write) -> tuple[str, str]:
        """No usable answer from passages the model was told to use: quote the best one.
        With `quote_thin_answers`, an answer that adds next to nothing to the question is
        kept and followed by the quote. Returns the answer and "quote", "added" or ""."""
        if not plan.told:
            return text, ""
        added = usable(text) and self.p.quote_thin_answers and thin(state["question"], text)
        if usable(text) and not added:
            return text, ""
        told = [hit for hit in plan.offered if hit["n"] in plan.told]
        # the passage that matches the latest question best (a follow-up's search also
        # carried the previous question); ties go to the better ranked
        best = max(told, key=lambda hit: overlap(state["question"], hit["text"]))
        quote = quote_fallback(f"{state['question']} {state.get('standalone_question', '')}",
                               best, lead="" if added else plan.quote_lead)
        sep = "\n\n" if text.strip() else ""
        # on screen, a blank line after what was streamed (its own line ends included)
        ends = len(streamed) - len(streamed.rstrip("\n")) if streamed.strip() else 2
        write({"token": "\n" * max(2 - ends, 0) + quote})
        # what was streamed before a quote of nothing usable is not kept
        return (text + sep + quote, "added") if added else (quote, "quote")

    def _stream_answer(self, state: dict[str, Any], plan: AnswerPlan,
                       ctx: TurnContext, write: Write) -> tuple[str, str, dict[str, Any]]:
        """Stream the answer through the cleaner and the citation filter; return the raw
        text behind what was shown, what was shown, and the call's statistics."""
        shown: list[str] = []
        cleaner = AnswerCleaner(echo_of=prompts.system_prompt(self.p.system_tasks) + "\n"
                                + plan.task_line,
                                max_paragraphs=self.p.max_paragraphs,
                                earlier=[turn["answer"] for turn in state.get("turns") or []])
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
        elif not cleaner.stopped and shown and call["new_tokens"] >= self.p.max_new_tokens:
            emit(LIMIT_NOTE.format(n=self.p.max_new_tokens))
            text += LIMIT_NOTE.format(n=self.p.max_new_tokens)
        return cleaner.kept_raw(raw), text.strip(), call

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
        messages = prompts.conversation(summary, turns, self.p.system_tasks) + [
            prompts.summary_task()]
        text, call = self._call(messages, "save_memory", ctx, self.p.summary_tokens)
        update["llm_calls"] = [call]
        return text.strip() or fallback_summary(summary, turns)


def make_nodes(deps: Deps) -> dict[str, Callable[[dict[str, Any], TurnContext, Write], Update]]:
    nodes = TurnNodes(deps)
    return {name: getattr(nodes, name) for name in
            ("contextualize", "retrieve", "relevance_check", "llm_answer", "save_memory")}


@dataclass(frozen=True)
class AnswerPlan:
    """The answer call: its task message (None: no call), the passages in its prompt, the
    ones it was told to use, the citable numbers, and a fixed notice shown first."""

    task: prompts.Message | None
    offered: list[dict[str, Any]]
    told: list[int]
    allowed: set[int]
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


def _answer_kind(plan: AnswerPlan, quoted: str) -> str:
    """Which of ANSWER_KINDS the turn's answer is."""
    if quoted:
        return "generated+quote" if quoted == "added" else "quote"
    if plan.task is None:
        return "not_covered" if plan.notice == NOT_COVERED else "notice"
    return "general" if plan.notice == NOT_COVERED else "generated"


def _answer_plan(state: dict[str, Any], params: PipelineParams) -> AnswerPlan:
    question = state.get("standalone_question") or state["question"]
    quote_only = not params.writes_cjk and is_cjk(state["question"])
    if state.get("route") == "direct":
        if quote_only:
            return AnswerPlan(None, [], [], set(), ENGLISH_ONLY)
        return AnswerPlan(prompts.chat_task(state["question"]), [], [], set())
    hits = state.get("hits") or []
    told = [hit["n"] for hit in hits if hit.get("kept")]
    # after a grading call (read or not) the answer shares its prompt, all candidates, so
    # the grader's prefill is reused and every candidate counts as shown for the next turn
    graded_by_call = state.get("grading") in ("llm", UNREADABLE_GRADES)
    offered = hits if graded_by_call else [h for h in hits if h.get("kept")]
    if not told:
        if not params.general_answers or quote_only:
            return AnswerPlan(None, [], [], set(), NOT_COVERED)
        return AnswerPlan(prompts.general_task(question, offered), offered, [], set(),
                          NOT_COVERED, GENERAL)
    allowed = {hit["n"] for hit in offered}
    if quote_only:
        return AnswerPlan(None, offered, told, allowed, quote_lead=ENGLISH_ONLY)
    return AnswerPlan(prompts.answer_task(question, offered, told), offered, told, allowed)
