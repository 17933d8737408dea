"""Every hint names the way that works where the user is: offline, a model copied from
elsewhere (`ragchat model use PATH`); on a machine without CUDA, never the EXL2 model."""

from __future__ import annotations

import json

import pytest

from ragchat import machine
from tests.helpers import cli

GGUF = "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"
GiB = 1024**3


@pytest.fixture
def cpu_only(monkeypatch):
    """A machine without an NVIDIA GPU, 16 GB of RAM and 4 cores, whatever runs the tests."""
    monkeypatch.setattr(machine, "gpu_info", lambda: machine.GpuInfo("2.0", None, False))
    monkeypatch.setattr(machine, "ram_bytes", lambda: 16 * GiB)
    monkeypatch.setattr(machine, "cores", lambda: 4)
    monkeypatch.setattr(machine, "build_info",
                        lambda: machine.BuildInfo("0.3", ("CPU",), False))


def test_pull_offline_names_model_use_and_where_to_get_the_file(capsys):
    code, _, err = cli(capsys, "model", "pull", "qwen2.5-1.5b-gguf")  # tests run offline
    assert code != 0 and "HF_HUB_OFFLINE" in err
    assert f"ragchat model use PATH/{GGUF}" in err
    assert f"https://huggingface.co/bartowski/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/{GGUF}" \
        in err


def test_pull_of_an_exl2_folder_offline_names_model_use_folder(capsys):
    code, _, err = cli(capsys, "model", "pull")
    assert code != 0 and "ragchat model use FOLDER" in err
    assert "bartowski/Qwen2.5-14B-Instruct-exl2, branch 4_25" in err


def test_pull_when_the_hub_is_not_reachable_names_model_use(capsys, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    code, _, err = cli(capsys, "model", "pull", "qwen2.5-1.5b-gguf")
    assert code != 0 and "not reachable" in err
    assert f"ragchat model use PATH/{GGUF}" in err


def doctor_report(capsys) -> dict:
    code, out, err = cli(capsys, "doctor", "--json")
    assert code == 0, err
    return json.loads(out)


def test_doctor_without_cuda_never_suggests_the_exl2_model(capsys, monkeypatch, cpu_only):
    monkeypatch.delenv("HF_HUB_OFFLINE")  # online: pulling the GGUF preset works
    report = doctor_report(capsys)
    problems = "\n".join(report["problems"])
    assert "exl2" not in problems.lower() or "EXL2 backend does not run here" in problems
    assert "ragchat model pull`" not in problems and "14b" not in problems.lower()
    assert "`ragchat model pull qwen2.5-1.5b-gguf`" in problems
    assert "model pull" not in report["models"]["exl2"]["why"]
    code, out, _ = cli(capsys, "doctor")
    assert "qwen2.5-14b-exl2" not in out and "ragchat model pull qwen2.5-1.5b-gguf" in out


def test_doctor_offline_suggests_model_use_with_where_to_get_it(capsys, cpu_only):
    report = doctor_report(capsys)  # HF_HUB_OFFLINE is set in every test
    rec = report["recommendation"]
    assert rec["command"] == f"ragchat model use PATH/{GGUF}"
    assert "HF_HUB_OFFLINE" in rec["offline"] and "huggingface.co" in rec["offline"]
    problems = "\n".join(report["problems"])
    assert f"`ragchat model use PATH/{GGUF}`" in problems and "model pull" not in problems


def test_the_demo_models_notice_names_model_use_offline(capsys, cpu_only, monkeypatch):
    """The caveat under every answer of the demo model points at the same command."""
    from ragchat.cli.options import caveat_notice
    from ragchat.config import load_settings

    settings = load_settings()
    assert f"`ragchat model use PATH/{GGUF}`" in caveat_notice("Demo.", settings)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert "`ragchat model pull qwen2.5-1.5b-gguf`" in caveat_notice("Demo.", settings)
