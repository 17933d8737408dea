"""What `ragchat bench` measures (the rows and their sizes) and how it reports progress."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ragchat.errors import UsageError

ROWS = ("init", "single", "pipeline", "concurrent")
ROW_TITLES = {
    "init": "Initialization",
    "single": "Single inference",
    "pipeline": "Pipeline turn",
    "concurrent": "Concurrent requests",
}


@dataclass(frozen=True)
class BenchPlan:
    """The rows to run and their sizes. `quick()` shrinks everything for a smoke run."""

    rows: tuple[str, ...] = ROWS
    repeat: int = 3
    tokens: tuple[int, ...] = (50, 500)  # new tokens of the single-inference rows
    concurrency: tuple[int, ...] = (1, 4, 8)
    concurrent_tokens: int = 50  # new tokens per concurrent request
    answer_tokens: int = 0  # answer budget in pipeline turns; 0 = max_new_tokens setting
    question: str = ""  # pipeline question; "" = the sample collection's
    follow_up: str = ""
    collection: str | None = None  # None = the built-in sample collection
    gpu: str = ""  # GPU name for the bandwidth bound, "" = detect
    bandwidth_gbps: float = 0.0  # memory bandwidth override, 0 = from the GPU table
    quick: bool = False

    def quicker(self) -> BenchPlan:
        """The smallest run that still fills every row (CI, a first look)."""
        return replace(self, repeat=1, tokens=(16, 64), concurrency=(1, 2),
                       concurrent_tokens=16, answer_tokens=self.answer_tokens or 32, quick=True)

    def steps(self) -> dict[str, int]:
        """Units of work per row, for progress bars."""
        return {
            "init": 1 + max(self.repeat, 1),
            "single": len(self.tokens) * self.repeat,
            "pipeline": 2 * self.repeat,
            "concurrent": len(self.concurrency) * self.repeat,
        }


def parse_rows(text: str | None) -> tuple[str, ...]:
    """'single,pipeline' -> ('single', 'pipeline') in table order; None/'' = all rows."""
    if not text:
        return ROWS
    wanted = [r.strip().lower() for r in text.split(",") if r.strip()]
    unknown = [r for r in wanted if r not in ROWS]
    if unknown:
        raise UsageError(f"unknown bench row(s): {', '.join(unknown)}",
                         hint=f"--rows takes a comma-separated list of {', '.join(ROWS)}")
    return tuple(r for r in ROWS if r in wanted)


def parse_counts(text: str, option: str, *, low: int = 1, high: int = 100_000) -> tuple[int, ...]:
    """'50,500' -> (50, 500), each within [low, high]."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"{option} takes comma-separated whole numbers, got {text!r}",
                         hint=f"for example {option} 50,500") from None
    if not values or any(v < low or v > high for v in values):
        raise UsageError(f"{option} values must be between {low} and {high}, got {text!r}")
    return values


