"""Initialization: process start to ready, and model load, in fresh processes.

The first process is reported as "cold", the others as "warm". "Cold" here means the first
start in this run: the operating system may already hold the model file in its page cache
from earlier runs. For a truly cold start, drop the page cache first (Linux, as root:
`sync; echo 3 > /proc/sys/vm/drop_caches`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from ragchat.bench.plan import BenchPlan
from ragchat.bench.stats import LOWER, Collector, Metric
from ragchat.errors import BackendError
from ragchat.progress import Progress

PROBE_TIMEOUT_S = 900


def start_probe(flags: dict[str, Any], timeout_s: float = PROBE_TIMEOUT_S) -> tuple[float, dict]:
    """Start a probe process; return (seconds from start to its ready line, its report)."""
    t0 = time.time()
    spec = json.dumps({"t0": t0, "flags": flags})
    proc = subprocess.run([sys.executable, "-m", "ragchat.bench.probe", spec],
                          capture_output=True, text=True, timeout=timeout_s,
                          env=dict(os.environ))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise BackendError(f"the bench probe process failed (exit {proc.returncode})",
                           hint=" | ".join(tail) or "run with RAGCHAT_DEBUG=1")
    report = json.loads(lines[-1])
    if "error" in report:
        raise BackendError(report["error"], hint=report.get("hint"))
    return report["marks"]["ready"], report


def measure_init(flags: dict[str, Any], plan: BenchPlan, progress: Progress) -> list[Metric]:
    """One cold and `plan.repeat` warm starts of a fresh process."""
    cold = Collector("init")
    warm = Collector("init")
    for i in range(1 + max(plan.repeat, 1)):
        ready, report = start_probe(flags)
        marks = report["marks"]
        target, label = (cold, "cold (first start)") if i == 0 else (warm, "warm")
        target.add(label, "start to ready", ready, "s", LOWER)
        target.add(label, "interpreter + imports", marks["imported"], "s", LOWER)
        target.add(label, "model load", marks["loaded"] - marks["imported"], "s", LOWER)
        target.add(label, "first token", marks["ready"] - marks["loaded"], "s", LOWER)
        progress.advance()
    return cold.metrics() + warm.metrics()
