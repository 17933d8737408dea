"""Follow-up conversations: what a follow-up searches for, and which passage the quote shows.

Runs the two- and three-turn conversations of benchmarks/qa/followups.jsonl (httpx's and
pip's docs in English, Vue's docs in Korean) through ragchat's chat pipeline with the
bundled demo model's settings (no rewrite call, relevance by scores: `DEMO` capabilities)
and a silent model in its place: a model that writes nothing, so that every turn with
passages to use ends in the quote fallback, the quote a user of a small model sees. No model
weights are loaded; what is measured is the search and the choice of the quoted passage.

Per turn: the search (the standalone question), whether the top `search_k` passages hold one
of the gold source files, and whether the quoted passage (and the quoted lines) hold the
turn's answer string. Summaries per set and split, for the first turns, the follow-ups and
the topic changes; and the follow-up rule's verdicts against the labels.

To compare code versions, run the script with another checkout's ragchat first on the path
(`PYTHONPATH=CHECKOUT python benchmarks/followups.py --name NAME`); the results file records
the commit of the ragchat it ran.

    python benchmarks/followups.py --name after [--work-dir DIR]
    python benchmarks/followups.py --table benchmarks/results/followups-before.json ...
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH_DIR,
    git_commit,
    git_dirty,
    relative_to,
    save_results,
    script_parser,
    work_folder,
)
from tables import markdown_table, read_results, run_name, table_mode

QA_FILE = BENCH_DIR / "qa" / "followups.jsonl"
FOLDERS = {"httpx": "httpx", "pip": "pip-docs", "vue-ko": "vue-docs-ko"}


def conversations(path: Path = QA_FILE) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def silent_model() -> Any:
    """A langchain-core chat model that answers every call with nothing."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

    class SilentChatModel(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "silent"

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=""))])

        def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None,
                    **kwargs: Any) -> Iterator[ChatGenerationChunk]:
            yield ChatGenerationChunk(message=AIMessageChunk(content=""))

    return SilentChatModel()


def ingest(settings: Any, collection: str, folder: Path) -> dict:
    from ragchat.ingest.ingester import ingest_paths

    report = ingest_paths(settings, [folder], collection)
    return {"collection": collection, "folder": folder.name, "chunks": report.chunks_total}


def pipeline_for(settings: Any, collection: str, session: str) -> Any:
    from langgraph.checkpoint.memory import InMemorySaver

    from ragchat.models.capabilities import DEMO
    from ragchat.pipeline.chat import ChatPipeline
    from ragchat.pipeline.factory import params_from_settings
    from ragchat.pipeline.retriever import Retriever

    return ChatPipeline(silent_model(), retriever=Retriever(settings, collection),
                        checkpointer=InMemorySaver(), session=session,
                        params=params_from_settings(settings, capabilities=DEMO),
                        backend="silent", capabilities=DEMO)


def quoted_chunk(result: Any) -> Any:
    """The passage the answer quotes ("... lines of [n] name:"), None when it quotes none."""
    match = re.search(r"lines of \[(\d+)\]", result.answer)
    if not match:
        return None
    n = int(match.group(1))
    return next((c for c in result.retrieved if c.n == n), None)


def holds(text: str, answer: str) -> bool:
    return answer.lower() in text.lower()


