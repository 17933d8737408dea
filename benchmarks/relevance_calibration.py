"""What the relevance thresholds of ragchat/pipeline/relevance.py separate, measured.

Without the grading call, relevance.py keeps a retrieved passage when it holds enough of the
question's content words (MIN_OVERLAP; MIN_OVERLAP_CJK for Korean, Chinese and Japanese
questions, compared by character bigrams) or when the embedding model finds it close in
meaning (MIN_SIMILARITY, per model). This script measures both scores on real questions:

- Documentation sets (--set NAME QA.jsonl FOLDER, repeatable): FOLDER is ingested with the
  bundled MiniLM (`ragchat ingest`), and each question is searched as the pipeline searches
  a first question (`ragchat search - --json`, hybrid, k = search_k). On-topic: a QA item
  with an expected source or answer (follow-ups are left out: their search depends on the
  rewrite); its answer passages are the retrieved chunks `ragchat eval` counts as hits (from
  the expected file, or holding the answer text). Off-topic: the items marked "covered":
  false and the other sets' questions, asked of this folder; for each, its best passage
  (highest similarity; highest word overlap). Reported: percentiles, the share of each group
  above a range of floors, and relevance.py's own decision with its thresholds.
- --korean SQUAD.json (KorQuAD 1.0 dev): for each Korean question, the bigram overlap with
  its own passage and with one random other passage (--seed), each passage with its
  article's title as heading, as the retrieval benchmark ingests them.

  python benchmarks/relevance_calibration.py \\
      --set pip benchmarks/qa/pip-docs.jsonl benchmarks/data/pip-docs/docs/html \\
      --set httpx benchmarks/qa/httpx-docs.jsonl benchmarks/data/httpx/docs \\
      --korean benchmarks/data/KorQuAD_v1.0_dev.json
  python benchmarks/relevance_calibration.py --table benchmarks/results/relevance-calibration-default.json [--view similarity|overlap|korean]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    embedding_env,
    ingest_folder,
    json_lines,
    load_squad,
    run_ragchat,
    save_results,
    script_parser,
    shown_path,
    work_folder,
)
from tables import markdown_table, percent, read_results, table_mode

from ragchat.bench.evaluate import hit_matches
from ragchat.bench.qa import QAItem, read_qa
from ragchat.pipeline import relevance
from ragchat.pipeline.result import Chunk

SIMILARITY_FLOORS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
OVERLAP_FLOORS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
CJK_FLOORS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = script_parser(__doc__, work_dir=True)
    parser.add_argument("--set", nargs=3, action="append", default=[], dest="sets",
                        metavar=("NAME", "QA", "FOLDER"),
                        help="a documentation folder and its questions (repeatable)")
    parser.add_argument("--korean", type=Path, help="a SQuAD-format Korean QA file (KorQuAD)")
    parser.add_argument("--seed", type=int, default=0, help="for the random passages [0]")
    args = parser.parse_args(argv)
    if not args.sets and not args.korean:
        parser.error("nothing to measure: give --set NAME QA FOLDER and/or --korean FILE")
    return args


def split_items(qa: Path) -> tuple[list[QAItem], list[QAItem]]:
    """(on-topic, off-topic) first questions of a QA file."""
    items = [item for item in read_qa(qa) if not item.context]
    return ([i for i in items if i.covered and i.judged], [i for i in items if not i.covered])


def search(folder: Path, questions: list[str], home: Path) -> tuple[str, list[list[Chunk]]]:
    """Ingest `folder` with MiniLM into `home`; (embedding model, hits of each question, as
    the pipeline holds them)."""
    env = embedding_env("minilm")
    _, report = ingest_folder(folder.resolve(), home, env)
    run = run_ragchat(["search", "-", "--json", "--mode", "hybrid"], home,
                      "".join(" ".join(q.split()) + "\n" for q in questions), env)
    outputs = json_lines(run.stdout)
    if len(outputs) != len(questions):
        raise SystemExit(f"search answered {len(outputs)} of {len(questions)} questions")
    return report["model"], [[Chunk.from_dict(hit) for hit in out["results"]]
                             for out in outputs]


def passage(hit: Chunk) -> str:
    """The text relevance.py compares a question with: heading and chunk text."""
    return f"{hit.heading or ''}\n{hit.text or ''}"


def measure_set(name: str, qa: Path, folder: Path, others: list[str], home: Path) -> dict:
    """One documentation set: answer passages of its questions, best passages of the
    off-topic ones (its own and the other sets' questions)."""
    on_topic, off_items = split_items(qa)
    off_topic = [i.question for i in off_items] + others
    model, results = search(folder, [i.question for i in on_topic] + off_topic, home)
    found = [[hit for hit in hits if hit_matches(hit.path, hit.text, item)]
             for item, hits in zip(on_topic, results)]
    answers = [[answer_passage(item.question, hit, model) for hit in hits]
               for item, hits in zip(on_topic, found)]
    groups = ["not covered"] * len(off_items) + ["other set"] * len(others)
    best = [best_passage(question, hits, model, group)
            for question, hits, group in zip(off_topic, results[len(on_topic):], groups)]
    print(f"{name}: {len(on_topic)} questions, {sum(map(len, answers))} answer passages "
          f"retrieved; {len(off_topic)} off-topic questions ({len(off_items)} of its own)")
    return {"qa": shown_path(qa), "folder": shown_path(folder), "model": model,
            "questions": len(on_topic),
            "questions_with_an_answer_passage": sum(1 for a in answers if a),
            "questions_with_an_answer_passage_kept": sum(
                1 for a in answers if any(p["kept"] for p in a)),
            "off_topic_own": len(off_items), "off_topic_other_sets": len(others),
            "answer_passages": [p for a in answers for p in a], "off_topic_best": best}


def answer_passage(question: str, hit: Chunk, model: str) -> dict:
    return {"similarity": hit.dense_similarity,
            "overlap": round(relevance.overlap(question, passage(hit)), 4),
            "kept": relevance.relevant(question, hit, model)}


def best_passage(question: str, hits: list[Chunk], model: str, group: str) -> dict:
    """`group`: "not covered" (marked so in its QA file) or "other set" (another set's
    question: about another project, though often on a topic this one shares)."""
    similarities = [h.dense_similarity for h in hits if h.dense_similarity is not None]
    return {"question": question, "group": group,
            "similarity": max(similarities, default=None),
            "overlap": round(max((relevance.overlap(question, passage(h)) for h in hits),
                                 default=0.0), 4),
            "kept": any(relevance.relevant(question, h, model) for h in hits)}


def korean_overlaps(path: Path, seed: int) -> dict:
    """Bigram overlap of each Korean question with its own passage and a random other one."""
    paragraphs = [(f"{article.title}\n{par.context}", par) for article in load_squad(path)
                  for par in article.paragraphs]
    asked = [(n, q.text) for n, (_, par) in enumerate(paragraphs) for q in par.questions
             if relevance.is_cjk(q.text)]
    rng = random.Random(seed)
    own, other = [], []
    for n, question in asked:
        pick = rng.randrange(len(paragraphs) - 1)
        own.append(relevance.overlap(question, paragraphs[n][0]))
        other.append(relevance.overlap(question, paragraphs[pick + (pick >= n)][0]))
    return {"qa": shown_path(path), "questions": len(asked), "passages": len(paragraphs),
            "seed": seed, "own_passage": shares_at(own, CJK_FLOORS),
            "random_passage": shares_at(other, CJK_FLOORS),
            "own_passage_percentiles": percentiles(own),
            "random_passage_percentiles": percentiles(other)}


def shares_at(values: Iterable[float | None], floors: Iterable[float]) -> dict[str, float]:
    """Share of the values at or above each floor (a missing value is below every floor)."""
    values = list(values)
    return {f"{floor:g}": round(sum(1 for v in values if v is not None and v >= floor)
                                / len(values), 4) if values else 0.0 for floor in floors}


def percentiles(values: Iterable[float | None]) -> dict[str, float | None]:
    present = [v for v in values if v is not None]
    return {f"p{q}": round(float(np.percentile(present, q)), 4) if present else None
            for q in (10, 50, 90)}


def summarize(sets: dict[str, dict]) -> dict:
    """All sets together: the answer passages, and the best passages of the off-topic
    questions of each group."""
    best = [p for s in sets.values() for p in s["off_topic_best"]]
    return {"answer_passages": describe([p for s in sets.values() for p in s["answer_passages"]]),
            "not_covered_best": describe([p for p in best if p["group"] == "not covered"]),
            "other_sets_best": describe([p for p in best if p["group"] == "other set"])}


def describe(passages: list[dict]) -> dict:
    """How many, percentiles of similarity and overlap, the shares at or above each floor,
    and the share relevance.py keeps (for off-topic questions: any passage of the top k)."""
    return {"n": len(passages),
            "similarity": percentiles(p["similarity"] for p in passages),
            "overlap": percentiles(p["overlap"] for p in passages),
            "similarity_at": shares_at((p["similarity"] for p in passages), SIMILARITY_FLOORS),
            "overlap_at": shares_at((p["overlap"] for p in passages), OVERLAP_FLOORS),
            "kept": round(sum(p["kept"] for p in passages) / len(passages), 4)
            if passages else None}


def thresholds() -> dict[str, Any]:
    return {"min_overlap": relevance.MIN_OVERLAP, "min_overlap_cjk": relevance.MIN_OVERLAP_CJK,
            "min_similarity": relevance.MIN_SIMILARITY,
            "default_min_similarity": relevance.DEFAULT_MIN_SIMILARITY}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sets: dict[str, dict] = {}
    questions = {name: [i.question for i in split_items(Path(qa))[0]]
                 for name, qa, _ in args.sets}
    with work_folder(args.work_dir) as work:
        for name, qa, folder in args.sets:
            others = [q for other, asked in questions.items() if other != name for q in asked]
            sets[name] = measure_set(name, Path(qa), Path(folder), others, work / name)
    payload: dict[str, Any] = {"thresholds": thresholds(), "sets": sets}
    if sets:
        payload["all_sets"] = summarize(sets)
    if args.korean:
        payload["korean"] = korean_overlaps(args.korean, args.seed)
    path = save_results(f"relevance-calibration-{args.name}", payload, args.out_dir)
    print(VIEWS["similarity"]([path]) if sets else "", end="")
    print(f"results: {path}")


def similarity_table(paths: list[Path]) -> str:
    """Dense similarity (MiniLM): answer passages against off-topic questions' best passages,
    at or above each floor (a passage found by BM25 alone has none: below every floor)."""
    data = read_results(paths[0])
    return floors_table(data, "similarity_at", relevance_floor(data), "similarity at least")


def overlap_table(paths: list[Path]) -> str:
    """Word overlap (English): answer passages against off-topic questions' best passages."""
    data = read_results(paths[0])
    return floors_table(data, "overlap_at", data["thresholds"]["min_overlap"],
                        "share of the question's words at least")


def floors_table(data: dict, key: str, in_force: float, title: str) -> str:
    run = data["all_sets"]
    groups = (("answer_passages", "answer passages"),
              ("other_sets_best", "other sets' questions: best passage"),
              ("not_covered_best", "questions not covered: best passage"))
    rows = [[f"{f} (in force)" if float(f) == in_force else f,
             *(percent(run[g][key][f]) for g, _ in groups)] for f in run["answer_passages"][key]]
    return markdown_table([title, *(f"{name} ({run[g]['n']})" for g, name in groups)], rows)


def relevance_floor(data: dict) -> float:
    floors = data["thresholds"]["min_similarity"]
    model = next(iter(data["sets"].values()))["model"]
    return next((v for k, v in floors.items() if k in model),
                data["thresholds"]["default_min_similarity"])


def korean_table(paths: list[Path]) -> str:
    """Bigram overlap (Korean): each question's own passage against a random one."""
    data = read_results(paths[0])
    run, floor = data["korean"], data["thresholds"]["min_overlap_cjk"]
    rows = [[f"{f} (in force)" if float(f) == floor else f, percent(run["own_passage"][f]),
             percent(run["random_passage"][f])] for f in run["own_passage"]]
    return markdown_table(["share of the question's bigrams at least",
                           f"its own passage ({run['questions']:,} questions)",
                           "a random passage"], rows)


def decision_table(paths: list[Path]) -> str:
    """relevance.py's decision with the thresholds in force, per set."""
    data = read_results(paths[0])
    rows = []
    for name, run in data["sets"].items():
        kept = sum(p["kept"] for p in run["answer_passages"])
        off = {group: [p for p in run["off_topic_best"] if p["group"] == group]
               for group in ("other set", "not covered")}
        rows.append([name, run["questions"], run["questions_with_an_answer_passage"],
                     run["questions_with_an_answer_passage_kept"],
                     f"{kept} of {len(run['answer_passages'])}",
                     *(f"{sum(p['kept'] for p in off[g])} of {len(off[g])}" for g in off)])
    return markdown_table(["set", "questions", "with an answer passage in the top k",
                           "with one kept", "answer passages kept",
                           "other sets' questions with a passage kept",
                           "questions not covered with a passage kept"], rows)


VIEWS = {"similarity": similarity_table, "overlap": overlap_table, "korean": korean_table,
         "decision": decision_table}

if __name__ == "__main__" and not table_mode(VIEWS):
    main()
