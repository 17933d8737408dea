"""The one-call GPU check's control flow on the CPU, with stand-in steps: order, background
steps, time boxes, dependencies, the overall budget, and results written after every step."""

from __future__ import annotations

import json
import os
import select
import sys
import time
from pathlib import Path

from check import HEADLINE, Runner, Step, headline, main, parse_args, plan
from common import HEADER

PY = sys.executable


def py(code: str) -> list[str]:
    return [PY, "-c", code]


def runner(tmp_path: Path, budget: float = 60) -> Runner:
    out = tmp_path / "out"
    out.mkdir()
    results = {"day": "2026-11-30", "gpu": "NVIDIA H200"}
    return Runner(out, tmp_path / "work", time.monotonic() + budget, results)


def results_file(run: Runner) -> dict:
    return json.loads((run.out / "gpu-h200-2026-11-30.json").read_text())


def test_steps_run_in_order_and_the_results_are_written_after_each(tmp_path):
    run = runner(tmp_path)
    seen = run.out / "gpu-h200-2026-11-30.json"
    # the second step checks that the first one's status is already in the file
    check = (f"import json,sys; d=json.load(open({str(seen)!r})); "
             "sys.exit(0 if d['steps']['first']['status']=='ok' else 3)")
    report = tmp_path / "first.json"
    run.run([Step("first", py(f"open({str(report)!r},'w').write('{{\"x\": 1}}')"), 30,
                  report=report),
             Step("second", py(check), 30, needs=("first",))])
    data = results_file(run)
    assert data["steps"]["first"]["status"] == "ok" and data["steps"]["second"]["status"] == "ok"
    assert data["first"] == {"x": 1}  # the step's own report is kept
    # the header of every results file (common.save_results), then the headline
    assert list(data)[: len(HEADER) + len(HEADLINE)] == [*HEADER, *HEADLINE]
    assert data["machine"]["cpus"] and data["date"].startswith("20")
    assert (run.out / "logs.tgz").is_file()


def test_a_failed_step_skips_what_needs_it_and_the_rest_still_runs(tmp_path):
    run = runner(tmp_path)
    run.run([Step("build", py("import sys; print('compiler error'); sys.exit(2)"), 30),
             Step("convert", py("pass"), 30, needs=("build",)),
             Step("independent", py("pass"), 30)])
    steps = results_file(run)["steps"]
    assert steps["build"]["status"] == "failed" and "exit 2" in steps["build"]["note"]
    assert steps["convert"] == {"status": "skipped", "seconds": 0.0, "note": "needs build"}
    assert steps["independent"]["status"] == "ok"
    assert "compiler error" in (run.logs / "build.log").read_text()


def test_a_step_over_its_time_box_is_stopped_with_its_children(tmp_path):
    run = runner(tmp_path)
    # the step's child holds a FIFO open for writing: when the child is gone (killed with
    # the step's process group), the reader here sees the end of it
    fifo, opened = tmp_path / "child-alive", tmp_path / "child-opened"
    os.mkfifo(fifo)
    child = (f"import time; f = open({str(fifo)!r}, 'w'); open({str(opened)!r}, 'w').close(); "
             "time.sleep(600)")
    code = (f"import subprocess,sys,time; subprocess.Popen([sys.executable,'-c',{child!r}]); "
            "time.sleep(600)")
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        run.run([Step("slow", py(code), 2)])
        assert results_file(run)["steps"]["slow"]["status"] == "timeout"
        if opened.exists():  # else the child was killed before it opened the FIFO
            os.set_blocking(reader, True)
            ready, _, _ = select.select([reader], [], [], 120)  # a hang guard, no time limit
            assert ready and os.read(reader, 1) == b"", "the step's child outlived it"
    finally:
        os.close(reader)


def barrier(mine: Path, other: Path, done: Path) -> list[str]:
    """A step that marks its arrival, waits until `other` has arrived (it fails after 60 s
    if `other` never does, as when the two run one after the other), then lingers a second
    and marks itself done."""
    return py(f"import os,sys,time; open({str(mine)!r},'w').close(); t=time.monotonic()+60\n"
              f"while not os.path.exists({str(other)!r}):\n"
              "    if time.monotonic() > t: sys.exit(5)\n"
              "    time.sleep(0.01)\n"
              f"time.sleep(1); open({str(done)!r},'w').close()")


def test_a_background_step_overlaps_the_next_and_is_awaited_by_what_needs_it(tmp_path):
    run = runner(tmp_path, budget=300)
    build, model = tmp_path / "build-started", tmp_path / "model-started"
    build_done = tmp_path / "build-done"
    # each of build and model waits for the other to start: both finish only if they ran
    # at the same time; convert, which needs both, checks that build had finished
    run.run([Step("build", barrier(build, model, build_done), 120, background=True),
             Step("model", barrier(model, build, tmp_path / "model-done"), 120),
             Step("convert", py(f"import os,sys; sys.exit(0 if os.path.exists({str(build_done)!r}) else 4)"),
                  30, needs=("build", "model"))])
    steps = results_file(run)["steps"]
    assert [steps[name]["status"] for name in ("build", "model", "convert")] == ["ok"] * 3


