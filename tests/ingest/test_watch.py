"""`ingest --watch`: the poll loop on a real folder (scripted polls), and the command in a
real process that a file dropped into the folder reaches the index, and that Ctrl-C (SIGINT)
and SIGTERM stop it cleanly whatever signal dispositions this test run was started with."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ragchat.config import load_settings
from ragchat.errors import CollectionBusyError
from ragchat.ingest.watch import Change, compare, max_bytes, snapshot, watch


class Polls(threading.Event):
    """A stop event whose every wait is one poll: it runs the next scripted step (what
    happens to the folder before that poll); when the script ends, the watch stops."""

    def __init__(self, *steps) -> None:
        super().__init__()
        self.steps = list(steps)

    def wait(self, timeout: float | None = None) -> bool:
        if not self.steps:
            self.set()
            return True
        self.steps.pop(0)()
        return False


def nothing() -> None:
    pass


def write(path: Path, text: str):
    return lambda: path.write_text(text, encoding="utf-8")


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    (root / "a.md").write_text("# A\nThe boiler was serviced in March.\n", encoding="utf-8")
    return root


def run_watch(folder: Path, polls: Polls, fail_first: int = 0) -> tuple[list, list, list]:
    ingests: list[int] = []
    reports: list[Change] = []
    busy: list[Change] = []

    def ingest() -> str:
        ingests.append(len(ingests))
        if len(ingests) <= fail_first:
            raise CollectionBusyError("collection 'w' is being written by another process")
        return "report"

    settings = load_settings()
    watch(settings, [folder], since=snapshot([folder], max_bytes(settings)), interval=0.01,
          ingest=ingest,
          on_report=lambda change, report: reports.append(change),
          on_busy=lambda change, exc: busy.append(change), stop=polls)
    return ingests, reports, busy


def test_no_change_no_ingest(folder):
    assert run_watch(folder, Polls(nothing, nothing, nothing)) == ([], [], [])


def test_a_new_file_is_ingested_once_it_has_settled(folder):
    new = folder / "b.md"
    # poll 1 sees b.md; it grows before poll 2; poll 3 agrees with poll 2: then one ingest
    polls = Polls(write(new, "# B\n"), write(new, "# B\nThe tyres take 2.4 bar.\n"), nothing)
    ingests, reports, _ = run_watch(folder, polls)
    assert ingests == [0] and reports == [Change(added=1, changed=0, removed=0)]


def test_changed_and_removed_files_are_counted(folder):
    (folder / "b.md").write_text("# B\n", encoding="utf-8")

    def edit_and_remove() -> None:
        (folder / "a.md").write_text("# A\nServiced again in May.\n", encoding="utf-8")
        (folder / "b.md").unlink()

    _, reports, _ = run_watch(folder, Polls(edit_and_remove, nothing))
    assert reports == [Change(added=0, changed=1, removed=1)]
    assert str(reports[0]) == "1 changed, 1 removed"


def test_a_busy_collection_is_tried_again_at_the_next_poll(folder):
    # poll 1 sees b.md, poll 2 agrees: the ingest finds the collection busy; poll 3 still
    # differs from what was indexed, poll 4 agrees: the second ingest goes through
    polls = Polls(write(folder / "b.md", "# B\n"), nothing, nothing, nothing)
    ingests, reports, busy = run_watch(folder, polls, fail_first=1)
    assert busy == [Change(added=1, changed=0, removed=0)]
    assert ingests == [0, 1] and reports == busy  # the same change, ingested the second time


def test_the_snapshot_skips_what_ingest_skips(folder):
    (folder / ".hidden.md").write_text("x", encoding="utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG")
    before = snapshot([folder], 10 ** 6)
    assert [p.name for p in before] == ["a.md"]
    assert compare(before, before) == Change(0, 0, 0) and str(Change(0, 0, 0)) == "no change"


def start_watch(folder: Path, *flags: str,
                sigint: signal.Handlers = signal.SIG_DFL) -> subprocess.Popen:
    """`ragchat ingest FOLDER --watch` in a real process whose SIGINT starts as `sigint`,
    whatever this test run's own is (a test run started in the background by a script has
    SIGINT ignored, and its children inherit that): SIG_DFL as for a command a terminal
    runs in the foreground, SIG_IGN as for a shell script's background job."""
    return subprocess.Popen(
        [sys.executable, "-m", "ragchat", "ingest", str(folder), "--watch", "--interval",
         "0.2", "-c", "w", *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ), preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))


def wait_for_the_watch(proc: subprocess.Popen) -> list[str]:
    """What the watch said on stderr up to its `watching ...` line."""
    assert proc.stderr is not None
    said = [""]
    while not said[-1].startswith("watching "):
        said.append(proc.stderr.readline())
        assert said[-1], "the watch did not start"
    return said


