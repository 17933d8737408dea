"""What the README's install costs, and what it gives: checkouts side by side, each in a fresh
pipx home.

    python benchmarks/install_size.py --checkout before=/tmp/before --checkout after=. \\
        --wheels-from "$(pip cache dir)" --files 100

For each checkout (a folder with ragchat's source, e.g. `git worktree add /tmp/before COMMIT`)
this runs the install command of that checkout's README (the ```sh block under "## Install",
word for word) with its own PIPX_HOME, PIPX_BIN_DIR and pip cache, and records:

1. the install's wall time;
2. the size of the environment's site-packages and its largest distributions;
3. whether torch can be imported there;
4. that the tool works: `ragchat ingest` of a small folder, `search` and `ask` (the bundled
   CPU model, offline);
5. with --files N: the first ingest of N generated notes (benchmarks/ingest_throughput.py's
   corpus and measurement), for every checkout in this one run, --rounds times in turn, so a
   busy machine slows each alike.

A fresh pip cache means every package is downloaded; --wheels-from CACHE first copies the
wheels that pip built before (CACHE/wheels: llama.cpp, hnswlib) into it, so that the time is
the install's without compiling llama.cpp (which takes minutes on 2 cores and is the same for
every checkout). Writes benchmarks/results/install-NAME.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import save_results, script_parser, shown_path, work_folder
from tables import markdown_table, number, read_results, table, table_mode

TOP = 12  # largest distributions listed per install
SIZES = """
import importlib.metadata as m, json, os, sys
site = sys.argv[1]
out = {}
for d in m.distributions(path=[site]):
    total = 0
    for f in d.files or []:
        p = os.path.join(site, str(f))
        if os.path.isfile(p) and not os.path.islink(p):
            total += os.path.getsize(p)
    out[d.metadata["Name"]] = out.get(d.metadata["Name"], 0) + total
