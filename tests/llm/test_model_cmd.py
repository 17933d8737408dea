"""`ragchat model pull|list|use|rm` with the real huggingface_hub download code against a tiny
hub on loopback (HF_ENDPOINT), including resume after a dropped connection."""

from __future__ import annotations

import json
import os

import pytest
from llm_http import FakeHub, free_port

from tests.helpers import cli

pytestmark = pytest.mark.usefixtures("hub_online")

REPO = "someone/Tiny-exl2"
CONFIG = {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
          "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 300,
          "quantization_config": {"quant_method": "exl2", "bits": 4.25}}
WEIGHTS = os.urandom(300_000)


def repo_files() -> dict[str, bytes]:
    return {"config.json": json.dumps(CONFIG).encode(),
            "tokenizer_config.json": b'{"eos_token": "<|im_end|>"}',
            "output.safetensors": WEIGHTS}



@pytest.fixture
def hub(monkeypatch):
    with FakeHub(REPO, "4_25", repo_files()) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def test_pull_list_use_rm(hub, capsys, ragchat_home):
    code, out, err = cli(capsys, "model", "pull", REPO, "--revision", "4_25", "-q")
    assert code == 0, err
    folder = ragchat_home / "data" / "models" / "someone--Tiny-exl2--4_25"
    assert (folder / "output.safetensors").read_bytes() == WEIGHTS
    assert json.loads((folder / "config.json").read_text()) == CONFIG
    assert "now the EXL2 model in use" in out
    gets = [r["path"] for r in hub.requests if r["method"] == "GET"]
    assert any(p.startswith(f"/api/models/{REPO}/revision/4_25") for p in gets)

    code, out, _ = cli(capsys, "model", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    tiny = rows["someone--Tiny-exl2--4_25"]
    assert tiny["kind"] == "exl2" and tiny["bpw"] == 4.25 and tiny["in_use"]
    assert tiny["size_bytes"] >= len(WEIGHTS)

    code, out, _ = cli(capsys, "model", "list")
    assert "* someone--Tiny-exl2--4_25" in out and "4.25 bpw" in out

    code, out, _ = cli(capsys, "model", "use", "Tiny-exl2")
    assert code == 0 and "exllamav2 will use" in out

    code, out, _ = cli(capsys, "model", "rm", "someone--Tiny-exl2--4_25", "--yes")
    assert code == 0 and not folder.exists()
    assert "none is chosen now" in out


def test_a_second_pull_downloads_nothing_again(hub, capsys):
    assert cli(capsys, "model", "pull", REPO, "-r", "4_25", "-q")[0] == 0
    before = sum(1 for r in hub.requests if r["method"] == "GET" and "/resolve/" in r["path"])
    assert cli(capsys, "model", "pull", REPO, "-r", "4_25", "-q")[0] == 0
    after = sum(1 for r in hub.requests if r["method"] == "GET" and "/resolve/" in r["path"])
    assert before == 3 and after == before


def test_a_dropped_connection_resumes_where_it_stopped(monkeypatch, capsys, ragchat_home):
    big = os.urandom(12 * 1024 * 1024)  # more than one 10 MB download chunk
    files = {**repo_files(), "output.safetensors": big}
    with FakeHub(REPO, "4_25", files) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub.script["output.safetensors"] = [("cut", 11 * 1024 * 1024)]
        code, _, err = cli(capsys, "model", "pull", REPO, "-r", "4_25", "-q")
    assert code == 0, err
    folder = ragchat_home / "data" / "models" / "someone--Tiny-exl2--4_25"
    assert (folder / "output.safetensors").read_bytes() == big
    ranges = [r["headers"].get("range") for r in hub.requests
              if r["method"] == "GET" and r["path"].endswith("output.safetensors")]
    assert ranges == [None, f"bytes={10 * 1024 * 1024}-"]


def test_a_failed_pull_fetches_only_what_is_missing_next_time(hub, capsys, ragchat_home):
    hub.script["output.safetensors"] = [("status", 500)]
    code, _, err = cli(capsys, "model", "pull", REPO, "-r", "4_25", "-q")
    assert code == 5 and "run the same command again to resume" in err
    first = len(hub.requests)
    code, _, err = cli(capsys, "model", "pull", REPO, "-r", "4_25", "-q")
    assert code == 0, err
    again = [r["path"] for r in hub.requests[first:] if r["method"] == "GET"
             and "/resolve/" in r["path"]]
    assert len(again) == 1 and again[0].endswith("/output.safetensors")
    folder = ragchat_home / "data" / "models" / "someone--Tiny-exl2--4_25"
    assert (folder / "output.safetensors").read_bytes() == WEIGHTS


def test_unknown_repo_and_branch(hub, capsys):
    code, _, err = cli(capsys, "model", "pull", "someone/nothing", "-q")
    assert code == 5 and "no model repository 'someone/nothing'" in err
    code, _, err = cli(capsys, "model", "pull", REPO, "--revision", "9_99", "-q")
    assert code == 5 and "no branch or tag '9_99'" in err


def test_no_network_is_a_clear_error_in_a_real_process(run_cli):
    result = run_cli("model", "pull", "-q",
                     env={"HF_ENDPOINT": f"http://127.0.0.1:{free_port()}", "HF_HUB_OFFLINE": "0",
                          "HF_HUB_ETAG_TIMEOUT": "2", "HF_HUB_DOWNLOAD_TIMEOUT": "2"})
    assert result.returncode == 5
    assert "bartowski/Qwen2.5-14B-Instruct-exl2: the Hugging Face hub is not reachable" in \
        result.stderr
    assert "Traceback" not in result.stderr


def test_list_shows_the_bundled_model_in_use(capsys, gguf_path):
    code, out, _ = cli(capsys, "model", "list", "--json")
    rows = json.loads(out)
    bundled = [r for r in rows if r["bundled"]]
    assert bundled and bundled[0]["path"] == str(gguf_path) and bundled[0]["in_use"]
    assert bundled[0]["quant"] == "Q4_1"


def test_rm_refuses_what_ragchat_did_not_download(capsys, gguf_path):
    code, _, err = cli(capsys, "model", "rm", str(gguf_path), "--yes")
    assert code == 5 and "not in the models folder" in err
    assert gguf_path.exists()


def test_use_a_gguf_file_by_path(capsys, gguf_path, ragchat_home):
    code, out, _ = cli(capsys, "model", "use", str(gguf_path))
    assert code == 0 and out.startswith("llamacpp will use")
    code, _, err = cli(capsys, "model", "use", "does-not-exist")
    assert code == 5 and "ragchat model list" in err


PRESET_REPO = "bartowski/Qwen2.5-1.5B-Instruct-GGUF"
PRESET_FILE = "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"


@pytest.fixture
def small_cpu_machine(monkeypatch):
    """A 2-core machine with 16 GB and no GPU, whatever runs the tests."""
    from ragchat import machine

    monkeypatch.setattr(machine, "cores", lambda: 2)
    monkeypatch.setattr(machine, "ram_bytes", lambda: 16 * 10**9)


def test_a_preset_is_pulled_by_name_and_put_in_use(monkeypatch, capsys, ragchat_home,
                                                   small_cpu_machine):
    weights = os.urandom(200_000)
    files = {PRESET_FILE: weights, "Qwen2.5-1.5B-Instruct-Q8_0.gguf": b"not this one",
             "README.md": b"# a model card"}
    code, out, _ = cli(capsys, "doctor", "--json")
    rec = json.loads(out)["recommendation"]
    assert rec == {"backend": "llamacpp", "preset": "qwen2.5-1.5b-gguf",
                   "command": "ragchat model pull qwen2.5-1.5b-gguf", "why": rec["why"],
                   "offline": None}
    with FakeHub(PRESET_REPO, "main", files) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        code, out, err = cli(capsys, "model", "pull", "qwen2.5-1.5b-gguf", "-q")
    assert code == 0, err
    folder = ragchat_home / "data" / "models" / "bartowski--Qwen2.5-1.5B-Instruct-GGUF--main"
    assert (folder / PRESET_FILE).read_bytes() == weights
    assert not (folder / "Qwen2.5-1.5B-Instruct-Q8_0.gguf").exists()  # only the preset's file
    assert "llamacpp uses it now" in out
    code, out, _ = cli(capsys, "model", "list", "--json")
    used = [r["name"] for r in json.loads(out) if r["in_use"]]
    assert used == [PRESET_FILE]
    code, out, _ = cli(capsys, "doctor", "--json")
    rec = json.loads(out)["recommendation"]
    assert rec["preset"] == "qwen2.5-1.5b-gguf" and rec["command"] is None  # in place


def test_a_preset_whose_file_is_gone_says_where_to_look(monkeypatch, capsys, small_cpu_machine):
    with FakeHub(PRESET_REPO, "main", {"README.md": b"renamed files"}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        code, _, err = cli(capsys, "model", "pull", "qwen2.5-1.5b-gguf", "-q")
    assert code == 5
    assert f"has no file {PRESET_FILE}" in err and "--include" in err


def test_presets_list_sizes_and_what_fits(capsys, small_cpu_machine):
    code, out, _ = cli(capsys, "model", "presets", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) >= {"qwen2.5-14b-exl2", "qwen2.5-14b-gguf", "qwen2.5-7b-gguf",
                         "qwen2.5-3b-gguf", "qwen2.5-1.5b-gguf"}
    assert rows["qwen2.5-14b-exl2"]["fits"] is False  # no NVIDIA GPU here
    assert rows["qwen2.5-7b-gguf"]["fits"] and rows["qwen2.5-7b-gguf"]["where"] == "CPU"
    assert [n for n, r in rows.items() if r["recommended"]] == ["qwen2.5-1.5b-gguf"]
    code, out, _ = cli(capsys, "model", "presets")
    assert "* qwen2.5-1.5b-gguf" in out and "ragchat model pull NAME" in out
    assert " 990 MB " in out and " 9.2 GB " in out  # sizes as a person writes them
