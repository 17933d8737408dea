"""The reference docs follow the code."""

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


def test_tables_generated_from_results_files_are_current():
    """A table under `<!-- table: python benchmarks/SCRIPT --table FILE... -->` is exactly
    what that command prints now from the committed results files."""
    import re
    import subprocess
    import sys

    repo = DOCS.parent
    marker = re.compile(r"<!-- table: python (\S+) (--table [^>]*?) -->\n(.*?)(?:\n\n|\Z)", re.S)
    found = 0
    for page in DOCS.rglob("*.md"):
        for script, args, table in marker.findall(page.read_text(encoding="utf-8")):
            done = subprocess.run([sys.executable, script, *args.split()], cwd=repo,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            assert table.strip() == done.stdout.strip(), f"{page}: regenerate with {script}"
            found += 1
    assert found >= 2
