"""A fresh process that loads one backend and answers one token: `python -m ragchat.bench.probe`.

`ragchat bench` starts it to time "process start to ready" the way a user meets it.
argv[1] is JSON: {"t0": wall-clock time before the process was started, "flags": settings
overrides}. It prints one JSON line: seconds since t0 at each stage, or an error.
"""

from __future__ import annotations

import json
import sys
import time


def run(spec: dict) -> dict:
    t0 = float(spec["t0"])
    marks = {"started": time.time() - t0}
    from ragchat.config import load_settings
    from ragchat.llm import load_backend

    marks["imported"] = time.time() - t0
    settings = load_settings(spec.get("flags") or {})
    backend, choice = load_backend(settings)
    marks["loaded"] = time.time() - t0
    try:
        backend.generate([{"role": "user", "content": "Say hello."}], max_new_tokens=1,
                         temperature=0.0)
        marks["ready"] = time.time() - t0
        return {"marks": marks, "backend": choice.name, "label": backend.describe()}
    finally:
        backend.close()


def main(argv: list[str]) -> int:
    from ragchat.errors import RagchatError

    try:
        result = run(json.loads(argv[1]))
    except RagchatError as exc:
        result = {"error": exc.message, "hint": exc.hint}
    except Exception as exc:  # reported to the parent, which shows it in the table's notes
        result = {"error": f"{type(exc).__name__}: {exc}", "hint": None}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
