"""Build ExLlamaV2's CUDA extension for this machine's torch and GPU, and time it.

exllamav2 0.3.2 is published on PyPI as one pure-Python wheel that carries the C++/CUDA
sources; on first import (exllamav2/ext.py) torch.utils.cpp_extension.load compiles them with
ninja into $TORCH_EXTENSIONS_DIR ("JIT"). This script triggers that build once, with

  TORCH_CUDA_ARCH_LIST  the GPU's own architecture only (e.g. 9.0: not every CUDA arch)
  MAX_JOBS              one compile job per CPU core
  CUDA_INC_PATH         set by cuda_env.py when cuBLAS & co. headers are only in nvidia-* wheels

then copies the built exllamav2_ext*.so next to the installed packages (--site), where
exllamav2 imports it as a prebuilt extension: later processes (pytest, ragchat, the converter)
skip the JIT check altogether. A .so saved by an earlier run (--prebuilt FILE, with its
.json beside it) is used instead of building when exllamav2, torch, CUDA, Python and the GPU
architecture all match.

  python benchmarks/gpu/build_ext.py --site /tmp/site --report build.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import sysconfig
import time
import traceback
from pathlib import Path


def target_arch() -> str:
    import torch

    major, minor = torch.cuda.get_device_capability(0)
    return f"{major}.{minor}"


def fingerprint() -> dict:
    """What a built extension must match to be reused."""
    from importlib.metadata import version

    import torch

    return {"torch": torch.__version__, "cuda": torch.version.cuda, "arch": target_arch(),
            "python": sysconfig.get_config_var("SOABI") or sys.version.split()[0],
            "exllamav2": version("exllamav2")}


def matches(meta: dict, current: dict) -> bool:
    return all(meta.get(k) == v for k, v in current.items())


def use_prebuilt(prebuilt: Path, site: Path, current: dict) -> bool:
    meta_path = prebuilt.with_suffix(".json")
    if not prebuilt.is_file() or not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if not matches(meta, current):
        print(f"prebuilt {prebuilt.name} is for {meta}, this machine is {current}: building")
        return False
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy2(prebuilt, site / extension_filename())
    return True


def extension_filename() -> str:
    return "exllamav2_ext" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def jit_build() -> Path:
    """Import exllamav2.ext (this compiles it) and return the built shared object."""
    import exllamav2.ext as ext  # noqa: F401  (the import is the build)
    from torch.utils.cpp_extension import _get_build_directory

    folder = Path(_get_build_directory("exllamav2_ext", False))
    built = sorted(folder.glob("exllamav2_ext*.so"))
    if not built:
        raise RuntimeError(f"no exllamav2_ext*.so in {folder} after the build")
    return built[0]


def set_build_env(cpu_count: int | None = None) -> dict:
    env = {"TORCH_CUDA_ARCH_LIST": os.environ.get("TORCH_CUDA_ARCH_LIST") or target_arch(),
           "MAX_JOBS": os.environ.get("MAX_JOBS") or str(cpu_count or os.cpu_count() or 4)}
    os.environ.update(env)
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", "/tmp/torch_extensions")
    env["TORCH_EXTENSIONS_DIR"] = os.environ["TORCH_EXTENSIONS_DIR"]
    env["CUDA_INC_PATH"] = os.environ.get("CUDA_INC_PATH", "")
    return env


def build(site: Path, prebuilt: Path | None) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"ok": False, "error": "no CUDA device visible to torch"}
    current = fingerprint()
    report: dict = {**current, "env": set_build_env()}
    sys.path.insert(0, str(site))
    if (site / extension_filename()).is_file():
        report.update(how="already installed")
    elif prebuilt and use_prebuilt(prebuilt, site, current):
        report.update(how="prebuilt", source=str(prebuilt))
    else:
        started = time.perf_counter()
        built = jit_build()
        report.update(how="jit", build_s=round(time.perf_counter() - started, 1),
                      built=str(built), so_bytes=built.stat().st_size)
        site.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, site / extension_filename())
    report["installed"] = str(site / extension_filename())
    report["imports_as"] = verify()
    report["ok"] = True
    return report


def verify() -> str:
    """Import exllamav2 as every later process will; say where its extension came from."""
    import exllamav2
    import exllamav2.ext as ext

    return f"exllamav2 {exllamav2.__version__}, extension {ext.exllamav2_ext.__file__}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--site", required=True, help="folder on PYTHONPATH for the .so")
    parser.add_argument("--prebuilt", help="a saved exllamav2_ext .so (with its .json)")
    parser.add_argument("--report", help="write the build report (JSON) here")
    parser.add_argument("--save-meta", help="write the .json that makes the installed .so "
                        "reusable as --prebuilt here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = build(Path(args.site), Path(args.prebuilt) if args.prebuilt else None)
    except Exception as exc:  # the compiler's output is in the exception's text
        report = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()[-20000:]}
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2), encoding="utf-8")
    if args.save_meta and report.get("ok"):
        meta = {k: report[k] for k in ("torch", "cuda", "arch", "python", "exllamav2")}
        Path(args.save_meta).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "traceback"}, indent=2)[:20000])
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
