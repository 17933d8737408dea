"""`ragchat bench --plot FILE.png`: the bench's main figures as grouped bars (matplotlib)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from ragchat.errors import RagchatError

INSTALL = "pip install 'ragchat[plot]'   (or: pip install matplotlib)"

# (row, metric) drawn in each panel; every label of the row gets its own bar group.
TIME_METRICS = (("init", "start to ready"), ("single", "TTFT"), ("single", "total"),
                ("pipeline", "total"), ("concurrent", "all done"))
RATE_METRICS = (("single", "decode"), ("concurrent", "throughput"))


def require_matplotlib() -> None:
    """Fail before measuring anything when the plot cannot be drawn."""
    if importlib.util.find_spec("matplotlib") is None:
        raise RagchatError("--plot needs matplotlib, which is not installed", hint=INSTALL)


def _series(report: Any, wanted: tuple[tuple[str, str], ...]) -> list[tuple[str, str, str]]:
    return [key for key in report.keys() if (key[0], key[2]) in wanted]


def _panel(ax: Any, report: Any, keys: list[tuple[str, str, str]], unit: str) -> None:
    ran = [b for b in report.backends if b.metrics]
    height = 0.8 / max(len(ran), 1)
    for i, backend in enumerate(ran):
        medians, lows, highs = [], [], []
        for key in keys:
            m = backend.metric(key)
            med = m.median if m else 0.0
            medians.append(med)
            lows.append(med - m.low if m else 0.0)
            highs.append(m.high - med if m else 0.0)
        positions = [k + i * height for k in range(len(keys))]
        ax.barh(positions, medians, height=height, xerr=[lows, highs], capsize=2,
                label=backend.title)
    ax.set_yticks([k + 0.4 - height / 2 for k in range(len(keys))])
    ax.set_yticklabels([f"{row}: {label}, {name}" for row, label, name in keys], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.grid(axis="x", alpha=0.3)


def write_plot(report: Any, path: Path) -> Path:
    """Draw time and rate panels (median bars, min-max whiskers) into `path` (PNG)."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times, rates = _series(report, TIME_METRICS), _series(report, RATE_METRICS)
    panels = [(k, u) for k, u in ((times, "seconds (lower is better)"),
                                  (rates, "tokens/s (higher is better)")) if k]
    if not panels:
        raise RagchatError("nothing to plot: no row produced times or rates",
                           hint="run more rows (see --rows)")
    fig, axes = plt.subplots(len(panels), 1, squeeze=False,
                             figsize=(9, 1.2 + 0.45 * sum(len(k) for k, _ in panels) + len(panels)))
    for ax, (keys, unit) in zip(axes[:, 0], panels):
        _panel(ax, report, keys, unit)
    axes[0, 0].legend(fontsize=8, loc="best")
    fig.suptitle("ragchat bench (median of runs, whiskers min-max)", fontsize=10)
    fig.tight_layout()
    path = Path(path).expanduser()
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise RagchatError(f"cannot write {path}: {exc.strerror or exc}",
                           hint="check the folder exists and is writable") from exc
    finally:
        plt.close(fig)
    return path
