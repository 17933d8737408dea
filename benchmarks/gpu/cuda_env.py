"""Make the CUDA headers that ExLlamaV2's extension build needs visible to torch's builder.

torch.utils.cpp_extension compiles with `-I $CUDA_HOME/include` (plus $CUDA_INC_PATH). A
CUDA installation assembled from pip packages often has the compiler and runtime there but
not the cuBLAS, cuSPARSE, cuSOLVER and cuRAND headers, which torch's own CUDA headers include;
those live in the `nvidia-*` Python packages (site-packages/nvidia/cu13/include, or
nvidia/<library>/include for CUDA 12). When some are missing, this links every header of
those folders into one folder and prints `export CUDA_INC_PATH=<it>` for the shell:

  eval "$(python3 benchmarks/gpu/cuda_env.py --merge-into /tmp/cuda-include)"

It prints a comment and no export when $CUDA_HOME/include already has everything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import site
import sys
from pathlib import Path

REQUIRED = ("cuda_runtime.h", "cuda_fp16.h", "cublas_v2.h", "cublasLt.h", "cusparse.h",
            "cusolverDn.h", "curand_kernel.h")


def find_cuda_home(env: dict[str, str] | None = None) -> Path | None:
    """As torch finds it: CUDA_HOME / CUDA_PATH, else the folder above nvcc, else /usr/local/cuda."""
    env = os.environ if env is None else env
    for key in ("CUDA_HOME", "CUDA_PATH"):
        if env.get(key):
            return Path(env[key])
    nvcc = shutil.which("nvcc", path=env.get("PATH"))
    if nvcc:
        return Path(nvcc).resolve().parent.parent
    default = Path("/usr/local/cuda")
    return default if default.exists() else None


def nvidia_include_dirs(site_dirs: list[Path]) -> list[Path]:
    """include folders of the nvidia-* wheels under each site-packages folder."""
    found: list[Path] = []
    for base in site_dirs:
        for pattern in ("nvidia/*/include", "nvidia/*/*/include"):
            found.extend(sorted(p for p in Path(base).glob(pattern) if p.is_dir()))
    return found


def missing(headers: tuple[str, ...], dirs: list[Path]) -> list[str]:
    return [h for h in headers if not any((d / h).is_file() for d in dirs)]


def merge_into(target: Path, dirs: list[Path]) -> Path:
    """Symlink each entry of `dirs` into `target`; the first folder to have a name wins."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for folder in dirs:
        for entry in sorted(folder.iterdir()):
            link = target / entry.name
            if not link.exists() and not link.is_symlink():
                link.symlink_to(entry.resolve())
    return target


def site_dirs() -> list[Path]:
    dirs = [Path(p) for p in site.getsitepackages() + [site.getusersitepackages()]]
    dirs += [Path(p) for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    return list(dict.fromkeys(d for d in dirs if d.is_dir()))


def plan(cuda_home: Path | None, wheel_dirs: list[Path], target: Path) -> tuple[list[str], str]:
    """(headers still missing after merging, shell text to eval)."""
    home_include = [cuda_home / "include"] if cuda_home else []
    if not missing(REQUIRED, home_include):
        return [], f"# {home_include[0]} has every header the build needs\n"
    still = missing(REQUIRED, home_include + wheel_dirs)
    merged = merge_into(target, wheel_dirs)
    return still, f"export CUDA_INC_PATH={merged}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--merge-into", default="/tmp/cuda-include",
                        help="folder to link the wheels' headers into [/tmp/cuda-include]")
    args = parser.parse_args(argv)
    cuda_home = find_cuda_home()
    still, shell = plan(cuda_home, nvidia_include_dirs(site_dirs()), Path(args.merge_into))
    sys.stdout.write(shell)
    print(f"# CUDA_HOME: {cuda_home}", file=sys.stderr)
    if still:
        print(f"# still missing: {', '.join(still)}: the extension build will fail",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
