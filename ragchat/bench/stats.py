"""Samples of one measured quantity, their median and spread, and ratios between backends."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

LOWER = "lower"  # a time: less is better
HIGHER = "higher"  # a rate: more is better


@dataclass(frozen=True)
class Metric:
    """One quantity of one bench row, measured `len(samples)` times.

    `row` groups metrics in the table ("single", "pipeline", ...), `label` names the case
    ("50 new tokens", "turn 1"), `name` the quantity ("TTFT", "decode"). `better` is
    "lower", "higher" or "" (a count that has no better direction: no ratio is shown).
    """

    row: str
    label: str
    name: str
    unit: str
    samples: tuple[float, ...]
    better: str = ""
    note: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.row, self.label, self.name)

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return float(statistics.median(self.samples)) if self.samples else float("nan")

    @property
    def low(self) -> float:
        return float(min(self.samples)) if self.samples else float("nan")

    @property
    def high(self) -> float:
        return float(max(self.samples)) if self.samples else float("nan")

    @property
    def spread(self) -> float:
        """(max - min) / median: 0.05 means the runs were within 5% of each other."""
        if self.n < 2 or not self.median:
            return 0.0
        return (self.high - self.low) / abs(self.median)

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row, "label": self.label, "name": self.name, "unit": self.unit,
            "better": self.better or None, "n": self.n, "median": _round(self.median),
            "min": _round(self.low), "max": _round(self.high),
            "samples": [_round(s) for s in self.samples], "note": self.note or None,
        }


def _round(value: float) -> float | None:
    if value != value:  # NaN
        return None
    return round(float(value), 6)


def percentile(values: Iterable[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value that at least `share` of the values
    do not exceed (share 0.9: p90)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def ratio(metric: Metric, baseline: Metric) -> float | None:
    """How many times better `metric` is than `baseline` (>1 = better), by medians."""
    if not metric.better or metric.better != baseline.better:
        return None
    a, b = metric.median, baseline.median
    if not (a == a and b == b) or a <= 0 or b <= 0:
        return None
    return b / a if metric.better == LOWER else a / b


@dataclass
class Collector:
    """Gathers samples per key while a row runs, then freezes them into Metrics."""

    row: str
    _samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    _meta: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)

    def add(self, label: str, name: str, value: float, unit: str, better: str = "",
            note: str = "") -> None:
        key = (label, name)
        self._samples.setdefault(key, []).append(float(value))
        previous = self._meta.get(key, ("", "", ""))[2]
        self._meta[key] = (unit, better, note or previous)

    def metrics(self) -> list[Metric]:
        out = []
        for (label, name), samples in self._samples.items():
            unit, better, note = self._meta[(label, name)]
            out.append(Metric(self.row, label, name, unit, tuple(samples), better, note))
        return out