def turn_row(turn: dict, index: int, result: Any) -> dict:
    paths = [c.path for c in result.retrieved]
    gold = turn["source"]
    quoted = quoted_chunk(result)
    lines = result.answer.split(":\n\n", 1)[-1] if quoted else ""
    told = [c for c in result.retrieved if c.n in result.told]
    return {
        "turn": index + 1,
        "question": turn["q"],
        "kind": "first" if index == 0 else ("follow-up" if turn.get("follow_up")
                                           else "topic change"),
        "searched": result.standalone_question,
        "searched_words": len(result.standalone_question.split()),
        "rewrite": result.rewrite,
        "glued": result.standalone_question.strip() != turn["q"].strip(),
        "glued_as_labelled": (result.standalone_question.strip() != turn["q"].strip())
        == bool(turn.get("follow_up")),
        "hit": any(p == g or p.endswith("/" + g) for p in paths for g in gold),
        "retrieved": paths,
        "told": [c.path for c in told],
        "answer_told": any(holds(c.text, turn["answer"]) for c in told),
        "quoted": quoted.path if quoted else None,
        "quote_holds_answer": bool(quoted and holds(quoted.text, turn["answer"])),
        "quote_lines_hold_answer": bool(quoted and holds(lines, turn["answer"])),
        # the same passages quoted by c948934's rule: the most of the latest question's words
        "earlier_rule_holds_answer": bool(quoted and told and holds(
            earlier_choice(turn["q"], told).text, turn["answer"])),
    }


def earlier_choice(question: str, told: list[Any]) -> Any:
    """The passage c948934 quoted: the most of the question's content words, ties to the
    better ranked (relevance.overlap, in both versions)."""
    from ragchat.pipeline.relevance import overlap

    return max(told, key=lambda chunk: overlap(question, chunk.text))


def run_conversation(settings: Any, conv: dict) -> list[dict]:
    pipeline = pipeline_for(settings, conv["docs"], conv["id"])
    try:
        rows = []
        for i, turn in enumerate(conv["turns"]):
            result = pipeline.ask(turn["q"])
            rows.append({"id": conv["id"], "docs": conv["docs"], "split": conv["split"],
                         **turn_row(turn, i, result)})
        return rows
    finally:
        pipeline.close()


def share(rows: list[dict], key: str) -> float | None:
    return round(sum(bool(r[key]) for r in rows) / len(rows), 3) if rows else None


def summary(rows: list[dict]) -> dict:
    quoted = [r for r in rows if r["quoted"]]
    return {
        "turns": len(rows),
        "search_hit": share(rows, "hit"),
        "glued": share(rows, "glued"),
        "glued_as_labelled": share(rows, "glued_as_labelled"),
        "max_searched_words": max((r["searched_words"] for r in rows), default=0),
        "quotes": len(quoted),
        "quote_holds_answer": share(quoted, "quote_holds_answer"),
        "quote_lines_hold_answer": share(quoted, "quote_lines_hold_answer"),
        "earlier_rule_holds_answer": share(quoted, "earlier_rule_holds_answer"),
        "answer_told": share(quoted, "answer_told"),
        "quote_holds_answer_when_told": share([r for r in quoted if r["answer_told"]],
                                              "quote_holds_answer"),
    }


