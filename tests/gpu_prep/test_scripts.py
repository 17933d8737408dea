"""Every script answers --help; the shell scripts parse; convert.sh checks its input and
recognises a finished EXL2 folder; wheels.txt is a clean pin list."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from tests.gpu_prep.conftest import run_script

PY_SCRIPTS = ("make_test_model.py", "check_logits.py", "measure.py", "replicate_measurement.py",
              "build_ext.py", "cuda_env.py", "summary.py", "e2e.py")
SH_SCRIPTS = ("convert.sh", "fetch_wheels.sh", "run_all.sh")


@pytest.mark.parametrize("script", PY_SCRIPTS + SH_SCRIPTS)
def test_help(script, gpu_dir):
    proc = run_script(str(gpu_dir / script), "--help", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) >= 5


@pytest.mark.parametrize("script", SH_SCRIPTS)
def test_shell_syntax(script, gpu_dir):
    assert subprocess.run(["bash", "-n", str(gpu_dir / script)]).returncode == 0


def test_convert_needs_its_folders(gpu_dir):
    proc = run_script(str(gpu_dir / "convert.sh"), "-i", "x")
    assert proc.returncode == 2 and "required" in proc.stderr
    assert run_script(str(gpu_dir / "convert.sh"), "--bogus").returncode == 2


def test_convert_leaves_a_finished_exl2_folder_alone(tmp_path, gpu_dir):
    out = tmp_path / "exl2"
    out.mkdir()
    (out / "config.json").write_text(json.dumps(
        {"quantization_config": {"quant_method": "exl2", "bits": 4.25, "head_bits": 6,
                                 "calibration": {"rows": 64}}}))
    (out / "output.safetensors").write_bytes(b"x" * 1000)
    proc = run_script(str(gpu_dir / "convert.sh"), "-i", str(tmp_path / "hf"), "-o",
                      str(tmp_path / "work"), "-cf", str(out), env={"PYTHON": "python3",
                                                                    "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["bytes"] == 1000 and summary["measurement"] == "existing"
    assert summary["head_bits"] == 6 and not (tmp_path / "work").exists()


def test_wheels_list_pins_each_package_once(gpu_dir):
    names = []
    for line in (gpu_dir / "wheels.txt").read_text().splitlines():
        spec = line.split("#")[0].strip()
        if not spec:
            continue
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][A-Za-z0-9.]*", spec), spec
        names.append(re.sub(r"[-_.]+", "-", spec.split("==")[0].lower()))
    assert len(names) == len(set(names))
    assert "exllamav2" in names and "hnswlib" in names
