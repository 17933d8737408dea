"""The GPU check's parts that need no GPU: the test model (tokenizer, weights, reference
logits) read by exllamav2's own code and by ragchat, the converter's options, the build
environment, the logits comparison, and the 3-turn conversation on the embedded CPU model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
STUB = ("import importlib.machinery as m, sys, types\n"
        "module = sys.modules['exllamav2_ext'] = types.ModuleType('exllamav2_ext')\n"
        "module.__spec__ = m.ModuleSpec('exllamav2_ext', None)  # no CUDA build here\n")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    from testmodel import main

    folder = tmp_path_factory.mktemp("testmodel")
    model, ref = folder / "fp16", folder / "ref.pt"
    assert main(["--out", str(model), "--reference", str(ref), "--shape", "tiny",
                 "--device", "cpu"]) == 0
    return model, ref


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", STUB + code, *args], capture_output=True,
                          text=True, timeout=300, cwd=str(REPO))


def test_exllamav2_reads_the_test_model(tiny_model):
    model, _ = tiny_model
    code = ("import json, sys\n"
            "from exllamav2 import ExLlamaV2Config, ExLlamaV2Tokenizer\n"
            "config = ExLlamaV2Config(sys.argv[1]); config.arch_compat_overrides(quiet=True)\n"
            "tok = ExLlamaV2Tokenizer(config)\n"
            "ids = tok.encode('<|im_start|>user\\nHello world<|im_end|>', add_bos=False,\n"
            "                 encode_special_tokens=True)[0].tolist()\n"
            "print(json.dumps({'rope': config.rotary_embedding_base, 'window': config.sliding_window,\n"
            "  'vocab': config.vocab_size, 'eos': tok.eos_token_id, 'im_end': tok.single_id('<|im_end|>'),\n"
            "  'ids': ids, 'end_piece': tok.get_id_to_piece_list(False)[tok.single_id('<|im_end|>')]}))\n")
    proc = run_python(code, str(model))
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["rope"] == 1e6 and seen["window"] == 0  # not exllamav2's silent defaults
    assert seen["vocab"] >= 8192
    assert seen["eos"] == seen["im_end"] == seen["ids"][-1]  # ChatML's end is the stop token
    assert seen["end_piece"] == ""  # ...and streams no text


def test_ragchat_renders_the_test_models_template(tiny_model):
    from ragchat.llm.exl2 import load_template

    text = load_template(tiny_model[0]).render([{"role": "user", "content": "Hi"}])
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_the_reference_is_a_transformers_forward_pass(tiny_model):
    from transformers import AutoModelForCausalLM

    model_dir, ref_path = tiny_model
    ref = torch.load(str(ref_path))
    assert ref["logits"].shape == (len(ref["input_ids"]), 8192) and len(ref["input_ids"]) == 256
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    with torch.no_grad():
        again = model(input_ids=ref["input_ids"][None]).logits[0]
    from measure import agreement

    assert agreement(ref["logits"], again)["cosine"] > 0.999  # saved fp16, compared fp32


def test_the_converter_takes_the_options_the_check_passes():
    from check import convert

    code = ("import runpy, sys, types\n"
            "sys.argv = ['convert_exl2', '--help']\n"
            "runpy.run_module('exllamav2.conversion.convert_exl2', run_name='__main__')\n")
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import inspect

    source = inspect.getsource(convert)
    for option in ("-i", "-o", "-cf", "-b", "-hb", "-l", "-ml"):
        assert f'"{option}"' in source
        assert f"  {option} " in proc.stdout, option


def test_logits_agreement_catches_a_missing_causal_mask():
    from measure import agreement, passes

    gen = torch.Generator().manual_seed(0)
    ref = torch.randn(64, 500, generator=gen) * 3
    assert passes("fp16", agreement(ref, ref + 0.001 * torch.randn(64, 500, generator=gen)))
    # positions that saw later tokens get other logits: most of the sequence disagrees
    broken = ref.clone()
    broken[:-1] = torch.randn(63, 500, generator=gen) * 3
    result = agreement(ref, broken)
    assert not passes("fp16", result) and not passes("exl2", result)
    assert result["top1"] < 0.1


def test_weights_kind(tmp_path):
    from measure import weights_kind

    (tmp_path / "config.json").write_text(json.dumps(
        {"quantization_config": {"quant_method": "exl2", "bits": 4.25}}))
    assert weights_kind(tmp_path) == "exl2"
    (tmp_path / "config.json").write_text(json.dumps({"torch_dtype": "float16"}))
    assert weights_kind(tmp_path) == "fp16"


def test_a_failing_section_is_written_and_the_next_one_runs(tmp_path):
    from common import HEADER
    from measure import Report

    report = Report(tmp_path / "r.json", gpu="x")
    report.section("broken", lambda: 1 / 0)
    report.section("fine", lambda: {"tps": 5})
    data = json.loads((tmp_path / "r.json").read_text())
    assert list(data)[:len(HEADER)] == list(HEADER)  # written by common.save_results
    assert {k: v for k, v in data.items() if k not in HEADER} == {
        "gpu": "x", "broken": {"error": "ZeroDivisionError: division by zero"},
        "fine": {"tps": 5}}


def test_cuda_headers_from_the_nvidia_wheels_when_cuda_home_lacks_them(tmp_path):
    from check import build_env, cuda_include_path

    home = tmp_path / "cuda"
    (home / "include").mkdir(parents=True)
    (home / "include" / "cuda_runtime.h").write_text("")
    site = tmp_path / "site-packages"
    for lib, header in (("cublas", "cublas_v2.h"), ("cusparse", "cusparse.h"),
                        ("cusolver", "cusolverDn.h"), ("curand", "curand_kernel.h")):
        (site / "nvidia" / lib / "include").mkdir(parents=True)
        (site / "nvidia" / lib / "include" / header).write_text("")
    merged = Path(cuda_include_path(tmp_path / "work", home, [site]))
    assert {p.name for p in merged.iterdir()} == {"cublas_v2.h", "cusparse.h", "cusolverDn.h",
                                                   "curand_kernel.h"}
    for header in ("cublas_v2.h", "cusparse.h", "cusolverDn.h", "curand_kernel.h"):
        (home / "include" / header).write_text("")
    assert cuda_include_path(tmp_path / "work2", home, [site]) is None  # all there already
    env = build_env(tmp_path, {"TORCH_CUDA_ARCH_LIST": "9.0", "CUDA_HOME": str(home)}, [site])
    assert env["TORCH_CUDA_ARCH_LIST"] == "9.0" and int(env["MAX_JOBS"]) >= 1


def test_every_step_gets_the_same_build_environment(tmp_path):
    """torch's JIT writes these into the ninja file: a step with other values would rebuild."""
    from check import BUILD_VARS, parse_args, plan

    steps = plan(parse_args(["--out", str(tmp_path)]), tmp_path)
    values = {tuple(step.env.get(k) for k in BUILD_VARS) for step in steps}
    assert len(values) == 1 and next(iter(values))[3] == str(tmp_path / "torch_extensions")


