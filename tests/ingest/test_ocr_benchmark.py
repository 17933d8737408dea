"""benchmarks/ocr_accuracy.py runs end to end on one small page and writes its results file;
its numbers are not checked, only their shape (the docs' tables come from its --table mode)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ingest.test_pdf_pages import require_tesseract

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ocr_accuracy.py"


def test_ocr_accuracy_benchmark_on_an_english_memo(tmp_path):
    require_tesseract()
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--languages", "eng", "--layouts", "memo",
                           "--dpi", "150", "--name", "tiny", "--out-dir", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [path] = out.glob("ocr-accuracy-tiny.json")
    result = json.loads(path.read_text(encoding="utf-8"))
    [page] = result["pages"]
    assert page["layout"] == "memo" and page["truth"].startswith("Meeting notice")
    assert set(page["variants"]) == {"psm 3 (before)", "rule (after)", "psm 6", "psm 4"}
    for variant in page["variants"].values():
        assert 0.9 < variant["accuracy"] <= 1.0 and variant["runs"]  # a clean English memo
    assert [r["psm"] for r in page["variants"]["psm 6"]["runs"]] == [6]
    table = subprocess.run([sys.executable, str(SCRIPT), "--table", str(path)],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    assert table.startswith("| layout | language | scan dpi |") and "| memo | eng | 150 |" in table
