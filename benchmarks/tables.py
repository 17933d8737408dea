"""Tables: plain text for the terminal, and results files as the markdown tables the docs show.

Each script renders its own results files: `python benchmarks/SCRIPT --table FILE... [--view
NAME]` prints the table that a docs page holds under `<!-- table: python benchmarks/SCRIPT
--table FILE... -->`, and tests/test_docs.py checks that the page still holds exactly that.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

Render = Callable[[list[Path]], str]


def table_mode(views: dict[str, Render], argv: list[str] | None = None) -> bool:
    """`SCRIPT --table FILE... [--view NAME]` (argv, else the command line's): print the
    results files as a markdown table (the first view unless --view names another) and
    return True; False for any other arguments: the script measures."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["--table"]:
        return False
    parser = argparse.ArgumentParser(prog=Path(sys.argv[0]).name + " --table")
    parser.add_argument("files", nargs="+", type=Path, help="results files")
    parser.add_argument("--view", choices=list(views), default=next(iter(views)))
    args = parser.parse_args(argv[1:])
    print(views[args.view](args.files), end="")
    return True


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def read_results(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def run_name(path: Path, prefix: str) -> str:
    """A results file's run, as tables name it: its name without the script's prefix."""
    return Path(path).stem.removeprefix(prefix)


def number(value: float | None, digits: int = 2) -> str:
    """A cell: a number with `digits` decimals (thousands separated), "-" for none."""
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def seconds(value: float | None) -> str:
    """Seconds to about three significant digits: 0.294 -> 0.29, 7.38 -> 7.4, 599.9 -> 600."""
    if value is None:
        return "-"
    return number(value, 2 if value < 1 else 1 if value < 100 else 0)


def percent(share: float | None) -> str:
    """A share as a percentage to about two significant digits: 0.0049 -> 0.49 %."""
    if share is None:
        return "-"
    value = 100 * share
    return f"{number(value, 0 if value >= 10 else 1 if value >= 1 else 2)} %"


def table(rows: list[list], headers: list[str]) -> str:
    """A plain-text table, numbers right-aligned."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    for row, raw in zip(cells, rows):
        lines.append("  ".join(c.rjust(w) if isinstance(v, int | float) else c.ljust(w)
                               for c, w, v in zip(row, widths, raw)))
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)

