"""Adversarial lines through every reader of text, the chunker and the index tokenizer.

Each line is built to trip a pattern that backtracks (a heading mark followed by 100,000
spaces, `<!--` repeated with no `-->`, ...). Every line is written as a file of each text
kind ragchat reads (Markdown, reST, HTML, plain text, source code), read and chunked the way
an ingest does (ingest/worker.py's `read_and_chunk`, in this process) and tokenized for BM25.
Every one should take milliseconds, and four times the text should take about four times
as long (a quadratic pattern takes sixteen); the script writes both times and their ratio
for each to a results file.

    python benchmarks/adversarial_text.py [--chars 100000] [--name default]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import save_results, script_parser  # noqa: E402
from tables import markdown_table, number, read_results, table_mode  # noqa: E402

SUFFIXES = {"markdown": ".md", "rst": ".rst", "html": ".html", "text": ".txt", "code": ".py"}


def adversarial_lines(n: int = 100_000) -> dict[str, str]:
    """Named texts of about `n` characters, each aimed at a pattern or a splitter."""
    return {
        "heading mark, spaces": "#" + " " * n + "x",
        "heading of spaced hashes": "# " + " #" * (n // 2),
        "heading, inner spaces": "# a" + " " * n + "b",
        "unclosed HTML comments": "<!--" * (n // 4),
        "HTML comment of dashes": "<!-- " + "-" * n,
        "reST comment of spaces": ".. " + " " * n + ":",
        "reST directive, no end": ".. " + "a:" * (n // 2),
        "backticks": "`" * n,
        "unclosed roles": ":a:`" * (n // 4),
        "MyST braces": "{" * n,
        "colons": ":" * n,
        "one long word": "a" * n,
        "words, no sentence end": "word " * (n // 5),
        "short sentences": "Hi. " * (n // 4),
        "brackets": "[" * n,
        "link definition": "[a]: " + "x " * (n // 2),
        "angle brackets": "<" * n,
        "unclosed tags": "<a " * (n // 3),
        "unclosed attribute": "<a b='" + "x" * n,
        "fences": "```\n" * (n // 4),
        "directive fences": ":::{note}\n" + "```\n" * (n // 4),
        "CID codes": "(cid:" * (n // 5),
        "Hangul": "가" * n,
        "Hangul and Latin": "가a" * (n // 2),
        "tabs": "\t" * n,
        "underline": "=" * n + "x",
        "one-character lines": "a\n" * (n // 2),
        "spaces, then a word": " " * n + "x",
        # MDX (read as Markdown): anchors, JSX comments, component tags, ESM lines
        "MDX heading anchors": "# a" + "{#}" * (n // 3),
        "MDX anchor, unclosed": "# a {/*" + "*" * n,
        "JSX comment openers": "{/*" * (n // 3),
        "unclosed component tags": "<A " * (n // 3),
        "closing tag marks": "</" * (n // 2),
        "component tag over the line": "<Note" + " x=" * (n // 3),
        "tags in inline code": "`<A>" * (n // 4),
        "import, no source": "import " + " from" * (n // 5),
    }


def time_one(path: Path, kind: str) -> tuple[float, int]:
    """Seconds to read, chunk and tokenize one file, and the number of chunks."""
    from ragchat.index.tokenize import index_string
    from ragchat.ingest.budgets import Budgets
    from ragchat.ingest.worker import ReadJob, read_and_chunk

    start = time.perf_counter()
    result = read_and_chunk(ReadJob(str(path), "off", 1000, 150, True), Budgets())
    for chunk in result.chunks:
        index_string(chunk.index_text)
    return time.perf_counter() - start, len(result.chunks)


def main() -> None:
    parser = script_parser(__doc__)
    parser.add_argument("--chars", type=int, default=100_000, help="length of each text")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        short, long = adversarial_lines(args.chars), adversarial_lines(4 * args.chars)
        for name in short:
            for kind, suffix in SUFFIXES.items():
                row = {"text": name, "kind": kind}
                for label, text in (("ms", short[name]), ("ms_4x", long[name])):
                    path = Path(tmp) / f"case{suffix}"
                    path.write_text(text, encoding="utf-8")
                    seconds, row["chunks"] = time_one(path, kind)
                    row[label] = round(seconds * 1000, 2)
                row["ratio_4x"] = round(row["ms_4x"] / max(row["ms"], 0.01), 1)
                rows.append(row)
                print(f"{row['ms']:9.1f} ms {row['ms_4x']:9.1f} ms (x{row['ratio_4x']:<5}) "
                      f"{kind:8} {name}", flush=True)
    worst = max(rows, key=lambda r: r["ms"])
    print(f"slowest: {worst['ms']} ms ({worst['kind']}, {worst['text']})")
    path = save_results(f"adversarial-text-{args.name}",
                        {"chars": args.chars, "rows": rows, "slowest_ms": worst["ms"],
                         "slowest_4x_ms": max(r["ms_4x"] for r in rows)}, args.out_dir)
    print(f"results: {path}")


def slowest_table(paths: list[Path]) -> str:
    """The ten slowest cases of a run: the time at N and 4N characters and their ratio
    (linear code: about 4; quadratic: about 16)."""
    run = read_results(paths[0])
    rows = sorted(run["rows"], key=lambda r: r["ms_4x"], reverse=True)[:10]
    chars = run["chars"]
    return markdown_table(
        ["text", "read as", f"{chars:,} characters", f"{4 * chars:,} characters", "ratio"],
        [[r["text"], r["kind"], f"{number(r['ms'], 1)} ms", f"{number(r['ms_4x'], 1)} ms",
          number(r["ratio_4x"], 1)] for r in rows])


TABLES = {"slowest": slowest_table}


if __name__ == "__main__" and not table_mode(TABLES):
    main()
