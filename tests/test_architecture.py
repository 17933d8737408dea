"""The layout shows the architecture: imports point down, and only the CLI talks to a terminal.

    cli -> bench, doctor -> pipeline -> llm -> models
                            pipeline, ingest -> index -> embeddings
    every layer -> the base: config, errors, paths, machine, engines, ... (which import only
    each other); ALLOWED below is the exact rule

A new edge that is not listed here fails this test: add it here on purpose, or move the code.
There is no exception: the layers form no circle, and nothing imports a layer above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ragchat"
BASE = {"config", "errors", "paths", "locations", "progress", "redact", "__version__",
        "machine", "engines"}  # usable by every layer; they import only each other
ALLOWED = {
    "cli": {"bench", "doctor", "pipeline", "index", "ingest", "llm", "models", "embeddings"},
    "__main__": {"cli"},
    "bench": {"pipeline", "index", "ingest", "llm", "models", "embeddings"},
    "doctor": {"llm", "models", "index", "ingest", "embeddings"},
    "pipeline": {"index", "llm", "models", "embeddings"},
    "ingest": {"index", "embeddings"},
    "index": {"embeddings"},
    "llm": {"models"},
    "models": set(),
    "embeddings": set(),
    "config": set(),
}
TERMINAL = {"click", "rich", "prompt_toolkit"}


def imports_of(path: Path, names_of: str | None = "ragchat") -> set[str]:
    """The modules `path` imports; `from M import x` also counts M.x when M is `names_of`
    (None: every M), since x may be a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if names_of is None or node.module == names_of:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def layer_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def test_imports_point_down():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = layer_of(path)
        if layer in BASE or layer == "__init__":
            continue
        allowed = ALLOWED[layer] | BASE | {layer}
        for name in imports_of(path):
            if name.startswith("ragchat."):
                target = name.split(".")[1]
                if target not in allowed:
                    wrong.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_base_imports_only_the_base():
    wrong = [f"{path.relative_to(PACKAGE.parent)} imports {name}"
             for path in sorted(PACKAGE.glob("*.py")) if layer_of(path) in BASE
             for name in imports_of(path)
             if name.startswith("ragchat.") and name.split(".")[1] not in BASE]
    assert not wrong, "\n".join(wrong)


def test_the_layers_form_no_circle():
    """Every layer can be put below the layers that import it (a topological order)."""
    left = {layer: set(below) - BASE for layer, below in ALLOWED.items()}
    while left:
        bottom = [layer for layer, below in left.items() if not below & set(left)]
        assert bottom, f"the layers {sorted(left)} import each other in a circle"
        for layer in bottom:
            del left[layer]


def test_only_the_cli_talks_to_the_terminal():
    wrong = [f"{path.relative_to(PACKAGE.parent)} imports {name}"
             for path in sorted(PACKAGE.rglob("*.py")) if layer_of(path) != "cli"
             for name in imports_of(path) if name.split(".")[0] in TERMINAL]
    assert not wrong, "\n".join(wrong)


def test_library_code_does_not_print():
    """Library code logs; the CLI decides what reaches the terminal."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if layer_of(path) in ("cli", "__main__"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print":
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    # config.py prints its docs table when run as a script (python -m ragchat.config).
    assert [w for w in wrong if not w.startswith("ragchat/config.py:")] == []


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of ragchat -> the modules of ragchat it imports (anywhere in it, lazy
    imports too: `from ragchat.ingest import worker` is an edge to ragchat.ingest.worker)."""
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        names = imports_of(path, names_of=None)
        graph[module] = {name for name in names if name in paths} - {module}
    return graph


def import_circles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The sets of modules that import each other, directly or through others."""
    reach = {}
    for start in graph:
        seen, todo = set(), [start]
        while todo:
            for target in graph[todo.pop()] - seen:
                seen.add(target)
                todo.append(target)
        reach[start] = seen
    return {frozenset({start} | {m for m in reach[start] if start in reach[m]})
            for start in graph if start in reach[start]}


# circles that are still to be broken (issue 26); the test fails when one is gone, so that
# this list only shrinks
KNOWN_CIRCLES: set[frozenset[str]] = set()


def test_no_module_imports_itself_through_others():
    circles = import_circles(import_graph())
    assert not circles - KNOWN_CIRCLES, "\n".join(" <-> ".join(sorted(c)) for c in circles)
    assert not KNOWN_CIRCLES - circles, "a known circle is gone: remove it from KNOWN_CIRCLES"
