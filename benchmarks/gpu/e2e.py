"""ragchat end to end with a given LLM backend: doctor, ingest, ask --json, repl --json.

Runs the real `ragchat` command (this checkout's `python -m ragchat`) in a throwaway
RAGCHAT_HOME, the way a user does, and checks the structure of what comes back:

  doctor --json   resolves the backend that was asked for
  ingest --json   indexes this repository's docs/ folder
  ask --json      an answer, sources, the backend's name, LLM calls with token counts
  repl --json     three piped messages in one process: three answers; the last turn's
                  answer call is served partly from the KV cache

  python benchmarks/gpu/e2e.py --backend exllamav2 --exl2 /data/small-exl2 \\
      --embedder /data/embedder --out e2e.json

With --backend llamacpp (the embedded CPU model) it runs on any machine, which is how it is
tested. Exit status 0 when every check passes; the JSON file lists each command's exit
code, seconds, checks, and the end of its stderr when it failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = ("How do I ingest a folder of documents?", "And how do I search it afterwards?",
             "Which LLM backends can answer?")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--backend", default="exllamav2", choices=("exllamav2", "llamacpp"))
    parser.add_argument("--exl2", help="EXL2 model folder (for --backend exllamav2)")
    parser.add_argument("--embedder", help="embedding model folder [default: ragchat's]")
    parser.add_argument("--docs", default=str(REPO / "docs"), help="folder to ingest")
    parser.add_argument("--max-seq-len", type=int, default=8192)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--out", required=True, help="JSON report to write")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per command")
    return parser.parse_args(argv)


def environment(args: argparse.Namespace, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGCHAT_")}
    env.update({"RAGCHAT_HOME": str(home), "RAGCHAT_BACKEND": args.backend,
                "RAGCHAT_MAX_NEW_TOKENS": str(args.max_new_tokens), "HF_HUB_OFFLINE": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                            env.get("PYTHONPATH", "")]))})
    if args.exl2:
        env["RAGCHAT_EXL2_MODEL"] = str(Path(args.exl2).resolve())
        env["RAGCHAT_MAX_SEQ_LEN"] = str(args.max_seq_len)
    if args.embedder:
        env["RAGCHAT_EMBEDDING_MODEL"] = str(Path(args.embedder).resolve())
    return env


def ragchat(args: list[str], env: dict, timeout: int, stdin: str | None = None) -> dict:
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "ragchat", *args], input=stdin, env=env,
                              capture_output=True, text=True, timeout=timeout, cwd=str(REPO))
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = 124, exc.stdout or "", f"timed out after {timeout} s"
    return {"command": "ragchat " + " ".join(args), "exit": code,
            "seconds": round(time.perf_counter() - started, 2), "stdout": out, "stderr": err}


def json_objects(text: str) -> list[dict]:
    objects = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                objects.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return objects


def whole_json(text: str) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        objects = json_objects(text)
        return objects[-1] if objects else {}
    return data if isinstance(data, dict) else {}


def answer_checks(result: dict, backend: str) -> dict[str, bool]:
    calls = result.get("llm_calls") or []
    return {
        "has_answer": isinstance(result.get("answer"), str) and bool(result["answer"].strip()),
        "sources_listed": isinstance(result.get("sources"), list),
        "backend_used": backend in str(result.get("backend", "")),
        "llm_calls_counted": bool(calls) and all(c.get("prompt_tokens", 0) > 0 for c in calls),
    }


def last_answer_call(result: dict) -> dict:
    calls = [c for c in result.get("llm_calls") or [] if c.get("node") == "llm_answer"]
    return calls[-1] if calls else (result.get("llm_calls") or [{}])[-1]


def repl_checks(results: list[dict], backend: str) -> dict[str, bool]:
    checks = {"three_answers": len(results) == len(QUESTIONS)}
    for i, result in enumerate(results):
        for name, ok in answer_checks(result, backend).items():
            checks[f"turn{i + 1}_{name}"] = ok
    if len(results) == len(QUESTIONS):
        checks["turn3_uses_cache"] = last_answer_call(results[-1]).get("cached_tokens", 0) > 0
    return checks


def summarise(step: dict, checks: dict[str, bool], extra: dict | None = None) -> dict:
    ok = step["exit"] == 0 and all(checks.values())
    summary = {k: step[k] for k in ("command", "exit", "seconds")}
    summary.update({"checks": checks, "pass": ok, **(extra or {})})
    if not ok:
        summary["stderr_tail"] = step["stderr"][-3000:]
    return summary


def run_all(args: argparse.Namespace, home: Path) -> list[dict]:
    env = environment(args, home)
    steps = []
    doctor = ragchat(["doctor", "--json"], env, args.timeout)
    backend = (whole_json(doctor["stdout"]).get("backend") or {})
    steps.append(summarise(doctor, {"report": bool(whole_json(doctor["stdout"]))},
                           {"backend": backend}))
    ingest = ragchat(["ingest", args.docs, "--json", "-q"], env, args.timeout)
    steps.append(summarise(ingest, {"report": bool(whole_json(ingest["stdout"]))},
                           {"report": whole_json(ingest["stdout"])}))
    ask = ragchat(["ask", QUESTIONS[0], "--json"], env, args.timeout)
    result = whole_json(ask["stdout"])
    steps.append(summarise(ask, answer_checks(result, args.backend),
                           {"llm_calls": result.get("llm_calls"), "timings": result.get("timings")}))
    repl = ragchat(["repl", "--json"], env, args.timeout, stdin="\n".join(QUESTIONS) + "\n")
    turns = json_objects(repl["stdout"])
    steps.append(summarise(repl, repl_checks(turns, args.backend),
                           {"answer_calls": [last_answer_call(t) for t in turns]}))
    return steps


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.backend == "exllamav2" and not args.exl2:
        print("--exl2 is required with --backend exllamav2", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ragchat-e2e-") as home:
        steps = run_all(args, Path(home))
    report = {"backend": args.backend, "exl2": args.exl2, "embedder": args.embedder,
              "steps": steps, "pass": all(s["pass"] for s in steps)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    for step in steps:
        print(f"{'ok  ' if step['pass'] else 'FAIL'} {step['seconds']:7.1f}s  {step['command']}")
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
