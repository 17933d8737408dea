"""run_all.sh's control flow on a machine without a GPU: its lanes, markers, attaching to a
running pipeline, and what it copies back, with quick stand-ins for the GPU steps
(fake_steps.sh); and the real steps failing cleanly where no CUDA machine is at hand."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from tests.gpu_prep.conftest import run_script

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.slow


def env(tmp_path: Path, fake: bool, **extra: str) -> dict:
    values = dict(os.environ, GPU_WORK=str(tmp_path / "work"), OUT=str(tmp_path / "out"),
                  GPU_SITE=str(tmp_path / "site"), PYTHON=sys.executable, RUN_ALL_POLL="0.2",
                  **extra)
    if fake:
        values["RUN_ALL_STEPS"] = str(HERE / "fake_steps.sh")
    return values


def steps(tmp_path: Path) -> dict[str, dict]:
    lines = (tmp_path / "work" / "steps.jsonl").read_text().splitlines()
    return {entry["step"]: entry for entry in map(json.loads, lines)}


def test_fake_pipeline_runs_every_step_in_lane_order(tmp_path, gpu_dir):
    proc = run_script(str(gpu_dir / "run_all.sh"), "--wait", "120", env=env(tmp_path, True))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("STATUS: FAILED (logits_big)")  # the stand-in fails it
    done = steps(tmp_path)
    assert {k for k, v in done.items() if v["status"] == "ok"} == {
        "env", "install", "build", "make_small", "make_embedder", "make_big_l2", "make_big",
        "convert_small", "measure_small", "logits_small", "pytest_gpu", "e2e", "convert_big",
        "measure_big", "bench_cli"}
    measured = done["measure_small"]
    assert done["convert_big"]["started"] >= measured["started"] + measured["seconds"]
    out = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert out == ["e2e.json", "gpu-unknown.json", "logits.json", "logs.tgz", "steps.json"]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in out)
    report = json.loads((tmp_path / "out" / "steps.json").read_text())
    assert report["status"] == "FAILED (logits_big)"
    assert "decode tok/s short" in proc.stdout


def test_a_second_call_attaches_to_the_running_pipeline(tmp_path, gpu_dir):
    slow = env(tmp_path, True, STEP_SLEEP="1")
    first = run_script(str(gpu_dir / "run_all.sh"), "--wait", "1", env=slow)
    assert "starting the pipeline" in first.stdout
    assert first.stdout.strip().endswith("STATUS: RUNNING (call run_all.sh again to wait for the rest)")
    second = run_script(str(gpu_dir / "run_all.sh"), "--wait", "120", env=slow)
    assert "attaching to the pipeline" in second.stdout
    assert "STATUS: FAILED (logits_big)" in second.stdout
    lines = (tmp_path / "work" / "steps.jsonl").read_text().splitlines()
    assert len(lines) == len(steps(tmp_path))  # every step ran once
    third = run_script(str(gpu_dir / "run_all.sh"), "--retry", "--wait", "120", env=slow)
    assert "starting the pipeline" in third.stdout
    assert steps(tmp_path)["logits_big"]["status"] == "fail"
    assert len((tmp_path / "work" / "steps.jsonl").read_text().splitlines()) == len(lines) + 1


def test_without_the_big_model(tmp_path, gpu_dir):
    proc = run_script(str(gpu_dir / "run_all.sh"), "--no-big", "--wait", "120",
                      env=env(tmp_path, True))
    assert proc.stdout.strip().endswith("STATUS: DONE")
    assert not {"make_big", "convert_big", "measure_big", "logits_big"} & set(steps(tmp_path))


def test_real_steps_fail_cleanly_without_a_gpu(tmp_path, gpu_dir):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: run_all.sh would really run")
    proc = run_script(str(gpu_dir / "run_all.sh"), "--wait", "300", env=env(tmp_path, False))
    assert proc.returncode == 0
    assert "STATUS: FAILED" in proc.stdout
    done = steps(tmp_path)
    assert done["env"]["status"] == "ok"
    assert any(v["status"] == "fail" for v in done.values())
    assert (tmp_path / "out" / "steps.json").is_file() and (tmp_path / "out" / "logs.tgz").is_file()
