"""`ragchat doctor`: works with no GPU and no model, says what is missing, never shows the token."""

from __future__ import annotations

import json

from ragchat.cli.main import main

SECRET = "hf_doctor_secret_0123456789"
QWEN = {"num_hidden_layers": 48, "hidden_size": 5120, "num_attention_heads": 40,
        "num_key_value_heads": 8, "intermediate_size": 13824, "vocab_size": 152064,
        "max_position_embeddings": 32768,
        "quantization_config": {"quant_method": "exl2", "bits": 4.25}}


def doctor(capsys, *args: str) -> tuple[int, str]:
    try:
        main(["doctor", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().out


def test_json_report_on_a_machine_without_gpu_or_models(capsys, monkeypatch, ragchat_home):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(ragchat_home / "hf"))
    monkeypatch.setenv("RAGCHAT_LLAMACPP_CTX", "4096")
    code, out = doctor(capsys, "--json")
    assert code == 0
    report = json.loads(out)
    assert set(report) >= {"ragchat", "gpu", "engines", "models", "vram", "api", "backend",
                           "collections", "settings", "problems"}
    assert report["ragchat"]["config_file"] == str(ragchat_home / "config" / "config.toml")
    assert report["settings"]["llamacpp_ctx"] == {"value": 4096,
                                                  "source": "env RAGCHAT_LLAMACPP_CTX"}
    assert report["settings"]["backend"]["source"] == "default"
    assert report["api"]["hf_token"] is False
    backend = report["backend"]
    assert backend["name"] in ("exllamav2", "llamacpp") and backend["reason"]
    assert backend["source"] == "auto"
    assert set(backend["engines_ready"]) == {"exllamav2", "llamacpp", "api"}
    assert backend["engines_ready"]["api"] == "HF_HUB_OFFLINE is set"  # as in every test
    assert report["models"]["exl2"]["found"] is False
    # the dev install has exllamav2 0.3.2 and no flash-attn: its SDPA path, with the fix
    assert report["engines"]["exllamav2"] == "0.3.2"
    assert report["engines"]["exllamav2_attention"] == "sdpa+fix"
    # llama.cpp's build and the one thing to run next
    assert "CPU" in report["engines"]["llamacpp_backends"]
    rec = report["recommendation"]
    assert set(rec) == {"backend", "preset", "command", "why", "offline"}
    if not report["gpu"]["cuda_available"] and not report["engines"]["llamacpp_gpu_offload"]:
        assert rec["backend"] == "llamacpp" and rec["preset"].endswith("-gguf")
        # offline (as every test is), the preset's file copied from elsewhere
        assert rec["command"].startswith("ragchat model use PATH/") and rec["offline"]
        assert any(rec["command"] in p for p in report["problems"])
    plan = report["vram"]
    assert plan["cache_type"] == "Q8" and plan["context"] % 256 == 0
    assert 28e9 < plan["fp16_weights_bytes"] < 32e9
    if not report["gpu"]["cuda_available"]:
        assert plan["fits"] is None
        assert any("no CUDA GPU" in p for p in report["problems"])


def test_text_report_names_choice_token_source_and_never_the_token(capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    code, out = doctor(capsys, "--api")
    assert code == 0
    assert SECRET not in out
    assert "HF token:          yes (HF_TOKEN)" in out
    assert "uses:              api" in out and "decided by:        flag" in out
    assert "config file:" in out and "VRAM" in out
    assert "attention:         PyTorch SDPA with ragchat's causal-mask fix" in out
    assert "\nrecommendation\n" in out and "run:               " in out


def test_a_downloaded_exl2_model_is_measured(capsys, ragchat_home):
    folder = ragchat_home / "data" / "models" / "bartowski--Qwen2.5-14B-Instruct-exl2--4_25"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(QWEN))
    with open(folder / "output.safetensors", "wb") as f:
        f.truncate(int(9.2e9))
    code, out = doctor(capsys, "--json")
    report = json.loads(out)
    exl2 = report["models"]["exl2"]
    assert exl2["found"] and exl2["bpw"] == 4.25 and exl2["path"] == str(folder)
    assert exl2["why"] == "the default model"
    plan = report["vram"]
    assert plan["model"] == str(folder)
    assert 7e9 < plan["weights_bytes"] < 8e9  # the files minus the embedding kept in RAM
    assert plan["need_bytes"] > plan["weights_bytes"]


def test_doctor_in_a_real_process(run_cli):
    result = run_cli("doctor", env={"HF_TOKEN": SECRET})
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "backend" in result.stdout
