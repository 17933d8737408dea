"""Logit agreement metrics and the pass rules of check_logits.py."""

from __future__ import annotations

import json

import pytest
from check_logits import compare, main, passes, weights_kind, write_json

torch = pytest.importorskip("torch")


def test_identical_logits_agree_perfectly():
    ref = torch.randn(16, 100) * 3
    a = compare(ref, ref.clone())
    assert a.max_abs_diff == 0 and a.top1_agreement == 1.0
    assert a.cosine == pytest.approx(1.0, abs=1e-6) and a.kl == pytest.approx(0.0, abs=1e-6)
    assert (a.positions, a.vocab) == (16, 100)
    assert passes("fp16", a) and passes("exl2", a)


def test_noise_lowers_every_figure():
    torch.manual_seed(0)
    ref = torch.randn(64, 500) * 3
    small = compare(ref, ref + 0.01 * torch.randn_like(ref))
    large = compare(ref, ref + 3 * torch.randn_like(ref))
    assert small.cosine > 0.999 and small.top1_agreement > 0.95
    assert large.cosine < small.cosine and large.kl > small.kl
    assert large.max_abs_diff > small.max_abs_diff and large.rel_max_diff > 1
    assert passes("fp16", small) and not passes("exl2", large)


def test_padded_vocabulary_is_cut_to_the_reference():
    ref = torch.randn(4, 10)
    wider = torch.cat([ref, torch.full((4, 6), -1e4)], dim=1).half()
    assert compare(ref, wider).top1_agreement == 1.0
    with pytest.raises(ValueError, match="shapes differ"):
        compare(ref, torch.randn(5, 10))


def test_weights_kind_from_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    assert weights_kind(tmp_path) == "fp16"
    (tmp_path / "config.json").write_text(json.dumps(
        {"quantization_config": {"quant_method": "exl2", "bits": 4.25}}))
    assert weights_kind(tmp_path) == "exl2"


def test_json_is_written_atomically(tmp_path):
    path = tmp_path / "a" / "logits.json"
    write_json(path, {"results": [1]})
    assert json.loads(path.read_text()) == {"results": [1]}
    assert not list(path.parent.glob("*.tmp"))


def test_without_cuda_it_says_so(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = main(["--reference", "r.pt", "--model", "m", "--out", str(tmp_path / "o.json")])
    assert code == 2 and "CUDA" in capsys.readouterr().err


def test_reports_accumulate_in_one_file(tmp_path):
    from check_logits import read_report

    path = tmp_path / "logits.json"
    assert read_report(path) == {"results": []}
    write_json(path, {"results": [{"model": "a", "pass": True}], "device": "X"})
    assert read_report(path)["results"] == [{"model": "a", "pass": True}]
    path.write_text("[1, 2]")
    assert read_report(path) == {"results": []}
