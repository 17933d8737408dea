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


def test_dirty_means_changed_code_not_results_written_by_earlier_runs(tmp_path):
    import subprocess

    from common import git_dirty

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "x.json").write_text("{}\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "t")
    assert git_dirty(tmp_path) is False
    (tmp_path / "benchmarks" / "results" / "x.json").write_text('{"run": 2}\n')
    assert git_dirty(tmp_path) is False  # a results file the previous run wrote
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_dirty(tmp_path) is True
    assert git_dirty(tmp_path / "benchmarks") is True  # the whole checkout, from anywhere in it
