"""The document benchmarks (HWP readers, Korean BM25 tokens, office ingest) run end to end on
tiny inputs and write their results files; their numbers are not checked, only their shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_scripts import run_script

pytestmark = pytest.mark.slow
HWP_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hwp"


def test_hwp_readers(tmp_path):
    result = run_script("hwp_readers.py", str(HWP_FIXTURES), "--name", "tiny", tmp_path=tmp_path)
    ours = result["readers"]["ragchat .hwp"]
    assert ours["files"] == 5 and ours["protected_files"] == 2
    assert ours["protected_reported"] == 2 and ours["unprotected_raised"] == 0
    assert result["readers"]["ragchat pairs"]["pairs"] >= 1
    assert set(result["unavailable"]) | {r.split()[0] for r in result["readers"]} >= \
        {"ragchat", "hwp-hwpx-parser", "rhwp"}


def test_korean_bm25(qa_file, tmp_path):
    result = run_script("korean_bm25.py", str(qa_file), "--chunks", "50", "--queries", "4",
                        "--name", "tiny", tmp_path=tmp_path)
    bigram = result["tokenizers"]["bigram (ragchat)"]
    assert bigram["quality"]["questions"] == 4 and bigram["latency"]["chunks"] == 50
    assert 0.0 < bigram["quality"]["recall@1"] <= bigram["quality"]["recall@5"] <= 1.0


def test_office_throughput(qa_file, tmp_path):
    result = run_script("office_throughput.py", "--korean", str(qa_file), "--files", "1",
                        "--hwp-samples", str(HWP_FIXTURES), "--name", "tiny", tmp_path=tmp_path)
    assert {"docx", "pptx", "xlsx", "hwp", "hwpx"} <= set(result["reading"])
    assert result["reading"]["hwp"]["unreadable"] == 2  # password and distribution-only
    assert result["ingest"]["chunks"] > 3 and "embed" in result["ingest"]["timings"]