def test_the_conversation_measure_runs_on_the_embedded_model(tmp_path):
    """The 3-turn measurement of the check, on llama.cpp with the bundled model: its prompts
    (LLM rewrite and grading, as for ExLlamaV2) reach issue 10's target of 0.9 on an engine
    that, like ExLlamaV2 without flash-attn paging, reuses the previous prompt's prefix. The
    demo model's grades are unreadable, as a random-weight model's will be on the GPU."""
    pytest.importorskip("llama_cpp")
    from measure import conversation_table, main

    out = tmp_path / "conversation.json"
    assert main(["conversation", "--out", str(out)]) == 0  # the bundled demo model
    result = json.loads(out.read_text(encoding="utf-8"))["cache"]
    assert len(result["turns"]) == 3
    shares = [turn["cached_share"] for turn in result["turns"]]
    assert shares[2] == result["turn3_cached_share"] and 0.9 <= shares[2] <= 1.0
    assert shares[2] > shares[0]  # later turns find the conversation in the cache
    cold = [turn["cached_share"] for turn in result["cold_turns"]]
    assert max(cold) < 0.1  # emptied before every call: (almost) nothing from the cache
    assert result["turn3_ttft_cold_over_warm"] is not None  # a ratio of times: not judged
    sys.path.insert(0, str(REPO / "benchmarks"))  # the docs' table of it
    try:
        last = conversation_table([out]).splitlines()[-1]
        assert f"| {shares[2]:.2f} | " in last and not last.endswith("| - |")
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
