"""Finding the CUDA headers for the extension build (folder layouts as pip and CUDA make them)."""

from __future__ import annotations

from pathlib import Path

from cuda_env import REQUIRED, find_cuda_home, merge_into, missing, nvidia_include_dirs, plan


def headers(folder: Path, names) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("/* header */\n")
    return folder


def test_a_complete_cuda_home_needs_nothing(tmp_path):
    home = tmp_path / "cuda"
    headers(home / "include", REQUIRED)
    still, shell = plan(home, [], tmp_path / "merged")
    assert still == [] and "export" not in shell and not (tmp_path / "merged").exists()


def test_library_headers_from_cuda13_wheels_are_merged(tmp_path):
    home = tmp_path / "cuda"
    headers(home / "include", ["cuda_runtime.h", "cuda_fp16.h"])
    site = tmp_path / "site-packages"
    cu13 = headers(site / "nvidia" / "cu13" / "include",
                   ["cublas_v2.h", "cublasLt.h", "cusparse.h", "cusolverDn.h", "curand_kernel.h"])
    (cu13 / "crt").mkdir()
    dirs = nvidia_include_dirs([site])
    assert dirs == [cu13]
    still, shell = plan(home, dirs, tmp_path / "merged")
    assert still == [] and shell == f"export CUDA_INC_PATH={tmp_path / 'merged'}\n"
    assert (tmp_path / "merged" / "cublas_v2.h").resolve() == (cu13 / "cublas_v2.h").resolve()
    assert (tmp_path / "merged" / "crt").is_dir()


def test_cuda12_layout_and_first_folder_wins(tmp_path):
    site = tmp_path / "site"
    a = headers(site / "nvidia" / "cublas" / "include", ["cublas_v2.h", "shared.h"])
    b = headers(site / "nvidia" / "curand" / "include", ["curand_kernel.h", "shared.h"])
    dirs = nvidia_include_dirs([site])
    assert dirs == [a, b]
    merged = merge_into(tmp_path / "m", dirs)
    assert (merged / "shared.h").resolve() == (a / "shared.h").resolve()
    assert missing(("cublas_v2.h", "curand_kernel.h", "cusparse.h"), [merged]) == ["cusparse.h"]


def test_headers_nowhere_are_reported(tmp_path):
    still, shell = plan(None, [], tmp_path / "merged")
    assert still == list(REQUIRED) and shell.startswith("export CUDA_INC_PATH=")


def test_cuda_home_as_torch_finds_it(tmp_path):
    assert find_cuda_home({"CUDA_HOME": "/x", "CUDA_PATH": "/y"}) == Path("/x")
    assert find_cuda_home({"CUDA_PATH": "/y"}) == Path("/y")
    bin_dir = tmp_path / "cuda-13" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "nvcc").write_text("#!/bin/sh\n")
    (bin_dir / "nvcc").chmod(0o755)
    assert find_cuda_home({"PATH": str(bin_dir)}) == tmp_path / "cuda-13"
