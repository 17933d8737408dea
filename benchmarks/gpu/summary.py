"""Status and headline figures of a run_all.sh work folder, as text and as steps.json.

  python benchmarks/gpu/summary.py WORK_DIR [--json OUT/steps.json]

Reads WORK_DIR/steps.jsonl (one line per finished step), the state markers of steps still
running, build.json, results/*.json (measure.py), logits.json and e2e.json, and prints:

  one line per step (ok / FAIL / skip / running, seconds), the build, the logits checks,
  the end-to-end checks, the headline figures per model, and a last line
  `STATUS: DONE | RUNNING | FAILED (steps)` that tells whether to call run_all.sh again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_steps(work: Path) -> list[dict]:
    steps: dict[str, dict] = {}
    path = work / "steps.jsonl"
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            steps[entry["step"]] = entry
    now = time.time()
    for marker in sorted((work / "state").glob("*.running")):
        started = float(marker.read_text().strip() or now)
        steps.setdefault(marker.stem, {"step": marker.stem, "status": "running",
                                       "started": started, "seconds": round(now - started)})
    return sorted(steps.values(), key=lambda s: s.get("started", now))


def overall(steps: list[dict], finished: bool) -> str:
    failed = [s["step"] for s in steps if s.get("status") == "fail"]
    if not finished:
        return "RUNNING (call run_all.sh again to wait for the rest)"
    return f"FAILED ({', '.join(failed)})" if failed else "DONE"


def step_lines(steps: list[dict]) -> list[str]:
    marks = {"ok": "ok  ", "fail": "FAIL", "skip": "skip", "running": "... "}
    return [f"  {marks.get(s.get('status'), '?   ')} {s.get('seconds', 0):6}s  {s['step']}"
            + (f"  ({s['note']})" if s.get("note") else "") for s in steps]


def pick(data: dict, *keys: str) -> object:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def model_lines(label: str, model: dict) -> list[str]:
    lines = [f"  [{label}] {pick(model, 'model', 'shape')}"]
    rows = (
        ("load s", ("load", "seconds")),
        ("prefill tok/s 2k", ("prefill", "2k", "prefill_tps")),
        ("prefill tok/s long", ("prefill", "long", "prefill_tps")),
        ("decode tok/s short", ("decode", "short", "decode_tps")),
        ("decode tok/s long", ("decode", "long", "decode_tps")),
        ("bound tok/s short", ("bound", "decode_bound_tps", "short")),
        ("bound tok/s long", ("bound", "decode_bound_tps", "long")),
        ("efficiency short", ("bound", "efficiency", "short")),
        ("turn-3 cached share", ("cache", "turn3_cached_share")),
        ("turn-3/turn-1 TTFT", ("cache", "turn3_vs_turn1_ttft")),
        ("ngram speed-up (quote)", ("ngram", "quote", "speedup")),
        ("ngram speed-up (free)", ("ngram", "free", "speedup")),
        ("batch x4 tok/s", ("batch", "aggregate_tps")),
    )
    for name, keys in rows:
        value = pick(model, *keys)
        if value is not None:
            lines.append(f"    {name:24} {value}")
    if pick(model, "batch", "available") is False:
        lines.append(f"    {'batch x4':24} n/a: {pick(model, 'batch', 'reason')}")
    return lines


def logits_lines(logits: dict) -> list[str]:
    lines = []
    for r in logits.get("results", []):
        if "error" in r:
            lines.append(f"  FAIL {r['model']}: {r['error'][:300]}")
            continue
        lines.append(f"  {'ok  ' if r['pass'] else 'FAIL'} {r['kind']:4} cos {r['cosine']:.5f}  "
                     f"top1 {r['top1_agreement']:.3f}  max|d| {r['max_abs_diff']:.4f}  "
                     f"kl {r['kl']:.5f}  {Path(r['model']).name}")
    return lines


def e2e_lines(e2e: dict) -> list[str]:
    return [f"  {'ok  ' if s['pass'] else 'FAIL'} {s['seconds']:6}s  {s['command'][:70]}"
            + ("" if s["pass"] else f"\n      {s.get('stderr_tail', '')[-400:]}")
            for s in e2e.get("steps", [])]


def build_lines(build: dict) -> list[str]:
    if not build:
        return []
    if not build.get("ok"):
        return [f"  FAIL {str(build.get('error', ''))[-1500:]}"]
    return [f"  {build.get('how')} in {build.get('build_s', 0)} s, torch {build.get('torch')}, "
            f"CUDA {build.get('cuda')}, sm {build.get('arch')}: {build.get('imports_as')}"]


def summarise(work: Path) -> tuple[str, dict]:
    steps = read_steps(work)
    finished = (work / "state" / "ALL.done").is_file()
    results = {p.name: read_json(p) for p in sorted((work / "results").glob("*.json"))}
    logits, e2e = read_json(work / "logits.json"), read_json(work / "e2e.json")
    build = read_json(work / "build.json")
    lines = ["steps:", *step_lines(steps)]
    for title, body in (("build:", build_lines(build)), ("logits:", logits_lines(logits)),
                        ("end to end:", e2e_lines(e2e))):
        if body:
            lines += [title, *body]
    for name, data in results.items():
        lines.append(f"results {name} ({data.get('device')}):")
        for label, model in (data.get("models") or {}).items():
            lines += model_lines(label, model)
    status = overall(steps, finished)
    lines.append(f"STATUS: {status}")
    report = {"status": status, "steps": steps, "build": build,
              "env": read_json(work / "env.json")}
    return "\n".join(lines), report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("work", help="run_all.sh's work folder")
    parser.add_argument("--json", help="write the status report here")
    args = parser.parse_args(argv)
    text, report = summarise(Path(args.work))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
