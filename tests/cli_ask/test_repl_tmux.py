"""`ragchat repl` in a real terminal (tmux) with the embedded model: ask, see a cited
answer, Ctrl-C mid-answer, /exit with status 0."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest
from pipeline.docs_corpus import tiny_model_missing, write_docs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]
SPINNER = re.compile(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]")


class Pane:
    def __init__(self, name: str) -> None:
        self.name = name

    def text(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-S", "-200", "-t", self.name],
                              capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, predicate, timeout: float = 240.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if predicate(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"timed out; the screen was:\n{self.text()}")


@pytest.fixture
def pane(tmp_path):
    if missing := tiny_model_missing():
        pytest.skip(missing)
    docs = write_docs(tmp_path / "docs")
    env = dict(os.environ, RAGCHAT_HOME=str(tmp_path / "home"), RAGCHAT_BACKEND="llamacpp",
               RAGCHAT_TEMPERATURE="0", RAGCHAT_MAX_NEW_TOKENS="400")
    done = subprocess.run([sys.executable, "-m", "ragchat", "ingest", str(docs)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    name = f"ragchat-test-{os.getpid()}"
    exports = " ".join(f"{k}={v}" for k, v in env.items() if k.startswith("RAGCHAT_"))
    command = (f"env {exports} {sys.executable} -m ragchat repl --session tmux; "
               "echo EXIT=$?; sleep 300")
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "50", command],
                   check=True)
    try:
        yield Pane(name), docs
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def test_ask_cancel_and_exit_in_a_real_terminal(pane):
    pane, docs = pane
    pane.wait_for(lambda t: "ragchat>" in t and "/help" in t)
    pane.keys("When do the backups run?", "Enter")
    screen = pane.wait_for(lambda t: t.count("ragchat>") >= 2)
    assert re.search(rf"^\[\d+\] {re.escape(str(docs))}/\w+\.md:", screen, re.MULTILINE)

    pane.keys("Tell me everything about tomatoes and basil in detail", "Enter")

    def answering(text: str) -> bool:
        if "in detail" not in text:
            return False
        after = text.rsplit("in detail", 1)[-1].splitlines()[1:]
        first = next((line for line in after if line.strip()), "")
        return bool(first.strip()) and not SPINNER.search(first) and "Enter send" not in first

    pane.wait_for(answering)
    pane.keys("C-c")
    screen = pane.wait_for(lambda t: "Cancelled" in t and t.count("ragchat>") >= 3)
    lines = [line for line in screen.splitlines() if line.strip()]
    cancelled = next(i for i, line in enumerate(lines) if "Cancelled" in line)
    assert lines[cancelled + 1] == "ragchat>"  # back at a clean prompt

    pane.keys("/exit", "Enter")
    assert "EXIT=0" in pane.wait_for(lambda t: "EXIT=" in t, timeout=60)
