"""Helpers shared by the benchmark scripts.

The scripts drive ragchat the way a user does: the `ragchat` command in a throwaway
RAGCHAT_HOME. They read SQuAD-format QA files (SQuAD, KorQuAD) and write one JSON file of
results per run under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Paragraph:
    context: str
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Article:
    title: str
    paragraphs: tuple[Paragraph, ...] = field(default_factory=tuple)


def load_squad(path: Path) -> list[Article]:
    """Articles of a SQuAD-format file (v1.1 or v2.0); unanswerable questions are dropped."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    articles = []
    for art in data["data"]:
        paragraphs = []
        for par in art["paragraphs"]:
            questions = tuple(
                Question(str(q["id"]), " ".join(q["question"].split()),
                         tuple(a["text"] for a in q["answers"]))
                for q in par["qas"]
                if not q.get("is_impossible") and q.get("answers")
            )
            paragraphs.append(Paragraph(par["context"], questions))
        articles.append(Article(art.get("title", "").replace("_", " "), tuple(paragraphs)))
    return articles


def script_parser(doc: str, name: str | None = "default",
                  work_dir: bool = False) -> argparse.ArgumentParser:
    """A script's argument parser with the options they all have: --name (of the results
    file) and --out-dir; with `work_dir`, --work-dir too (see `work_folder`)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--name", default=name,
                        help=f"label for the results file [{name or 'from the input'}]")
    parser.add_argument("--out-dir", type=Path, help="where results go [benchmarks/results]")
    if work_dir:
        parser.add_argument("--work-dir", type=Path,
                            help="keep corpus and index here instead of a tmp dir")
    return parser


@contextlib.contextmanager
def work_folder(keep: Path | None) -> Iterator[Path]:
    """`keep` (a --work-dir, left as it is for the next run), else a temporary folder that
    is removed afterwards."""
    if keep:
        yield keep
        return
    work = Path(tempfile.mkdtemp(prefix="ragchat-bench-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ragchat_command() -> list[str]:
    """How to start ragchat: $RAGCHAT_BENCH_CMD if set, else this Python's `-m ragchat`."""
    custom = os.environ.get("RAGCHAT_BENCH_CMD")
    return custom.split() if custom else [sys.executable, "-m", "ragchat"]


@dataclass(frozen=True)
class Run:
    """One finished ragchat command: its output and how long it took."""

    args: tuple[str, ...]
    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float  # user + system time of the process: less sensitive to a busy machine


def run_ragchat(args: list[str], home: Path, stdin: str | None = None,
                env: dict[str, str] | None = None) -> Run:
    """Run `ragchat ARGS` with RAGCHAT_HOME=home; raise with its stderr if it fails."""
    full_env = {**os.environ, "RAGCHAT_HOME": str(home), **(env or {})}
    full_env.pop("RAGCHAT_DEBUG", None)
    command = ragchat_command() + args
    before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(command, input=stdin, capture_output=True, encoding="utf-8",
                          env=full_env, cwd=str(REPO_DIR), check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"`ragchat {' '.join(args)}` failed (exit {proc.returncode}):\n"
                         f"{proc.stderr.strip()[-3000:]}")
    return Run(tuple(args), proc.stdout, proc.stderr, seconds, _children_cpu() - before)


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ingest_folder(folder: Path, home: Path, env: dict[str, str] | None = None,
                  *flags: str) -> tuple[Run, dict]:
    """`ragchat ingest FOLDER --json` into `home`: the run, and the report it printed with
    the paths of files in FOLDER relative to it (a results file names no temporary folder)."""
    run = run_ragchat(["ingest", str(folder), "--json", *flags], home, env=env)
    return run, relative_to(last_json(run.stdout), Path(folder).resolve())


def relative_to(data: object, folder: Path) -> object:
    """`data` with every string that is a path inside `folder` made relative to it."""
    if isinstance(data, dict):
        return {key: relative_to(value, folder) for key, value in data.items()}
    if isinstance(data, list):
        return [relative_to(value, folder) for value in data]
    if isinstance(data, str) and data.startswith(f"{folder}{os.sep}"):
        return data[len(str(folder)) + 1:]
    return data


def last_json(text: str) -> dict:
    """The last line of `text` that is a JSON object ({} if none)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return {}


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def embedding_env(model: str | None) -> dict[str, str]:
    """Environment that pins the embedding model (None: ragchat's own default)."""
    return {"RAGCHAT_EMBEDDING_MODEL": model} if model else {}


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except (ImportError, OSError, RuntimeError):  # no torch, or a broken CUDA setup
        pass
    return info


def git_commit(checkout: Path = REPO_DIR) -> str | None:
    """The short commit of a git checkout (this repository's by default), None if none."""
    try:
        out = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def git_dirty(checkout: Path = REPO_DIR) -> bool | None:
    """Whether the checkout has uncommitted changes to tracked files (None: not a checkout):
    a result measured on a dirty tree is not quite the commit it names. Results files that
    earlier runs wrote (benchmarks/results/) change nothing that is measured: not counted."""
    try:
        out = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain",
                              "--untracked-files=no", "--", ":(top)",
                              ":(top,exclude)benchmarks/results"],
                             capture_output=True, text=True, check=True)
        return bool(out.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return None


HEADER = ("date", "commit", "dirty", "machine", "command")


def save_results(name: str, payload: dict, out_dir: Path | None = None) -> Path:
    """Write OUT_DIR/NAME.json (benchmarks/results/ by default): the header every results
    file starts with (date, commit, dirty flag, machine with its load average, command
    line; see HEADER), then the payload. The one way a benchmark writes results. Written
    atomically, so a script that saves after every step leaves a whole file if cut short."""
    folder = Path(out_dir) if out_dir else RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    header = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": git_commit(),
              "dirty": git_dirty(), "machine": machine(), "command": shown_command(sys.argv)}
    clash = header.keys() & payload.keys()
    if clash:
        raise ValueError(f"the payload would overwrite the header's {sorted(clash)}")
    path = folder / f"{name}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({**header, **payload}, ensure_ascii=False, indent=2) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
    return path


def shown_command(argv: list[str]) -> str:
    """The command line as a results file records it: absolute paths as `shown_path` shows
    them (no paths of the machine it ran on)."""
    return " ".join(shown_path(arg) if arg.startswith("/") else arg for arg in argv)


def shown_path(path: str | Path) -> str:
    """A path as a results file records it: relative to this repository, else its name."""
    try:
        return str(Path(path).resolve().relative_to(REPO_DIR.resolve()))
    except ValueError:
        return Path(path).name
