"""Values a turn produces: sources, retrieved chunks with verdicts, LLM call statistics."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

NODES = ("contextualize", "retrieve", "relevance_check", "llm_answer", "save_memory")


class TurnCancelled(Exception):
    """The user cancelled the turn (Ctrl-C); the session is left as it was before it."""


@dataclass(frozen=True)
class LLMCall:
    """One LLM call: how much of its prompt came from the KV cache, and how fast it ran."""

    node: str
    prompt_tokens: int
    cached_tokens: int
    new_tokens: int
    ttft_s: float
    decode_tps: float
    total_s: float = 0.0
    backend: str = ""
    cache_known: bool = True  # False: the engine does not say what it served from its cache

    def public(self) -> dict[str, Any]:
        """The fields `ask --json` prints (`cached_tokens` is null where it is unknown)."""
        return {
            "node": self.node,
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens if self.cache_known else None,
            "new_tokens": self.new_tokens,
            "ttft_s": round(self.ttft_s, 4),
            "decode_tps": round(self.decode_tps, 2),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LLMCall:
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if "cached_tokens" in values and values["cached_tokens"] is None:  # --json's null
            values.update(cached_tokens=0, cache_known=False)
        return cls(**values)


@dataclass(frozen=True)
class Chunk:
    """A retrieved chunk as the turn saw it: number, place, score, the grader's verdict."""

    n: int
    path: str
    location: str
    text: str
    score: float
    heading: str | None = None
    start_line: int | None = None
    page: int | None = None
    kept: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class TurnResult:
    question: str
    standalone_question: str
    route: str  # "retrieve" or "direct"
    answer: str
    # what to show under the answer: the passages it cites ([n] is Chunk.n), or, when it
    # cites none, the ones it was told to use (sources_kind says which)
    sources: tuple[Chunk, ...]
    retrieved: tuple[Chunk, ...]  # every retrieved chunk, with the relevance verdict
    grades_parsed: bool
    timings: dict[str, float]
    llm_calls: tuple[LLMCall, ...]
    backend: str
    session: str = ""
    memory_done: bool = True
    sources_kind: str = "none"  # "cited", "given" or "none"
    told: tuple[int, ...] = ()
    cited: tuple[int, ...] = ()
    rewrite: str = ""
    grading: str = ""
    answer_kind: str = ""  # one of pipeline.nodes.ANSWER_KINDS

    def source(self, n: int) -> Chunk | None:
        return next((c for c in self.sources if c.n == n), None)

    def cache_ratio(self) -> float:
        """Cached / prompt tokens of the calls whose engine reports its cache."""
        known = [c for c in self.llm_calls if c.cache_known]
        prompt = sum(c.prompt_tokens for c in known)
        cached = sum(c.cached_tokens for c in known)
        return cached / prompt if prompt else 0.0

    def cache_known(self) -> bool:
        """False when no call of the turn says how much of its prompt came from a cache."""
        return not self.llm_calls or any(c.cache_known for c in self.llm_calls)

    def to_json(self) -> dict[str, Any]:
        """The `ask --json` / `repl --json` object."""
        return {
            "answer": self.answer,
            "answer_kind": self.answer_kind,
            "sources": [
                {"n": c.n, "path": c.path, "location": c.location, "text": c.text}
                for c in self.sources
            ],
            "sources_kind": self.sources_kind,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "llm_calls": [c.public() for c in self.llm_calls],
            "backend": self.backend,
            "route": self.route,
            "standalone_question": self.standalone_question,
            "trail": self.trail(),
        }

    def trail(self) -> dict[str, Any]:
        """How the answer came about: search, relevance, what the model was told and cited."""
        return {
            "rewrite": self.rewrite,
            "grading": self.grading,
            "retrieved": [{"n": c.n, "path": c.path, "location": c.location,
                           "score": round(c.score, 6), "relevant": c.kept}
                          for c in self.retrieved],
            "told": list(self.told),
            "cited": list(self.cited),
        }


def result_from_state(values: dict[str, Any], backend: str, session: str,
                      memory_done: bool) -> TurnResult:
    """Build a TurnResult from the graph state after llm_answer (or after save_memory)."""
    retrieved = tuple(Chunk.from_dict(h) for h in values.get("hits") or [])
    calls = tuple(LLMCall.from_dict(c) for c in values.get("llm_calls") or [])
    used = next((c.backend for c in reversed(calls) if c.backend), "")
    told = tuple(values.get("told") or ())
    cited = tuple(values.get("cited") or ())
    by_n = {c.n: c for c in retrieved}
    shown = [by_n[n] for n in (cited or told) if n in by_n]
    return TurnResult(
        question=values.get("question", ""),
        standalone_question=values.get("standalone_question") or values.get("question", ""),
        route=values.get("route") or "retrieve",
        answer=values.get("answer") or "",
        answer_kind=values.get("answer_kind") or "",
        sources=tuple(shown),
        sources_kind=("cited" if cited else "given") if shown else "none",
        told=told, cited=cited, rewrite=values.get("rewrite") or "",
        grading=values.get("grading") or "",
        retrieved=retrieved,
        grades_parsed=bool(values.get("grades_parsed", True)),
        timings=dict(values.get("timings") or {}),
        llm_calls=calls,
        backend=used or backend,
        session=session,
        memory_done=memory_done,
    )


def passage_key(path: str, location: str, text: str) -> str:
    """Identifies a passage across turns, collections and re-ingests (same text, same key)."""
    digest = hashlib.sha1(f"{path}\0{location}\0{text}".encode()).hexdigest()
    return digest[:16]


def hit_to_dict(hit: Any) -> dict[str, Any]:
    """A SearchHit (or any object with its fields) as plain data for the checkpoint."""
    data = asdict(hit) if hasattr(hit, "__dataclass_fields__") else dict(vars(hit))
    keep = ("path", "location", "heading", "text", "score", "start_line", "end_line", "page",
            "dense_similarity", "bm25_rank")
    out: dict[str, Any] = {k: data.get(k) for k in keep}
    out["path"] = str(out["path"])
    out["location"] = out["location"] or ""
    out["score"] = float(out["score"] or 0.0)
    out["key"] = passage_key(out["path"], out["location"], out["text"])
    out["kept"] = False
    out["seen"] = False
    return out
