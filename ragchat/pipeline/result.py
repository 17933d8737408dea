"""Values a turn produces: sources, retrieved chunks with verdicts, LLM call statistics.

Each value the checkpoint keeps has a plain-data form beside it (`CallData`, `HitData`): the
session database stores dicts, so that it needs no registered class to load and a session
saved by an older ragchat (with fewer keys) still loads; `from_dict` fills what is missing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, TypedDict, cast

NODES = ("contextualize", "retrieve", "relevance_check", "llm_answer", "save_memory")


class TurnCancelled(Exception):
    """The user cancelled the turn (Ctrl-C); the session is left as it was before it."""


class CallData(TypedDict, total=False):
    """An LLMCall as the checkpoint stores it."""

    node: str
    prompt_tokens: int
    cached_tokens: int
    new_tokens: int
    ttft_s: float
    decode_tps: float
    total_s: float
    backend: str
    cache_known: bool


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
    def from_dict(cls, data: Mapping[str, Any]) -> LLMCall:
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if "cached_tokens" in values and values["cached_tokens"] is None:  # --json's null
            values.update(cached_tokens=0, cache_known=False)
        return cls(**values)

    def to_dict(self) -> CallData:
        return cast(CallData, asdict(self))


class HitData(TypedDict, total=False):
    """A Chunk as the checkpoint stores it. `key` is derived from path, location and text;
    sessions saved by older versions may lack `key`, `seen`, `dense_similarity` and
    `bm25_rank`, and have `location` None."""

    n: int
    path: str
    location: str | None
    heading: str | None
    text: str
    score: float
    start_line: int | None
    end_line: int | None
    page: int | None
    dense_similarity: float | None
    bm25_rank: int | None
    key: str
    kept: bool
    seen: bool


@dataclass(frozen=True)
class Chunk:
    """A retrieved chunk of a turn: as the prompt shows it (its session-wide number, place,
    heading and text; `seen`: its text is already in the conversation, so the prompt refers
    to it by number) and as the result reports it (score, the grader's verdict `kept`)."""

    n: int
    path: str
    location: str
    text: str
    score: float
    heading: str | None = None
    start_line: int | None = None
    page: int | None = None
    kept: bool = False
    end_line: int | None = None
    dense_similarity: float | None = None  # cosine similarity to the query, when known
    bm25_rank: int | None = None
    seen: bool = False

    @property
    def key(self) -> str:
        """The passage's identity across turns (passage_key): its number is kept by it."""
        return passage_key(self.path, self.location, self.text)

    @classmethod
    def from_hit(cls, hit: Any, n: int = 0) -> Chunk:
        """A search hit (a SearchHit, or any object with its fields), numbered `n`."""
        def get(name: str) -> Any:
            return getattr(hit, name, None)

        return cls(n=n, path=str(get("path")), location=get("location") or "",
                   text=get("text"), score=float(get("score") or 0.0), heading=get("heading"),
                   start_line=get("start_line"), end_line=get("end_line"), page=get("page"),
                   dense_similarity=get("dense_similarity"), bm25_rank=get("bm25_rank"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Chunk:
        """From the checkpoint's form; keys it lacks (an older session) take their defaults."""
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        values.update(path=str(data.get("path") or ""), location=data.get("location") or "",
                      text=data.get("text") or "", score=float(data.get("score") or 0.0),
                      n=int(data.get("n") or 0))
        return cls(**values)

    def to_dict(self) -> HitData:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return cast(HitData, {**data, "key": self.key})


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


def passage_key(path: str, location: str, text: str) -> str:
    """Identifies a passage across turns, collections and re-ingests (same text, same key)."""
    digest = hashlib.sha1(f"{path}\0{location}\0{text}".encode()).hexdigest()
    return digest[:16]
