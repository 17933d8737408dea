"""The reference docs follow the code, and measured numbers follow their results files."""

import re
from pathlib import Path

from ragchat.cli.main import COMMANDS
from ragchat.config import KEYS, keys_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_config_key_is_documented():
    text = (DOCS / "reference" / "config.md").read_text()
    assert keys_markdown() in text, "regenerate the table: python -m ragchat.config"
    assert all(f"`{k.name}`" in text for k in KEYS)


def test_every_command_has_a_reference_page():
    import importlib.util

    pages = {p.stem for p in (DOCS / "reference" / "commands").glob("*.md")}
    available = [n for n, (mod, _, _) in COMMANDS.items() if importlib.util.find_spec(mod)]
    missing = [name for name in available if name not in pages]
    assert not missing, f"docs/reference/commands/ lacks {missing}"


MARKER = re.compile(r"<!-- table: python (\S+) (--table [^>]*?) -->\n(.*?)(?:\n\n|\Z)", re.S)


def test_tables_generated_from_results_files_are_current():
    """A table under `<!-- table: python benchmarks/SCRIPT --table FILE... -->` is exactly
    what that command prints now from the committed results files."""
    import subprocess
    import sys

    repo = DOCS.parent
    found = 0
    for page in DOCS.rglob("*.md"):
        for script, args, table in MARKER.findall(page.read_text(encoding="utf-8")):
            done = subprocess.run([sys.executable, script, *args.split()], cwd=repo,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            assert table.strip() == done.stdout.strip(), f"{page}: regenerate with {script}"
            found += 1
    assert found >= 15


def test_every_table_of_measured_numbers_is_generated():
    """In docs/performance.md and docs/explanation/, a table with a decimal number in it is
    one that a script prints from a results file, under its marker: none is typed by hand."""
    pages = [DOCS / "performance.md", *sorted((DOCS / "explanation").glob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        generated = {line for *_, table in MARKER.findall(text) for line in table.splitlines()}
        typed = [line for line in text.splitlines() if line.startswith("|")
                 and re.search(r"\d\.\d", line) and line not in generated]
        assert not typed, f"{page.name}: tables typed by hand: {typed[:3]}"


def test_the_benchmarks_readme_lists_every_script():
    bench = DOCS.parent / "benchmarks"
    text = (bench / "README.md").read_text(encoding="utf-8")
    scripts = [p.relative_to(bench).as_posix() for p in sorted(bench.rglob("*"))
               if p.suffix in (".py", ".sh") and "data" not in p.relative_to(bench).parts]
    missing = [s for s in scripts if f"| `{s}" not in text]
    assert not missing, f"benchmarks/README.md lacks a line for {missing}"
