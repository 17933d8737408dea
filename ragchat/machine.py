"""What this machine has: the GPU torch sees, the installed packages and engine builds
(llama.cpp's backends, exllamav2's CUDA extension, flash-attn), ragchat's extras, memory and
cores, and the Hugging Face token.

A bottom module: llm/ (to choose and load an engine), models/ (to recommend a model that
fits), doctor and bench all read the machine here, and it imports nothing of ragchat's.
Every probe is cheap and safe on any machine: torch and llama_cpp are imported only inside
the probe that needs them, and exllamav2 never (its import may start a long CUDA build).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

# What each of ragchat's extras (pyproject.toml) adds, in a user's words.
EXTRA_USES = {
    "gpu": "ExLlamaV2 on an NVIDIA GPU, and embeddings on CUDA (torch, sentence-transformers; "
           "docs/how-to/gpu-setup.md)",
    "plot": "charts of `ragchat bench` results (matplotlib)",
    "dev": "the tests, linters and type checker, with torch and sentence-transformers, the "
           "reference the NumPy encoder is tested against",
}


@dataclass(frozen=True)
class GpuInfo:
    """The first CUDA GPU as torch sees it."""

    torch_version: str | None
    cuda_version: str | None
    available: bool
    name: str = ""
    free_bytes: int = 0
    total_bytes: int = 0
    error: str = ""


@dataclass(frozen=True)
class BuildInfo:
    """What the installed llama.cpp was built with."""

    version: str
    backends: tuple[str, ...]  # e.g. ("CPU",) or ("CUDA", "CPU")
    gpu_offload: bool

    @property
    def gpu_backends(self) -> tuple[str, ...]:
        return tuple(b for b in self.backends if b != "CPU")


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Extra:
    """One of ragchat's extras: its requirements as declared, and those not installed."""

    name: str
    adds: str
    requirements: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def installed(self) -> bool:
        return not self.missing

    @property
    def command(self) -> str:
        """What installs the missing requirements into this environment."""
        specs = " ".join(f"'{r}'" if set(r) & set("<>=[]") else r for r in self.missing)
        if f"{os.sep}pipx{os.sep}venvs{os.sep}" in sys.prefix:
            return f"pipx inject {Path(sys.prefix).name} {specs}"
        return f"{Path(sys.executable).name} -m pip install {specs}"


def extras(distribution: str = "ragchat") -> list[Extra]:
    """ragchat's extras, read from its installed metadata (none when it is not installed)."""
    try:
        requires = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    declared: dict[str, list[str]] = {}
    for line in requires:
        marker = re.search(r"""extra\s*==\s*["']([\w.-]+)["']""", line)
        if marker:
            declared.setdefault(marker.group(1), []).append(line.split(";")[0].strip())
    return [Extra(name, EXTRA_USES.get(name, ""), tuple(specs),
                  tuple(s for s in specs if package_version(_project(s)) is None))
            for name, specs in declared.items()]


def _project(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    return match.group(0) if match else requirement


def has_module(name: str) -> bool:
    """Is `name` importable (found without importing it)?"""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def gpu_info() -> GpuInfo:
    try:
        import torch
    except ImportError as exc:
        return GpuInfo(None, None, False, error=f"torch is not installed ({exc}); the gpu "
                       "extra brings it")
    cuda = getattr(torch.version, "cuda", None)
    try:
        if not torch.cuda.is_available():
            return GpuInfo(torch.__version__, cuda, False)
        free, total = torch.cuda.mem_get_info()
        return GpuInfo(torch.__version__, cuda, True, torch.cuda.get_device_name(0),
                       int(free), int(total))
    except Exception as exc:  # a broken driver: report it, do not crash doctor
        return GpuInfo(torch.__version__, cuda, False, error=str(exc))


def build_info() -> BuildInfo | None:
    """The installed llama.cpp's backends and GPU offload support (None: not installed).

    Loads the library (no model); the backends are the groups of its system info line,
    such as "CPU : AVX2 = 1 | ... | CUDA : ARCHS = 890 | ...".
    """
    try:
        import llama_cpp
    except ImportError:
        return None
    info = llama_cpp.llama_print_system_info()
    text = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    names = tuple(dict.fromkeys(re.findall(r"(?:^|\|\s*)([A-Za-z][\w-]*) : ", text)))
    offload = bool(llama_cpp.llama_supports_gpu_offload())
    return BuildInfo(str(getattr(llama_cpp, "__version__", "?")), names, offload)


def exllamav2_extension() -> str:
    """'prebuilt', 'jit-built', 'not built' or 'not installed' (found without importing it)."""
    if not has_module("exllamav2"):
        return "not installed"
    if has_module("exllamav2_ext"):
        return "prebuilt"
    build_dir = _jit_build_dir()
    if build_dir and (any(build_dir.glob("*.so")) or any(build_dir.glob("*.pyd"))):
        return "jit-built"
    return "not built"


def _jit_build_dir() -> Path | None:
    try:
        from torch.utils.cpp_extension import _get_build_directory

        return Path(_get_build_directory("exllamav2_ext", False))
    except Exception:
        return None


def flash_attn_version() -> str | None:
    return package_version("flash_attn") or package_version("flash-attn")


def ram_bytes() -> int:
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0


def cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def find_token() -> tuple[str | None, str]:
    """The Hugging Face token and where it came from ("HF_TOKEN", "hub login" or "none")."""
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"], "HF_TOKEN"
    try:
        from huggingface_hub import get_token

        token = get_token()
    except Exception:  # a broken token file must not stop the tool
        token = None
    return (token, "hub login") if token else (None, "none")
