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
