"""What this machine has for the LLM: torch and CUDA, the GPU, exllamav2 and its extension,
flash-attn. Nothing here imports exllamav2 (its import may start a long CUDA build)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ragchat.config import Settings


@dataclass(frozen=True)
class GpuInfo:
    torch_version: str | None
    cuda_version: str | None
    available: bool
    name: str = ""
    free_bytes: int = 0
    total_bytes: int = 0
    error: str = ""


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def gpu_info() -> GpuInfo:
    try:
        import torch
    except ImportError as exc:
        return GpuInfo(None, None, False, error=f"torch is not installed ({exc})")
    cuda = getattr(torch.version, "cuda", None)
    try:
        if not torch.cuda.is_available():
            return GpuInfo(torch.__version__, cuda, False)
        free, total = torch.cuda.mem_get_info()
        return GpuInfo(torch.__version__, cuda, True, torch.cuda.get_device_name(0),
                       int(free), int(total))
    except Exception as exc:  # a broken driver: report it, do not crash doctor
        return GpuInfo(torch.__version__, cuda, False, error=str(exc))


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


def exllamav2_blocker(settings: Settings) -> str | None:
    """Why exllamav2 cannot run here, cheapest check first; None when it can."""
    from ragchat.models.registry import resolve_exl2_model

    if not has_module("exllamav2"):
        return "exllamav2 is not installed"
    path, why = resolve_exl2_model(settings)
    if path is None:
        return why
    if not path.is_dir():
        return f"the EXL2 model folder {path} does not exist"
    extension = exllamav2_extension()
    if extension == "not built":
        return "exllamav2's CUDA extension is not built yet (run once with --backend exllamav2)"
    info = gpu_info()
    if not info.available:
        return f"no CUDA GPU ({info.error})" if info.error else "no CUDA GPU"
    return None