print(json.dumps(out))
"""


def install_command(checkout: Path) -> str:
    """The README's install command: the first ```sh block after '## Install'."""
    text = (checkout / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Install"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    if not block:
        raise SystemExit(f"no ```sh block under '## Install' in {checkout / 'README.md'}")
    return block.group(1).strip()


def install(label: str, checkout: Path, work: Path, wheels_from: Path | None) -> dict:
    home = work / label
    shutil.rmtree(home, ignore_errors=True)
    cache = home / "pip-cache"
    if wheels_from and (wheels_from / "wheels").is_dir():
        shutil.copytree(wheels_from / "wheels", cache / "wheels")
    env = {**os.environ, "PIPX_HOME": str(home / "pipx"), "PIPX_BIN_DIR": str(home / "bin"),
           "PIPX_MAN_DIR": str(home / "man"), "PIP_CACHE_DIR": str(cache),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = install_command(checkout)
    print(f"{label}: {command}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(["bash", "-c", command], cwd=checkout, env=env, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{label}: install failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    venv = home / "pipx" / "venvs" / "ragchat"
    return {"command": command, "seconds": seconds, "venv": venv, "bin": home / "bin"}


def site_packages(venv: Path) -> Path:
    [site] = venv.glob("lib/python*/site-packages")
    return site


def measure_venv(venv: Path) -> dict:
    site = site_packages(venv)
    python = venv / "bin" / "python"
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())
    dists = json.loads(subprocess.run([str(python), "-c", SIZES, str(site)], check=True,
                                      capture_output=True, text=True).stdout)
    top = sorted(dists.items(), key=lambda kv: -kv[1])[:TOP]
    torch = subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode
    return {"site_packages_bytes": size, "distributions": len(dists),
            "largest": dict(top), "torch_importable": torch == 0}


def smoke(bin_dir: Path, work: Path) -> dict:
    """ingest, search and ask with the installed command, offline, in a throwaway home."""
    home, docs = work / "smoke-home", work / "smoke-docs"
    shutil.rmtree(home, ignore_errors=True)
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "bees.md").write_text("# Bees\n\nHoney bees dance to show the hive where the "
                                  "flowers are.\n", encoding="utf-8")
    env = {**os.environ, "RAGCHAT_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    out = {}
    for name, args in (("ingest", ["ingest", str(docs)]), ("search", ["search", "flowers"]),
                       ("ask", ["ask", "How do bees show where flowers are?"])):
        proc = subprocess.run([str(bin_dir / "ragchat"), *args], env=env, capture_output=True,
                              text=True, timeout=600)
        ok = proc.returncode == 0 and (name != "search" or "bees.md" in proc.stdout)
        out[name] = "ok" if ok else f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
    return out


def first_ingests(installs: dict, args: argparse.Namespace, work: Path) -> dict:
    """benchmarks/ingest_throughput.py's measurement with each install's ragchat, in turn."""
    import ingest_throughput

    runs: dict[str, list] = {label: [] for label in installs}
    for _ in range(args.rounds):
        for label, entry in installs.items():
            os.environ["RAGCHAT_BENCH_CMD"] = str(entry["bin"] / "ragchat")
            ingest_args = ingest_throughput.parse_args(["--files", str(args.files)])
            report = ingest_throughput.measure(ingest_args, work / f"ingest-{label}")
            runs[label].append({k: report[k] for k in (
                "chunks", "first_seconds", "first_cpu_seconds", "chunks_per_second",
                "embed_seconds", "edited_seconds", "unchanged_seconds")})
    os.environ.pop("RAGCHAT_BENCH_CMD", None)
    return runs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = script_parser(__doc__, work_dir=True)
    ap.add_argument("--checkout", action="append", required=True, metavar="LABEL=FOLDER",
                    help="a source checkout to install, with its label (repeat)")
    ap.add_argument("--wheels-from", type=Path, help="pip cache whose built wheels to reuse")
    ap.add_argument("--files", type=int, default=0, help="notes for the first-ingest run (0: none)")
    ap.add_argument("--rounds", type=int, default=1, help="first ingests per checkout, in turn")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    checkouts = dict(c.split("=", 1) for c in args.checkout)
    report: dict = {"installs": {}, "wheels_reused": bool(args.wheels_from)}
    with work_folder(args.work_dir) as work:
        installs = {label: install(label, Path(folder).resolve(), work, args.wheels_from)
                    for label, folder in checkouts.items()}
        for label, entry in installs.items():
            report["installs"][label] = {
                "checkout": shown_path(checkouts[label]), "command": entry["command"],
                "seconds": entry["seconds"], **measure_venv(entry["venv"]),
                "smoke": smoke(entry["bin"], work)}
        if args.files:
            report["first_ingest"] = first_ingests(installs, args, work)
            report["files"] = args.files
    print(table([[label, i["seconds"], i["site_packages_bytes"] / 1e6, i["torch_importable"],
                  ", ".join(f"{k} {v}" for k, v in i["smoke"].items())]
                 for label, i in report["installs"].items()],
                ["install", "seconds", "site-packages MB", "torch", "smoke"]))
    path = save_results(f"install-{args.name}", report, args.out_dir)
    print(f"\nwrote {path}")


def installs_table(paths: list[Path]) -> str:
    """Each install: time, size, and whether the CPU tool works without torch."""
    rows = []
    for path in paths:
        data = read_results(path)
        for label, i in data["installs"].items():
            works = all(v == "ok" for v in i["smoke"].values())
            rows.append([label, number(i["seconds"], 0), f"{i['site_packages_bytes'] / 1e6:,.0f}",
                         str(i["distributions"]), "yes" if i["torch_importable"] else "no",
                         "yes" if works else "no"])
    return markdown_table(["install", "time s", "site-packages MB", "distributions",
                           "torch importable", "ingest, search, ask work"], rows)


def largest_table(paths: list[Path]) -> str:
    """The largest distributions of each install, MB."""
    rows = []
    for path in paths:
        for label, i in read_results(path)["installs"].items():
            rows.append([label, ", ".join(f"{name} {size / 1e6:,.0f}"
                                          for name, size in list(i["largest"].items())[:8])])
    return markdown_table(["install", "largest distributions (MB)"], rows)


def ingest_table(paths: list[Path]) -> str:
    """First ingest of the generated notes with each install, every round."""
    rows = []
    for path in paths:
        data = read_results(path)
        for label, runs in data.get("first_ingest", {}).items():
            for n, run in enumerate(runs, 1):
                rows.append([f"{label} (round {n})", str(run["chunks"]),
                             number(run["first_seconds"], 1), number(run["first_cpu_seconds"], 1),
                             number(run["chunks_per_second"], 1),
                             number(run["edited_seconds"], 2)])
    return markdown_table(["install", "chunks", "first ingest wall s", "CPU s", "chunks/s",
                           "again, 1 file edited s"], rows)


TABLES = {"installs": installs_table, "largest": largest_table, "ingest": ingest_table}


if __name__ == "__main__" and not table_mode(TABLES):
    main()
