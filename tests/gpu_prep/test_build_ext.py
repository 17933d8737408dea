"""Reusing a built exllamav2 extension only where torch, CUDA, Python and GPU match."""

from __future__ import annotations

import json

import pytest
from build_ext import extension_filename, main, matches, use_prebuilt

CURRENT = {"torch": "2.11.0+cu130", "cuda": "13.0", "arch": "9.0",
           "python": "cpython-312-x86_64-linux-gnu", "exllamav2": "0.3.2"}


def test_match_needs_every_field():
    assert matches(dict(CURRENT, extra="x"), CURRENT)
    assert not matches(dict(CURRENT, arch="8.9"), CURRENT)
    assert not matches({}, CURRENT)


def test_prebuilt_is_copied_only_when_it_matches(tmp_path):
    so = tmp_path / "exllamav2_ext.so"
    site = tmp_path / "site"
    assert not use_prebuilt(so, site, CURRENT)  # nothing there
    so.write_bytes(b"\x7fELF")
    assert not use_prebuilt(so, site, CURRENT)  # no .json beside it
    so.with_suffix(".json").write_text(json.dumps(dict(CURRENT, torch="2.10.0")))
    assert not use_prebuilt(so, site, CURRENT) and not site.exists()
    so.with_suffix(".json").write_text(json.dumps(CURRENT))
    assert use_prebuilt(so, site, CURRENT)
    assert (site / extension_filename()).read_bytes() == b"\x7fELF"
    assert extension_filename().startswith("exllamav2_ext") and extension_filename().endswith(".so")


def test_without_cuda_the_report_says_so(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    report = tmp_path / "build.json"
    assert main(["--site", str(tmp_path / "site"), "--report", str(report)]) == 1
    assert json.loads(report.read_text()) == {"ok": False, "error": "no CUDA device visible to torch"}
