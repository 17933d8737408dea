"""The status text and steps.json that run_all.sh returns after each call."""

from __future__ import annotations

import json
import time

from summary import main, summarise


def work_dir(tmp_path, finished: bool, failed: bool = False):
    work = tmp_path / "work"
    (work / "state").mkdir(parents=True)
    (work / "results").mkdir()
    now = time.time()
    lines = [{"step": "env", "status": "ok", "seconds": 3, "started": now - 100, "note": ""},
             {"step": "build", "status": "fail" if failed else "ok", "seconds": 250,
              "started": now - 90, "note": "exit 1" if failed else ""}]
    (work / "steps.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    (work / "state" / "convert_small.running").write_text(str(now - 30))
    if finished:
        (work / "state" / "ALL.done").touch()
    (work / "build.json").write_text(json.dumps(
        {"ok": True, "how": "jit", "build_s": 250.0, "torch": "2.11", "cuda": "13.0",
         "arch": "9.0", "imports_as": "exllamav2 0.3.2"}))
    (work / "results" / "gpu-h100-sxm-2026-11-20.json").write_text(json.dumps(
        {"device": "NVIDIA H100 80GB HBM3", "models": {"small": {
            "model": {"shape": {"num_hidden_layers": 24}},
            "decode": {"short": {"decode_tps": 321.5}},
            "bound": {"decode_bound_tps": {"short": 4000.0}, "efficiency": {"short": 0.08}},
            "batch": {"available": False, "reason": "no flash-attn"}}}}))
    (work / "logits.json").write_text(json.dumps({"results": [
        {"model": "/m/small-fp16", "kind": "fp16", "cosine": 0.99999, "top1_agreement": 1.0,
         "max_abs_diff": 0.01, "kl": 1e-6, "pass": True},
        {"model": "/m/big-exl2", "error": "RuntimeError: boom", "pass": False}]}))
    (work / "e2e.json").write_text(json.dumps({"steps": [
        {"command": "ragchat ask x --json", "seconds": 9.5, "pass": False, "stderr_tail": "Trace"}]}))
    return work


def test_running_pipeline(tmp_path):
    text, report = summarise(work_dir(tmp_path, finished=False))
    assert text.splitlines()[-1].startswith("STATUS: RUNNING")
    assert [s["step"] for s in report["steps"]] == ["env", "build", "convert_small"]
    assert report["steps"][2]["status"] == "running"
    assert "decode tok/s short" in text and "321.5" in text and "n/a: no flash-attn" in text
    assert "jit in 250.0 s" in text and "FAIL /m/big-exl2: RuntimeError: boom" in text
    assert "FAIL    9.5s  ragchat ask x --json" in text


def test_finished_pipeline(tmp_path):
    text, report = summarise(work_dir(tmp_path, finished=True))
    assert report["status"] == "DONE" and text.endswith("STATUS: DONE")
    text, report = summarise(work_dir(tmp_path / "b", finished=True, failed=True))
    assert report["status"] == "FAILED (build)"


def test_empty_work_folder_and_json_file(tmp_path, capsys):
    (tmp_path / "w").mkdir()
    out = tmp_path / "steps.json"
    assert main([str(tmp_path / "w"), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["status"].startswith("RUNNING")
    assert "STATUS:" in capsys.readouterr().out
