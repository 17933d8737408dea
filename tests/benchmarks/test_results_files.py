"""benchmarks/common.py's save_results: the one way a benchmark writes a results file."""

from __future__ import annotations

import json

import pytest
from common import HEADER, REPO_DIR, save_results


def test_every_results_file_starts_with_the_same_header(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", [str(REPO_DIR / "benchmarks" / "x.py"), "--qa",
                                     str(tmp_path / "qa.jsonl"), "-k", "5"])
    path = save_results("x-test", {"recall": 0.5}, tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert path == tmp_path / "x-test.json" and list(tmp_path.iterdir()) == [path]
    assert list(data) == [*HEADER, "recall"]
    assert data["command"] == "benchmarks/x.py --qa qa.jsonl -k 5"  # no path of this machine
    assert isinstance(data["dirty"], bool) and data["machine"]["cpus"] >= 1
    assert "load_average_1m" in data["machine"]


def test_a_payload_may_not_overwrite_the_header(tmp_path):
    with pytest.raises(ValueError, match="commit"):
        save_results("x-test", {"commit": "abc"}, tmp_path)
    assert not list(tmp_path.iterdir())
