"""A reader that goes away (`ragchat search q | head -1`) ends ragchat quietly with exit 0:
real processes writing into a real pipe whose reading end is closed early."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import cli

FAKE_RAGCHAT = Path(__file__).resolve().parents[1] / "cli_ask" / "fake_ragchat.py"


def closed_early(argv: list[str], *, read_first_line: bool, input: str = "",
                 cwd: Path | None = None) -> tuple[int, str]:
    """Run `argv` with stdout a pipe that is closed at once, or after its first line (as
    `head -1` does); (exit code, stderr)."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(input)  # small: fits in the pipe at once
    proc.stdin.close()
    if read_first_line:
        proc.stdout.readline()
    proc.stdout.close()
    try:
        return proc.wait(timeout=120), proc.stderr.read()
    finally:
        proc.kill()


@pytest.fixture
def many_docs(capsys, tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    for i in range(40):
        (root / f"bees{i}.md").write_text(f"# Bees {i}\n\nHoney bees dance, note {i}.\n" * 20)
    assert cli(capsys, "ingest", str(root))[0] == 0
    return root


@pytest.mark.parametrize("args", [
    ("search", "honey bees", "-k", "40"),
    ("search", "honey bees", "-k", "40", "--json"),
    ("search", "-"),
    ("collections",),
    ("--help",),
])
def test_commands_end_with_exit_0_when_the_reader_goes_away(many_docs, args):
    for attempt in range(3):
        argv = [sys.executable, "-m", "ragchat", *args]
        code, err = closed_early(argv, read_first_line=attempt % 2 == 1,
                                 input="honey bees\n" * 50)
        assert (code, err) == (0, ""), f"attempt {attempt}: exit {code}, stderr {err!r}"


@pytest.mark.parametrize("args", [("ask", "What do the parts say?"), ("repl",)])
def test_a_streamed_answer_stops_and_ends_with_exit_0(tmp_path, args):
    """The answer streams token by token (ask: click, repl: rich); the turn is cancelled
    when nobody reads it, and the process ends at once with exit 0."""
    for attempt in range(2):
        code, err = closed_early([sys.executable, str(FAKE_RAGCHAT), *args], cwd=tmp_path,
                                 read_first_line=attempt == 1, input="What do the parts say?\n")
        assert (code, err) == (0, ""), f"attempt {attempt}: exit {code}, stderr {err!r}"


def test_an_epipe_that_is_not_the_output_is_still_an_error(capsys, monkeypatch):
    """Only the reader of stdout or stderr going away is quiet; an EPIPE elsewhere (a
    subprocess, a socket) is an internal error as before."""
    def broken(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("ragchat.index.collection.list_collections", broken)
    code, _, err = cli(capsys, "collections")
    assert code == 70 and "internal error" in err
