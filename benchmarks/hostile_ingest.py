"""A folder of strangers' files, full size: bombs of gigabytes, thousands of blank pages, long
lines, traps, links out of the folder, an unreadable folder, beside good files.

Each hostile file is ingested alone (time, peak memory of the whole process tree, what the
report says), then the whole folder at once, as a normal user (root reads an unreadable
folder anyway) under an address-space limit, the way issue "hostile files" asks. Then the
good files are searched for, and the index is checked for anything from outside the folder.
`--ragchat-path` measures an older checkout the same way (its hangs end at `--timeout`).

    python benchmarks/hostile_ingest.py [--scale full|small] [--limit-gb 3] [--timeout 300]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import git_commit, last_json, save_results, script_parser, shown_path  # noqa: E402
from hostile_corpus import GOOD_QUERIES, SECRET, build  # noqa: E402
from tables import markdown_table, read_results, seconds, table_mode  # noqa: E402

NOBODY = 65534


def run_ingest(folder: Path, home: Path, args) -> dict:
    """`ragchat ingest FOLDER --json`, limited and sampled; what it did and cost."""
    command = _command(args) + ["ingest", str(folder), "--json"]
    env = _env(home, args)
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=str(args.ragchat_path or home), start_new_session=True)
    peak = _sample_until_done(proc, start + args.timeout)
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    timed_out = proc.returncode is not None and seconds >= args.timeout
    return {"seconds": round(seconds, 2), "peak_mb": round(peak / 2**20), "exit": proc.returncode,
            "timed_out": timed_out, "report": last_json(out.decode("utf-8", "replace")),
            "stderr": err.decode("utf-8", "replace").strip()[-400:]}


def _command(args) -> list[str]:
    limit = ["prlimit", f"--as={int(args.limit_gb * 2**30)}", "--"]
    user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] \
        if _as_nobody(args) else []
    return limit + user + [sys.executable, "-m", "ragchat"]


def _env(home: Path, args) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGCHAT_")}
    env.update(RAGCHAT_HOME=str(home), HOME=str(home), HF_HUB_OFFLINE="1")
    if args.ragchat_path:
        env["PYTHONPATH"] = str(args.ragchat_path)
    return env


def _sample_until_done(proc: subprocess.Popen, deadline: float) -> int:
    """The peak of the summed RSS of the process's session (it and its children), sampled
    every 50 ms; the session is killed at the deadline."""
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _session_rss(proc.pid))
        if time.perf_counter() > deadline:
            os.killpg(proc.pid, 9)
            break
        time.sleep(0.05)
    proc.wait()
    return peak


def _session_rss(session: int) -> int:
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == session:  # field 6 of stat: the session id
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # field 24: rss pages
        except (OSError, ValueError, IndexError):
            continue
    return total


def outcome(report: dict, name: str) -> str:
    """What the ingest report says about the file (or folder) called `name`."""
    for failed in report.get("failed", []):
        if Path(failed["path"]).name == name:
            return f"failed: {failed['reason']}"
    for reason, paths in report.get("skipped", {}).items():
        if any(Path(p).name == name or f"/{name}/" in p + "/" for p in paths):
            return f"skipped: {reason}"
    for file in report.get("files", []):
        if Path(file["path"]).name == name:
            problems = "; ".join(file.get("problems") or [])
            return f"read: {file.get('chunks', 0)} chunks" + (f"; {problems}" if problems else "")
    return "not in the report"


def no_report(run: dict) -> str:
    """Why an ingest printed no report: killed at the timeout, an internal error, ..."""
    if run["timed_out"]:
        return "still running at the timeout: killed"
    if run["exit"] == 70:
        return "internal error (exit 70)"
    lines = [line for line in run["stderr"].splitlines() if "error" in line]
    return (lines[-1] if lines else run["stderr"].splitlines()[-1:] or ["no output"])[0][:300]


def search_paths(home: Path, query: str, args) -> list[str]:
    env = _env(home, args)
    proc = subprocess.run(_command(args) + ["search", query, "--json", "-k", "5"], env=env,
                          capture_output=True, cwd=str(args.ragchat_path or home), check=False,
                          timeout=300)
    hits = last_json(proc.stdout.decode("utf-8", "replace")).get("results", [])
    return [hit["path"] for hit in hits]


def stored_paths(home: Path) -> list[str]:
    import sqlite3

    paths = []
    for db in home.rglob("index.sqlite"):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            paths += [row[0] for row in conn.execute("SELECT path FROM files")]
    return paths


def measure(work: Path, args) -> dict:
    corpus = work / "corpus"
    entries = build(corpus / "all", args.scale)
    rows = []
    for entry in entries:
        alone = corpus / "alone" / entry.name
        build(alone, args.scale, only=entry.name)
        home = _home(work / "homes" / entry.name, args)
        run = run_ingest(alone, home, args)
        rows.append({"file": entry.name, "what": entry.what, "seconds": run["seconds"],
                     "peak_mb": run["peak_mb"], "exit": run["exit"],
                     "timed_out": run["timed_out"], "outcome": outcome(run["report"], entry.name)
                     if run["report"] else no_report(run)})
        print(f"{run['seconds']:8.1f} s {run['peak_mb']:6} MB  exit {run['exit']}  {entry.name}: "
              f"{rows[-1]['outcome'][:120]}", flush=True)
    home = _home(work / "homes" / "_all", args)
    whole = run_ingest(corpus / "all", home, args)
    print(f"whole folder: {whole['seconds']} s, peak {whole['peak_mb']} MB, exit {whole['exit']}")
    return {"files": rows, "folder": _folder_row(whole, entries, home, corpus / "all", args)}


def _folder_row(run: dict, entries, home: Path, folder: Path, args) -> dict:
    report = run["report"]
    found = {query: [Path(p).name for p in search_paths(home, query, args)]
             for query in GOOD_QUERIES}
    resolved = str(folder.resolve())
    outside = [p for p in stored_paths(home) if not p.startswith(resolved + os.sep)]
    return {"seconds": run["seconds"], "peak_mb": run["peak_mb"], "exit": run["exit"],
            "timed_out": run["timed_out"],
            "outcomes": {e.name: outcome(report, e.name) if report else no_report(run)
                         for e in entries},
            "searches": found, "secret_found": any(SECRET in p for p in stored_paths(home)),
            "indexed_outside_folder": [shown_path(p) for p in outside],
            "stderr": run["stderr"] if run["exit"] else ""}


def _as_nobody(args) -> bool:
    return os.geteuid() == 0 and not args.as_self


def _check_user(args) -> None:
    """Run as root, the ingests run as nobody: this Python must be one nobody can start."""
    if not _as_nobody(args):
        return
    probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                            "--clear-groups", sys.executable, "-c",
                            "import subprocess, sys, ragchat; "
                            "subprocess.run([sys.executable, '-c', ''], check=True)"],
                           capture_output=True, check=False)
    if probe.returncode != 0:
        raise SystemExit(f"the ingests run as user nobody, who cannot start {sys.executable} "
                         "(or import ragchat): run this script as a normal user, or with a "
                         "Python and a checkout that every user can read")


def _home(path: Path, args) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if _as_nobody(args):
        os.chown(path, NOBODY, NOBODY)
    return path


def main() -> None:
    parser = script_parser(__doc__, work_dir=True)
    parser.add_argument("--scale", choices=("full", "small"), default="full")
    parser.add_argument("--limit-gb", type=float, default=3.0,
                        help="address-space limit of each ingest [3]")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds after which an ingest is killed [300]")
    parser.add_argument("--as-self", action="store_true",
                        help="run the ingests as this user, even as root (who reads the "
                             "unreadable folder)")
    parser.add_argument("--ragchat-path", type=Path,
                        help="measure the ragchat of this checkout instead of this one")
    args = parser.parse_args()
    if args.ragchat_path:
        args.ragchat_path = args.ragchat_path.resolve()
    _check_user(args)
    work = Path(tempfile.mkdtemp(prefix="hostile-", dir=args.work_dir))
    os.chmod(work, 0o755)
    try:
        results = measure(work, args)
    finally:
        _remove(work)
    payload = {"scale": args.scale, "limit_gb": args.limit_gb, "timeout_s": args.timeout,
               "as_user": "nobody" if _as_nobody(args) else "self",
               "ragchat_path": shown_path(args.ragchat_path) if args.ragchat_path else None,
               "measured_commit": git_commit(args.ragchat_path) if args.ragchat_path
               else git_commit(),
               **results}
    path = save_results(f"hostile-ingest-{args.name}", payload, args.out_dir)
    print(json.dumps(results["folder"], indent=1, ensure_ascii=False)[:3000])
    print(f"results: {path}")


def _remove(work: Path) -> None:
    for folder in work.rglob("*"):
        if folder.is_dir() and not folder.is_symlink():
            folder.chmod(0o755)
    shutil.rmtree(work, ignore_errors=True)


# --- tables -----------------------------------------------------------------------------

def _cell(row: dict) -> str:
    """'0.5 s, 48 MB: failed: it unpacks to ...' for one file of one run."""
    if row["timed_out"]:
        what = "still running: killed"
    elif row["exit"] == 70:
        what = "internal error (exit 70), nothing indexed"
    else:
        what = row["outcome"].split(" (raise ")[0].replace("|", "/")
    return f"{seconds(row['seconds'])} s, {row['peak_mb']:,} MB: {what}"


def files_table(paths: list[Path]) -> str:
    """Per file, each run side by side: time, peak memory and what the report said."""
    runs = [read_results(p) for p in paths]
    headers = ["file", "what it is"] + [_run_label(r) for r in runs]
    rows = []
    for index, row in enumerate(runs[0]["files"]):
        rows.append([f"`{row['file']}`", row["what"]] + [_cell(r["files"][index]) for r in runs])
    return markdown_table(headers, rows)


def folder_table(paths: list[Path]) -> str:
    """The whole folder in one ingest: time, peak memory, exit code, what was found."""
    rows = []
    for path in paths:
        run = read_results(path)
        folder = run["folder"]
        found = sum(bool(hits) and hits[0] == name for (query, name), hits in
                    zip(GOOD_QUERIES.items(), folder["searches"].values(), strict=True))
        state = "killed at the timeout" if folder["timed_out"] else f"exit {folder['exit']}"
        rows.append([_run_label(run), f"{seconds(folder['seconds'])} s", f"{folder['peak_mb']:,} MB",
                     state, f"{found} of {len(GOOD_QUERIES)}",
                     len(folder["indexed_outside_folder"])])
    return markdown_table(["run", "time", "peak memory", "ended", "good files found first",
                           "files indexed from outside"], rows)


def _run_label(run: dict) -> str:
    commit = run.get("measured_commit") or run["commit"]
    return f"{commit} ({'before' if run.get('ragchat_path') else 'after'})"


TABLES = {"files": files_table, "folder": folder_table}


if __name__ == "__main__" and not table_mode(TABLES):
    main()
