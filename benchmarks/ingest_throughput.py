"""Ingest throughput and incremental re-ingest cost of `ragchat ingest`.

    python benchmarks/ingest_throughput.py --files 2000

Generates a folder of markdown notes (headings, paragraphs, lists, code blocks) from the
English text of Python's own documentation (`pydoc_data`, part of every Python install),
optionally mixed with Korean passages from a KorQuAD-format file (--korean FILE --korean-share
0.3), then measures with a throwaway RAGCHAT_HOME:

1. first ingest: wall time, chunks/s, and the time per stage that `ragchat ingest --json`
   reports (how much of it is embedding);
2. re-ingest of the unchanged folder (time ratio to the first: the target is < 20 %);
3. re-ingest after touching every file (new mtime, same content: hashes must save the work);
4. re-ingest after editing 1 % of the files.

--runtime torch|numpy|auto pins the code that embeds (RAGCHAT_EMBEDDING_RUNTIME): torch is
how every ingest embedded before the NumPy encoder; auto embeds small runs with NumPy.

Writes benchmarks/results/ingest-NAME.json.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import time
from pathlib import Path

from common import (
    Run,
    embedding_env,
    ingest_folder,
    load_squad,
    save_results,
    script_parser,
    work_folder,
)
from tables import markdown_table, percent, read_results, run_name, seconds, table, table_mode


def english_sentences() -> list[str]:
    from pydoc_data.topics import topics

    text = re.sub(r"[*=~^-]{3,}", " ", " ".join(topics.values()))
    text = " ".join(text.split())
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if 30 <= len(s) <= 400]


def korean_sentences(path: Path) -> list[str]:
    text = " ".join(p.context for a in load_squad(path) for p in a.paragraphs)
    return [s for s in re.split(r"(?<=[.!?다])\s+", " ".join(text.split())) if 20 <= len(s) <= 400]


def heading_words(sentences: list[str]) -> list[str]:
    words = {w for s in sentences[:3000] for w in re.findall(r"\w{4,}", s)}
    return sorted(words)


class NoteWriter:
    """Makes markdown notes of realistic shape from a pool of sentences."""

    def __init__(self, sentences: list[str], rng: random.Random) -> None:
        self.sentences = sentences
        self.words = heading_words(sentences)
        self.rng = rng

    def title(self) -> str:
        return " ".join(self.rng.sample(self.words, self.rng.randint(2, 4))).capitalize()

    def paragraph(self) -> str:
        return " ".join(self.rng.choices(self.sentences, k=self.rng.randint(2, 5)))

    def block(self) -> str:
        roll = self.rng.random()
        if roll < 0.12:
            items = self.rng.choices(self.sentences, k=self.rng.randint(2, 5))
            return "\n".join(f"- {s}" for s in items)
        if roll < 0.2:
            names = self.rng.sample(self.words, 3)
            return f"```python\ndef {names[0].lower()}({names[1].lower()}):\n" \
                   f"    return {names[2].lower()}({names[1].lower()})\n```"
        return self.paragraph()

    def note(self) -> str:
        parts = [f"# {self.title()}", self.paragraph()]
        for _ in range(self.rng.randint(1, 4)):
            parts.append(f"## {self.title()}")
            parts.extend(self.block() for _ in range(self.rng.randint(1, 4)))
        return "\n\n".join(parts) + "\n"


def make_corpus(root: Path, files: int, seed: int, korean: Path | None, share: float) -> int:
    """Write `files` notes in nested folders under root; return the total bytes written."""
    rng = random.Random(seed)
    english = NoteWriter(english_sentences(), rng)
    hangul = NoteWriter(korean_sentences(korean), rng) if korean else None
    total = 0
    for i in range(files):
        writer = hangul if hangul and rng.random() < share else english
        path = root / f"topic{i % 20:02d}" / f"sub{i % 7}" / f"note{i:05d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = writer.note()
        path.write_text(text, encoding="utf-8")
        total += len(text.encode("utf-8"))
    return total


def touch_all(root: Path) -> None:
    later = time.time() + 10
    for path in root.rglob("*.md"):
        os.utime(path, (later, later))


def edit_some(root: Path, fraction: float, seed: int) -> int:
    paths = sorted(root.rglob("*.md"))
    chosen = random.Random(seed + 1).sample(paths, max(1, int(len(paths) * fraction)))
    for path in chosen:
        path.write_text(path.read_text(encoding="utf-8") + "\nAn added line.\n", encoding="utf-8")
    return len(chosen)


def stage_times(stats: dict) -> dict[str, float]:
    """Per-stage seconds from `ragchat ingest --json` (key "timings" or "stages")."""
    raw = stats.get("timings") or stats.get("stages") or {}
    return {k: float(v) for k, v in raw.items() if isinstance(v, int | float) and k != "total"}


def chunk_count(stats: dict) -> int | None:
    for key in ("chunks_added", "chunks_written", "chunks", "new_chunks"):
        if isinstance(stats.get(key), int):
            return stats[key]
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = script_parser(__doc__, work_dir=True)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--korean", type=Path, help="KorQuAD-format file to mix Korean notes from")
    ap.add_argument("--korean-share", type=float, default=0.3)
    ap.add_argument("--edit-fraction", type=float, default=0.01)
    ap.add_argument("--embedding-model", help="sets RAGCHAT_EMBEDDING_MODEL (default: ragchat's)")
    ap.add_argument("--runtime", choices=("auto", "numpy", "torch"),
                    help="sets RAGCHAT_EMBEDDING_RUNTIME (torch: as before the NumPy encoder)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with work_folder(args.work_dir) as work:
        report = measure(args, work)
    path = save_results(f"ingest-{args.name}", report, args.out_dir)
    print(f"\nwrote {path}")


def measure(args: argparse.Namespace, work: Path) -> dict:
    corpus, home = work / "corpus", work / "home"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    corpus.mkdir(parents=True)
    size = make_corpus(corpus, args.files, args.seed, args.korean, args.korean_share)
    env = embedding_env(args.embedding_model)
    if args.runtime:
        env["RAGCHAT_EMBEDDING_RUNTIME"] = args.runtime
    print(f"corpus: {args.files} markdown files, {size / 1e6:.1f} MB")
    runs = {"first": ingest_folder(corpus, home, env), "unchanged": ingest_folder(corpus, home, env)}
    touch_all(corpus)
    runs["touched"] = ingest_folder(corpus, home, env)
    edited = edit_some(corpus, args.edit_fraction, args.seed)
    runs["edited"] = ingest_folder(corpus, home, env)
    report = summarize(runs, edited)
    report.update({"files": args.files, "bytes": size, "korean": bool(args.korean),
                   "korean_share": args.korean_share if args.korean else 0.0,
                   "runs": {name: stats for name, (_, stats) in runs.items()}})
    return report


def summarize(runs: dict[str, tuple[Run, dict]], edited: int) -> dict:
    first_run, first = runs["first"]
    wall, cpu = first_run.seconds, first_run.cpu_seconds
    labels = {"first": "first ingest", "unchanged": "re-ingest, unchanged",
              "touched": "re-ingest, all files touched", "edited": f"re-ingest, {edited} edited"}
    rows = [[labels[n], r.seconds, r.seconds / wall, r.cpu_seconds, r.cpu_seconds / cpu]
            for n, (r, _) in runs.items()]
    print(table(rows, ["run", "wall s", "wall ratio", "cpu s", "cpu ratio"]))
    chunks = chunk_count(first)
    stages = stage_times(first)
    embed = sum(v for k, v in stages.items() if "embed" in k)
    if chunks:
        print(f"\n{chunks} chunks: {chunks / wall:.1f} chunks/s over the whole command")
    untimed = wall - sum(stages.values())  # process start, imports, planning between stages
    if stages:
        rows = [[k, v, v / wall] for k, v in stages.items()] + [["(untimed)", untimed,
                                                                  untimed / wall]]
        print(table(rows, ["stage", "seconds", "share of wall"]))
    report = {"chunks": chunks, "chunks_per_second": chunks / wall if chunks else None,
              "stages": stages, "untimed_seconds": untimed, "embed_seconds": embed,
              "embed_share_of_wall": embed / wall if stages else None,
              "edited_files": edited}
    for name, (run, _) in runs.items():
        report[f"{name}_seconds"] = run.seconds
        report[f"{name}_cpu_seconds"] = run.cpu_seconds
        report[f"{name}_ratio"] = run.seconds / wall
        report[f"{name}_cpu_ratio"] = run.cpu_seconds / cpu
    return report


RUN_TITLES = {"first": "first ingest", "unchanged": "again, nothing changed",
              "touched": "again, every file touched (same content)"}


def runs_table(paths: list[Path]) -> str:
    """Each run of each results file: wall and CPU seconds, share of the first ingest's
    wall time, vectors embedded, and seconds of it loading the embedding model."""
    rows = []
    for path in paths:
        data = read_results(path)
        name = f"{run_name(path, 'ingest-')}: " if len(paths) > 1 else ""
        for run, stats in data["runs"].items():
            edited = data["edited_files"]
            title = RUN_TITLES.get(run, f"again, {edited} file{'s' * (edited != 1)} edited")
            rows.append([name + title, seconds(data[f"{run}_seconds"]),
                         seconds(data[f"{run}_cpu_seconds"]), percent(data[f"{run}_ratio"]),
                         f"{stats['vectors_embedded']:,}",
                         seconds(stats["timings"].get("load model"))])
    return markdown_table(["run", "wall s", "CPU s", "share of the first (wall)",
                           "vectors embedded", "of it loading the model s"], rows)


def stages_table(paths: list[Path]) -> str:
    """Where the first ingest's time went: seconds per stage and outside any stage."""
    [data] = [read_results(p) for p in paths]
    wall = data["first_seconds"]
    stages = [*data["stages"].items(), ("(not in a stage: start-up, planning)",
                                        data["untimed_seconds"])]
    return markdown_table(["stage", "seconds", "share of the first ingest"],
                          [[name, seconds(value), percent(value / wall)]
                           for name, value in stages])


TABLES = {"runs": runs_table, "stages": stages_table}


if __name__ == "__main__" and not table_mode(TABLES):
    main()
