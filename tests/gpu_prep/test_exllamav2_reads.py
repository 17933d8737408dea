"""ExLlamaV2 0.3.2's own readers (config.json, tokenizer) on a test model, on the CPU.

The exllamav2 wheel from .whl (benchmarks/gpu/fetch_wheels.sh) is imported in a subprocess
with its CUDA extension replaced by an empty module: its config and tokenizer code are pure
Python. The real extension is built and used on the GPU machine (run_all.sh)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest
from tests.gpu_prep.conftest import REPO

WHEEL = REPO / ".whl" / "exllamav2-0.3.2-py3-none-any.whl"

PROBE = r"""
import json, sys, types
sys.path.insert(0, sys.argv[1])
sys.modules["exllamav2_ext"] = types.ModuleType("exllamav2_ext")  # no CUDA build here
from exllamav2 import ExLlamaV2Config, ExLlamaV2Tokenizer
config = ExLlamaV2Config(sys.argv[2])
config.arch_compat_overrides(quiet=True)
tok = ExLlamaV2Tokenizer(config)
ids = tok.encode("<|im_start|>user\nHello world<|im_end|>", add_bos=False,
                 encode_special_tokens=True)[0].tolist()
print(json.dumps({"rope": config.rotary_embedding_base, "window": config.sliding_window,
                  "vocab": config.vocab_size, "head_dim": config.head_dim,
                  "eos": tok.eos_token_id, "im_end": tok.single_id("<|im_end|>"),
                  "actual_vocab": tok.actual_vocab_size, "ids": ids,
                  "text": tok.decode(__import__("torch").tensor(ids))}))
"""


@pytest.fixture(scope="module")
def exllamav2_src(tmp_path_factory):
    if not WHEEL.is_file():
        pytest.skip("exllamav2's wheel is not in .whl (run benchmarks/gpu/fetch_wheels.sh)")
    target = tmp_path_factory.mktemp("exllamav2")
    with zipfile.ZipFile(WHEEL) as wheel:
        wheel.extractall(target)
    return target


def probe(src, model_dir) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, str(src), str(model_dir)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_exllamav2_reads_the_test_model(exllamav2_src, tokenizer_dir, tmp_path):
    from make_test_model import main

    out = tmp_path / "tiny"
    assert main(["model", "--preset", "tiny", "--tokenizer", str(tokenizer_dir),
                 "--out", str(out)]) == 0
    seen = probe(exllamav2_src, out)
    assert seen["rope"] == 1e6 and seen["window"] == 0
    assert (seen["vocab"], seen["head_dim"], seen["actual_vocab"]) == (49152, 32, 49152)
    assert seen["eos"] == seen["im_end"] == seen["ids"][-1]
    assert "Hello world" in seen["text"]

    # without compat_config, ExLlamaV2 would silently use RoPE base 10000
    config = json.loads((out / "config.json").read_text())
    del config["rope_theta"]
    (out / "config.json").write_text(json.dumps(config))
    assert probe(exllamav2_src, out)["rope"] == 10000.0


def test_converter_takes_the_options_convert_sh_passes(exllamav2_src, gpu_dir):
    """Its --help (pandas and fastparquet, only used to read calibration files, stubbed too)."""
    stub = ("import importlib.machinery as m, runpy, sys, types\n"
            "sys.path.insert(0, sys.argv.pop(1))\n"
            "for name in ('exllamav2_ext', 'pandas', 'fastparquet'):\n"
            "    module = sys.modules[name] = types.ModuleType(name)\n"
            "    module.__spec__ = m.ModuleSpec(name, None)\n"
            "runpy.run_module('exllamav2.conversion.convert_exl2', run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", stub, str(exllamav2_src), "--help"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    script = (gpu_dir / "convert.sh").read_text()
    for option in ("-i", "-o", "-cf", "-b", "-hb", "-r", "-l", "-mr", "-ml", "-m", "-om"):
        assert f" {option} " in script or f" {option}\n" in script
        assert f"  {option} " in proc.stdout or f" {option}," in proc.stdout, option