def summaries(rows: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for docs in sorted({r["docs"] for r in rows}):
        for split in ("dev", "held-out", "all"):
            mine = [r for r in rows if r["docs"] == docs and split in ("all", r["split"])]
            for kind in ("first", "follow-up", "topic change", "later"):
                picked = [r for r in mine if kind == r["kind"]
                          or (kind == "later" and r["turn"] > 1)]
                if picked:
                    out[f"{docs}/{split}/{kind}"] = summary(picked)
    later = [r for r in rows if r["turn"] > 1]
    for split in ("dev", "held-out", "all"):
        mine = [r for r in later if split in ("all", r["split"])]
        for kind in ("follow-up", "topic change"):
            picked = [r for r in mine if r["kind"] == kind]
            if picked:
                out[f"all/{split}/{kind}"] = summary(picked)
        out[f"all/{split}/later"] = summary(mine)
    out["all/all/all"] = summary(rows)
    return out


def ragchat_checkout() -> Path:
    import ragchat

    return Path(ragchat.__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    if table_mode(VIEWS, argv):
        return 0
    parser = script_parser(__doc__, name="default", work_dir=True)
    parser.add_argument("--only", help="run only the conversations of this docs set")
    parser.add_argument("--code", help="what code ran, when ragchat_commit alone does not say "
                                       "(a checkout with changes applied)")
    args = parser.parse_args(argv)
    convs = [c for c in conversations() if not args.only or c["docs"] == args.only]
    with work_folder(args.work_dir) as work:
        os.environ["RAGCHAT_HOME"] = str(work / "home")
        from ragchat.config import load_settings

        settings = load_settings()
        collections = [ingest(settings, docs, BENCH_DIR / "data" / FOLDERS[docs])
                       for docs in sorted({c["docs"] for c in convs})]
        rows = []
        for conv in convs:
            rows += run_conversation(settings, conv)
            print(f"{conv['id']}: " + " | ".join(
                f"{'hit' if r['hit'] else 'miss'} "
                f"{'quote-ok' if r['quote_holds_answer'] else 'quote-no'}" for r in rows[-len(
                    conv["turns"]):]), file=sys.stderr)
    checkout = ragchat_checkout()
    path = save_results(f"followups-{args.name}", {
        "ragchat_commit": git_commit(checkout), "ragchat_dirty": git_dirty(checkout),
        "code": args.code,
        "qa_file": "benchmarks/qa/followups.jsonl", "model": "silent (demo settings)",
        "embedding_model": settings.embedding_model, "search_k": settings.search_k,
        "collections": collections, "summary": summaries(rows),
        "turns": relative_to(rows, (BENCH_DIR / "data").resolve()),  # no machine's paths
    }, args.out_dir)
    print(json.dumps(summaries(rows)["all/all/later"]))
    print(f"wrote {path}")
    return 0


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def hits_of(summary: dict | None) -> str:
    return f"{percent(summary['search_hit'])} of {summary['turns']}" if summary else "-"


def searches_table(paths: list[Path]) -> str:
    """Per run and set: what the later turns searched (follow-ups and topic changes apart)
    and how often the gold source was in the top 5; the follow-up rule against the labels
    (dev / held-out)."""
    rows = []
    for path in paths:
        summary = read_results(path)["summary"]
        for docs in ("httpx", "pip", "vue-ko", "all"):
            ups, new = summary.get(f"{docs}/all/follow-up"), summary.get(f"{docs}/all/topic change")
            later = summary.get(f"{docs}/all/later")
            if not later:
                continue
            labelled = " / ".join(percent(summary.get(f"{docs}/{split}/later", {})
                                          .get("glued_as_labelled"))
                                  for split in ("dev", "held-out"))
            rows.append([run_name(path, "followups-"), docs,
                         hits_of(ups), hits_of(new),
                         percent(ups and ups["glued"]), percent(new and new["glued"]),
                         labelled, later["max_searched_words"]])
    return markdown_table(["run", "docs", "follow-ups: source in top 5",
                           "topic changes: source in top 5", "follow-ups searched with the "
                           "question before", "topic changes searched with it",
                           "rule as labelled (dev / held-out)", "longest search (words)"], rows)


def quotes_table(paths: list[Path]) -> str:
    """Per run and set: of the later turns' quotes, the share whose passage (and whose
    quoted lines) hold the answer."""
    rows = []
    for path in paths:
        data = read_results(path)
        for key, s in data["summary"].items():
            docs, split, kind = key.split("/")
            if kind == "later" and split != "all" or key == "all/all/later":
                rows.append([run_name(path, "followups-"), docs, split, s["quotes"],
                             percent(s["answer_told"]), percent(s["quote_holds_answer"]),
                             percent(s.get("earlier_rule_holds_answer")),
                             percent(s["quote_lines_hold_answer"])])
    return markdown_table(["run", "docs", "split", "quotes", "answer in a passage given",
                           "quoted passage holds the answer",
                           "same passages, c948934's choice", "quoted lines hold it"], rows)


VIEWS = {"searches": searches_table, "quotes": quotes_table}

if __name__ == "__main__":
    raise SystemExit(main())
