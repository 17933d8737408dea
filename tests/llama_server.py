"""One way to run llama-cpp-python's OpenAI-compatible server on loopback for tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def llama_server(gguf: Path, log_dir: Path, n_ctx: int = 2048,
                 extra: tuple[str, ...] = ()) -> Iterator[str]:
    """Serve `gguf` as model "tiny" on a free loopback port; yields http://127.0.0.1:PORT."""
    port = free_port()
    log = log_dir / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
           "--n_threads", "1", "--n_threads_batch", "1", "--verbose", "False",
           "--model_alias", "tiny", *extra]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
