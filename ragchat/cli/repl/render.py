"""Text for a turn: sources, the per-node timings table, /why. Shared by `ask` and `repl`.

Paths, passages, questions and names in them are made safe for a terminal here, one field
at a time (a newline in a file name cannot forge a line)."""

from __future__ import annotations

import os
from typing import Any

from ragchat.cli.terminal import safe_line

STAGE_LABELS = {
    "contextualize": "reading the conversation",
    "retrieve": "searching your documents",
    "relevance_check": "checking the passages",
    "llm_answer": "answering",
    "save_memory": "saving the conversation",
}


def source_line(chunk: Any) -> str:
    where = f"{chunk.path}:{chunk.location}" if chunk.location else chunk.path
    return f"[{chunk.n}] {safe_line(where)}"


SOURCE_HEADINGS = {
    "cited": "Sources:",
    "given": "Passages the model was given (the answer cites none):",
}


def sources_heading(result: Any) -> str:
    return SOURCE_HEADINGS.get(getattr(result, "sources_kind", "cited"), "Sources:")


def format_sources(result: Any, with_text: bool = False, columns: int | None = None) -> str:
    """The sources list; with_text adds a snippet of each, wrapped between words at
    `columns` (None: one line per snippet)."""
    from ragchat.cli.layout import shorten, wrap

    if not result.sources:
        return ""
    lines = [sources_heading(result)]
    for chunk in result.sources:
        lines.append(source_line(chunk))
        if with_text:
            lines.append(wrap(safe_line(shorten(chunk.text, 300)), columns, "    "))
    return "\n".join(lines)


def _call_cells(calls: list[Any]) -> list[str]:
    if not calls:
        return ["-", "-", "-", "-", "-"]
    prompt = sum(c.prompt_tokens for c in calls)
    cached = sum(c.cached_tokens for c in calls)
    new = sum(c.new_tokens for c in calls)
    ttft = calls[0].ttft_s
    rates = [c.decode_tps for c in calls if c.decode_tps]
    tps = sum(rates) / len(rates) if rates else 0.0
    cached_cell = str(cached) if all(c.cache_known for c in calls) else "unknown"
    return [str(prompt), cached_cell, str(new), f"{ttft:.3f}", f"{tps:.1f}"]


def format_timings(result: Any) -> str:
    """The per-node breakdown: seconds, LLM prompt/cached/new tokens, TTFT, decode tok/s."""
    header = ["node", "seconds", "prompt", "cached", "new", "ttft_s", "tok/s"]
    rows = []
    for node, seconds in result.timings.items():
        calls = [c for c in result.llm_calls if c.node == node]
        rows.append([safe_line(node), f"{seconds:.3f}", *_call_cells(calls)])
    total = _call_cells(list(result.llm_calls))
    rows.append(["total", f"{sum(result.timings.values()):.3f}", *total[:3], "", ""])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                       for i, cell in enumerate(row)) for row in [header, *rows]]
    cache = f"{result.cache_ratio():.0%} of prompt tokens served from the KV cache"
    if not result.cache_known():
        cache = "unknown (the server or engine does not report it)"
    elif not all(c.cache_known for c in result.llm_calls):
        cache += " (of the calls that report it)"
    lines.append(f"cache: {cache}; backend: {safe_line(result.backend or 'unknown')}")
    return "\n".join(line.rstrip() for line in lines)


FIRST_QUESTION = "this question alone: the first of the conversation"


def format_why(result: Any) -> str:
    """How the answer came about: the question searched for, how relevance was decided,
    every retrieved passage with its verdict, what the model was told to use and cited."""
    lines = [f"question:   {safe_line(result.question)}",
             f"searched:   {safe_line(result.standalone_question)}"]
    rewrite = getattr(result, "rewrite", "")
    if rewrite not in ("", "none"):
        lines.append(f"rewrite:    {safe_line(rewrite)}")
    elif result.route == "retrieve":  # no rewrite because nothing came before
        lines.append(f"rewrite:    {FIRST_QUESTION}")
    lines.append(f"route:      {safe_line(result.route)}")
    if result.route != "retrieve":
        lines.append("no search: the question was answered from the conversation")
        return "\n".join(lines)
    if not result.retrieved:
        lines.append("retrieved:  nothing")
        return "\n".join(lines)
    lines.append(f"relevance:  {safe_line(getattr(result, 'grading', '') or 'llm')}")
    lines.append("retrieved:")
    for chunk in result.retrieved:
        verdict = "relevant" if chunk.kept else "dropped "
        name = os.path.basename(chunk.path)
        where = f"{name}:{chunk.location}" if chunk.location else name
        lines.append(f"  [{chunk.n}] {chunk.score:.4f}  {verdict}  {safe_line(where)}")
    told = ", ".join(f"[{n}]" for n in getattr(result, "told", ())) or "none"
    cited = ", ".join(f"[{n}]" for n in getattr(result, "cited", ())) or "none"
    lines += [f"told to use: {told}", f"cited:       {cited}"]
    kind = getattr(result, "answer_kind", "")
    if kind:
        from ragchat.pipeline.nodes import ANSWER_KINDS

        lines.append(f"answer:      {safe_line(kind)} ({ANSWER_KINDS.get(kind, '?')})")
    return "\n".join(lines)
