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


def code_tables() -> dict[str, str]:
    """Tables that code prints (figures computed from constants, not measured), by page."""
    from ragchat.models.capabilities import capabilities_markdown
    from ragchat.models.presets import presets_markdown
    from ragchat.models.vram import cache_table_markdown

    return {"reference/config.md": keys_markdown(),
            "how-to/choose-a-model.md": presets_markdown(),
            "how-to/gpu-setup.md": cache_table_markdown(),
            "explanation/backends.md": capabilities_markdown()}


def code_figures() -> dict[str, set[str]]:
    """Figures in hand-written tables that are constants in the code, by page."""
    from ragchat.embeddings import PREFERRED_DOWNLOAD_GB

    return {"how-to/korean-docs.md": {str(PREFERRED_DOWNLOAD_GB)}}


def test_tables_printed_by_code_are_current():
    for page, table in code_tables().items():
        assert table in (DOCS / page).read_text(encoding="utf-8"), f"regenerate {page}'s table"


def test_every_table_of_numbers_is_generated():
    """On every docs page and the README, a table with a decimal number in it is one that a
    script prints from a results file (under its marker) or that code prints: none is typed by
    hand. Tables that define the keys of a results file (`| key | meaning |`) measure nothing."""
    printed, figures = code_tables(), code_figures()
    pages = sorted(DOCS.rglob("*.md")) + [DOCS.parent / "README.md"]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        generated = {line for *_, table in MARKER.findall(text) for line in table.splitlines()}
        name = page.relative_to(DOCS).as_posix() if page.is_relative_to(DOCS) else page.name
        generated |= set(printed.get(name, "").splitlines())
        typed, definitions = [], False
        for line in text.splitlines():
            if not line.startswith("|"):
                definitions = False
                continue
            definitions = definitions or line.startswith("| key | meaning |")
            numbers = set(re.findall(r"\d+\.\d+", line))
            if numbers - figures.get(name, set()) and line not in generated and not definitions:
                typed.append(line)
        assert not typed, f"{page.name}: tables typed by hand: {typed[:3]}"


def test_the_benchmarks_readme_lists_every_script():
    bench = DOCS.parent / "benchmarks"
    text = (bench / "README.md").read_text(encoding="utf-8")
    scripts = [p.relative_to(bench).as_posix() for p in sorted(bench.rglob("*"))
               if p.suffix in (".py", ".sh") and "data" not in p.relative_to(bench).parts]
    missing = [s for s in scripts if f"| `{s}" not in text]
    assert not missing, f"benchmarks/README.md lacks a line for {missing}"


def test_every_answer_kind_is_documented():
    from ragchat.pipeline.nodes import ANSWER_KINDS

    text = (DOCS / "reference" / "commands" / "ask.md").read_text(encoding="utf-8")
    assert [kind for kind in ANSWER_KINDS if f"`{kind}`" not in text] == []
