"""`ragchat bench`: every asked-for row, for every asked-for backend, one backend at a time."""

from __future__ import annotations

import contextlib
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ragchat.bench.bandwidth import Bound, decode_bound
from ragchat.bench.plan import ROW_TITLES, BenchPlan
from ragchat.bench.stats import Metric, ratio
from ragchat.errors import RagchatError
from ragchat.progress import Progress

if TYPE_CHECKING:
    from ragchat.config import Settings


@dataclass
class BackendReport:
    """What one backend measured; `error` is set when it could not run at all."""

    requested: str
    flags: dict[str, Any]
    name: str = ""
    label: str = ""
    reason: str = ""
    model: str = ""
    metrics: list[Metric] = field(default_factory=list)
    bound: Bound | None = None
    notes: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def title(self) -> str:
        return self.label or self.requested

    def metric(self, key: tuple[str, str, str]) -> Metric | None:
        return next((m for m in self.metrics if m.key == key), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "requested": self.requested, "backend": self.name or None,
            "label": self.title, "reason": self.reason or None, "model": self.model or None,
            "bound": self.bound.to_json() if self.bound else None, "notes": self.notes,
            "error": self.error or None, "metrics": [m.to_json() for m in self.metrics],
        }


@dataclass
class BenchReport:
    plan: BenchPlan
    backends: list[BackendReport]
    machine: dict[str, Any]

    def keys(self) -> list[tuple[str, str, str]]:
        """Every (row, label, metric) any backend has: rows in table order, then each case
        (label) in first-seen order with its metrics together."""
        cases: dict[tuple[str, str], dict[str, None]] = {}
        for row in ROW_TITLES:
            for report in self.backends:
                for m in report.metrics:
                    if m.row == row:
                        cases.setdefault((m.row, m.label), {}).setdefault(m.name, None)
        return [(row, label, name) for (row, label), names in cases.items() for name in names]

    def ratios(self) -> list[dict[str, Any]]:
        """Each backend against the first that ran, by median (>1 = better)."""
        ran = [b for b in self.backends if b.metrics]
        if len(ran) < 2:
            return []
        base, out = ran[0], []
        for other in ran[1:]:
            for key in self.keys():
                a, b = other.metric(key), base.metric(key)
                value = ratio(a, b) if a and b else None
                if value is not None:
                    out.append({"row": key[0], "label": key[1], "name": key[2],
                                "backend": other.title, "baseline": base.title,
                                "times_better": round(value, 4)})
        return out

    def to_json(self) -> dict[str, Any]:
        from ragchat.bench.turns import questions

        plan = self.plan
        return {
            "machine": self.machine,
            "plan": {"rows": list(plan.rows), "repeat": plan.repeat, "tokens": list(plan.tokens),
                     "concurrency": list(plan.concurrency),
                     "concurrent_tokens": plan.concurrent_tokens,
                     "answer_tokens": plan.answer_tokens or None,
                     "collection": plan.collection, "quick": plan.quick,
                     "questions": list(questions(plan)) if "pipeline" in plan.rows else None},
            "backends": [b.to_json() for b in self.backends],
            "ratios": self.ratios(),
        }


def machine_info() -> dict[str, Any]:
    from ragchat import __version__

    return {"ragchat": __version__, "python": sys.version.split()[0],
            "platform": platform.platform(), "machine": platform.machine(),
            "cpus": _cpu_count()}


def _cpu_count() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def model_name(backend: Any) -> str:
    for attr in ("model_dir", "model_path"):
        value = getattr(backend, attr, None)
        if value is not None:
            return getattr(value, "name", str(value))
    return str(getattr(backend, "base_url", "") or getattr(backend, "model", "") or "")


def run_bench(plan: BenchPlan, targets: list[dict[str, Any]],
              progress: Progress | None = None) -> BenchReport:
    """Measure each target (settings overrides naming a backend) in turn."""
    from ragchat.config import load_settings

    progress = progress or Progress()
    reports = [BackendReport(requested=str(t.get("backend") or "auto"), flags=t) for t in targets]
    with _pipeline_collection(plan, load_settings(targets[0] if targets else {})) as collection:
        for report in reports:
            run_backend(report, plan, collection, progress)
    return BenchReport(plan, reports, machine_info())


@contextlib.contextmanager
def _pipeline_collection(plan: BenchPlan, settings: Settings):
    """The collection the pipeline rows use: the given one, else a fresh sample."""
    if "pipeline" not in plan.rows:
        yield None
    elif plan.collection is not None:
        yield plan.collection
    else:
        from ragchat.bench.turns import sample_collection

        with sample_collection(settings) as name:
            yield name


def run_backend(report: BackendReport, plan: BenchPlan, collection: str | None,
                progress: Progress) -> None:
    from ragchat.config import load_settings
    from ragchat.llm import load_backend

    steps = plan.steps()
    try:
        settings = load_settings(report.flags)
        if "init" in plan.rows:
            from ragchat.bench.startup import measure_init

            _row(report, "init", steps, progress,
                 lambda: measure_init(report.flags, plan, progress))
        backend, choice = load_backend(settings)
    except RagchatError as exc:
        report.error = _message(exc)
        return
    report.name, report.label, report.reason = choice.name, backend.describe(), choice.reason
    report.model = model_name(backend)
    try:
        _measure_loaded(report, backend, choice, settings, plan, collection, progress)
    finally:
        backend.close()


def _measure_loaded(report: BackendReport, backend: Any, choice: Any, settings: Settings,
                    plan: BenchPlan, collection: str | None, progress: Progress) -> None:
    from ragchat.bench.concurrency import measure_concurrent
    from ragchat.bench.inference import measure_single
    from ragchat.bench.turns import measure_turns

    steps = plan.steps()
    report.bound, why = decode_bound(backend, gpu=plan.gpu, bandwidth_gbps=plan.bandwidth_gbps)
    if why:
        report.notes.append(why)
    if "single" in plan.rows:
        _row(report, "single", steps, progress,
             lambda: measure_single(backend, plan, progress, report.bound))
    if "pipeline" in plan.rows and collection is not None:
        _row(report, "pipeline", steps, progress,
             lambda: measure_turns(backend, choice, settings, plan, progress, collection))
    if "concurrent" in plan.rows:
        _row(report, "concurrent", steps, progress,
             lambda: measure_concurrent(backend, plan, progress))


def _row(report: BackendReport, row: str, steps: dict[str, int], progress: Progress,
         measure: Callable[[], list[Metric]]) -> None:
    """Run one row; a failure becomes a note on this backend, and the next row runs."""
    progress.stage(f"{report.requested}: {row}", steps[row])
    try:
        report.metrics.extend(measure())
    except RagchatError as exc:
        report.notes.append(f"{ROW_TITLES[row]} failed: {_message(exc)}")


def _message(exc: RagchatError) -> str:
    return f"{exc.message} ({exc.hint})" if exc.hint else exc.message