def test_steps_that_cannot_fit_in_the_budget_are_skipped_not_started(tmp_path):
    run = runner(tmp_path, budget=12)
    run.run([Step("first", py("import time; time.sleep(1)"), 30, min_s=1),
             Step("needs_a_minute", py("pass"), 120, min_s=60)])
    steps = results_file(run)["steps"]
    assert steps["first"]["status"] == "ok"
    assert steps["needs_a_minute"]["status"] == "skipped"
    assert steps["needs_a_minute"]["note"].startswith("out of time")


def test_the_budget_cuts_a_step_short_of_its_own_time_box(tmp_path):
    run = runner(tmp_path, budget=8)
    # within its own time box (300 s) the step would finish (after 60 s) and be "ok"
    run.run([Step("long", py("import time; time.sleep(60)"), 300, min_s=1)])
    assert results_file(run)["steps"]["long"]["status"] == "timeout"


def test_headline_reads_the_reports():
    fixed = {"with_fix": {"pass": True}, "as_installed": {"pass": False}}
    results = {
        "env": {"gpu": "NVIDIA H200"}, "build": {"build_s": 201.5},
        "logits": {"results": [fixed]}, "logits_exl2": {"results": [fixed]},
        "measure": {"engine": "exllamav2 0.3.2", "attention_path": "sdpa+fix",
                    "decode": {"short": {"decode_tps": 310.0}},
                    "prefill": {"2k": {"prefill_tps": 21000.0}, "8k": {"prefill_tps": 19000.0}},
                    "bound": {"tokens_per_s": 15000.0, "decode_share_of_bound": 0.02},
                    "cache": {"turn3_cached_share": 0.97, "turn3_ttft_cold_over_warm": 6.5},
                    "ngram": {"speedup": 1.8, "same_output": True}},
    }
    got = headline(results)
    assert got == {"gpu": "NVIDIA H200", "engine": "exllamav2 0.3.2",
                   "attention_path": "sdpa+fix", "build_s": 201.5, "decode_tps": 310.0,
                   "prefill_tps": {"2k": 21000.0, "8k": 19000.0},
                   "bandwidth_bound_tps": 15000.0, "decode_share_of_bound": 0.02,
                   "turn3_cached_share": 0.97, "turn3_ttft_cold_over_warm": 6.5,
                   "ngram_speedup": 1.8, "ngram_same_output": True,
                   "logits_pass": True, "logits_pass_as_installed": False}
    assert headline({})["logits_pass"] is None  # nothing measured is not a pass


def test_the_plan(tmp_path):
    steps = plan(parse_args(["--out", str(tmp_path), "--wheels", str(tmp_path)]), tmp_path)
    names = [s.name for s in steps]
    assert names == ["env", "install", "build", "model", "logits", "convert", "measure",
                     "logits_exl2", "pytest"]
    by_name = {s.name: s for s in steps}
    assert by_name["build"].background and by_name["build"].needs == ("install",)
    assert by_name["convert"].needs == ("build", "model")
    assert by_name["measure"].needs == ("build", "convert")
    assert "-l" in by_name["convert"].argv or "convert" in by_name["convert"].argv
    assert by_name["pytest"].env["EXL2_TEST_MODEL"].endswith("exl2")
    assert all(s.env["HF_HUB_OFFLINE"] == "1" for s in steps)
    for step in steps:  # every script a step runs is in the repository
        scripts = [a for a in step.argv if a.endswith(".py")]
        assert all(Path(a).is_file() for a in scripts), step.name
    assert sum(s.cap_s for s in steps if not s.background) > 560  # the budget decides
    real = plan(parse_args(["--out", str(tmp_path), "--model", "/models/Qwen2.5-14B-exl2"]),
                tmp_path)
    assert [s.name for s in real] == ["env", "build", "measure", "pytest"]
    assert "/models/Qwen2.5-14B-exl2" in real[2].argv


def test_the_command_runs_its_plan_within_the_budget(tmp_path, monkeypatch):
    """The whole command with every step replaced by a stand-in (no GPU here)."""
    import check

    def fake_plan(args, work):
        report = work / "measure.json"
        data = {"engine": "exllamav2 0.3.2", "decode": {"short": {"decode_tps": 99.0}}}
        return [Step("env", py("pass"), 10),
                Step("measure", py(f"import json; json.dump({data!r}, open({str(report)!r}, 'w'))"),
                     10, report=report, min_s=1)]

    monkeypatch.setattr(check, "plan", fake_plan)
    out = tmp_path / "out"
    assert main(["--out", str(out), "--budget", "30", "--work", str(tmp_path / "w")]) == 0
    written = list(out.glob("gpu-*.json"))
    assert len(written) == 1 and written[0].name.startswith("gpu-unknown-")
    data = json.loads(written[0].read_text())
    assert data["decode_tps"] == 99.0 and data["engine"] == "exllamav2 0.3.2"


def test_help_explains_the_steps():
    import subprocess

    proc = subprocess.run([PY, "benchmarks/gpu/check.py", "--help"], capture_output=True,
                          text=True, cwd=str(Path(__file__).resolve().parents[2]))
    assert proc.returncode == 0
    for word in ("--budget", "--wheels", "--model", "logits", "convert", "pytest"):
        assert word in proc.stdout