def next_report(proc: subprocess.Popen) -> str:
    """The next ingest's line (`[HH:MM:SS] ...`), past the first ingest's other lines."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    while not line.startswith("["):
        line = proc.stdout.readline()
        assert line, "no further ingest"
    return line


@contextmanager
def stopped_with(proc: subprocess.Popen, signum: int) -> Iterator[list[str]]:
    """Run the body, then send `signum` and collect (stdout, stderr) into the yielded list;
    a watch that does not stop is killed after two minutes: the test fails, not hangs."""
    guard = threading.Timer(120, proc.kill)
    guard.start()
    output: list[str] = []
    try:
        yield output
    finally:
        proc.send_signal(signum)
        output.extend(proc.communicate(timeout=60))
        guard.cancel()


def stopped_cleanly(proc: subprocess.Popen, err: str) -> bool:
    return (proc.returncode == 0 and "stopped watching" in err
            and "Traceback" not in err and "Interrupted" not in err)


@pytest.mark.skipif(sys.platform == "win32", reason="stops the watch with SIGINT")
def test_watch_command_ingests_a_dropped_file_and_stops_cleanly_on_ctrl_c(folder):
    from ragchat.index.search import Searcher

    proc = start_watch(folder, "-q")
    with stopped_with(proc, signal.SIGINT) as output:
        assert proc.stdout is not None
        assert "1 new" in proc.stdout.readline()  # the first ingest
        wait_for_the_watch(proc)
        searcher = Searcher(load_settings(), "w")  # open all along, as in a chat
        try:
            assert searcher.search("tyre pressure", 1)[0].path.endswith("a.md")
            (folder / "tyres.md").write_text("# Car\nThe tyres take 2.4 bar.\n",
                                             encoding="utf-8")
            assert "1 new, 0 changed, 1 unchanged" in next_report(proc)
            assert searcher.search("tyre pressure", 1)[0].path.endswith("tyres.md")
        finally:
            searcher.close()
    assert stopped_cleanly(proc, output[1]), output[1]


@pytest.mark.skipif(sys.platform == "win32", reason="stops the watch with SIGTERM")
def test_a_watch_started_with_sigint_ignored_ignores_it_and_stops_on_sigterm(folder):
    """As a script's background job: the terminal's Ctrl-C is not for it, `kill PID` is."""
    proc = start_watch(folder, "-q", sigint=signal.SIG_IGN)
    with stopped_with(proc, signal.SIGTERM) as output:
        assert proc.stdout is not None
        assert "1 new" in proc.stdout.readline()
        wait_for_the_watch(proc)
        proc.send_signal(signal.SIGINT)  # delivered at once: a watch it stopped ingests no more
        (folder / "b.md").write_text("# B\nThe tyres take 2.4 bar.\n", encoding="utf-8")
        assert "1 new, 0 changed, 1 unchanged" in next_report(proc)
    assert stopped_cleanly(proc, output[1]), output[1]


def test_a_change_made_during_the_first_ingest_is_seen_at_the_first_poll(folder):
    settings = load_settings()
    since = snapshot([folder], max_bytes(settings))  # taken before the first ingest began
    (folder / "b.md").write_text("# B\n", encoding="utf-8")  # written while it ran
    reports: list[Change] = []
    watch(settings, [folder], since=since, interval=0.01, ingest=lambda: "report",
          on_report=lambda change, report: reports.append(change),
          on_busy=lambda change, exc: None, stop=Polls(nothing, nothing))
    assert reports == [Change(added=1, changed=0, removed=0)]


@pytest.mark.skipif(sys.platform == "win32", reason="stops the watch with SIGTERM")
def test_watch_with_json_prints_one_report_a_line_and_stops_cleanly_on_sigterm(folder):
    import json

    proc = start_watch(folder, "--json")
    with stopped_with(proc, signal.SIGTERM) as output:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        wait_for_the_watch(proc)
        (folder / "b.md").write_text("# B\nThe tyres take 2.4 bar.\n", encoding="utf-8")
        second = json.loads(proc.stdout.readline())
    assert (first["new"], second["new"], second["unchanged"]) == (1, 1, 1)
    assert stopped_cleanly(proc, output[1]), output[1]


@pytest.mark.skipif(sys.platform == "win32", reason="stops the watch with SIGTERM")
def test_an_empty_folder_is_watched_and_what_is_added_is_ingested(tmp_path):
    empty = tmp_path / "inbox"
    empty.mkdir()
    proc = start_watch(empty, "-q")
    with stopped_with(proc, signal.SIGTERM) as output:
        assert proc.stdout is not None
        assert "0 in the index" in proc.stdout.readline()
        said = wait_for_the_watch(proc)
        assert "holds no files; the watch ingests files as they are added" in "".join(said)
        (empty / "note.md").write_text("# Note\nCall the plumber on Monday.\n", encoding="utf-8")
        assert "1 new" in proc.stdout.readline()
    assert stopped_cleanly(proc, output[1]), output[1]
