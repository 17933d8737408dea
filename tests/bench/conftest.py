"""Bench and eval fixtures: a real llama.cpp OpenAI-compatible server on loopback (started once,
with concurrent requests allowed), a small real collection embedded with the real MiniLM
(built once), and a broken-stream server for the error path."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.llama_server import llama_server as start_llama_server
from tests.llm.exl2_standin import fake_gpu, model_dir, paged  # noqa: F401 - fixtures

NOTES = {
    "bees.md": "# Bees\n\nHoney bees perform a waggle dance to show the hive where flowers are.\n",
    "owls.txt": "Barn owls hunt mice at night and sleep in old barns during the day.\n",
    "trains.md": "# Trains\n\nThe night train to Vienna leaves Munich at 23:10 from platform 11.\n",
}




@pytest.fixture(scope="session")
def llama_server(gguf_path, tmp_path_factory) -> str:
    """llama-cpp-python's server with the tiny model; concurrent requests queue, not cancel."""
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
    with start_llama_server(gguf_path, tmp_path_factory.mktemp("server"),
                            extra=("--interrupt_requests", "False")) as url:
        yield url + "/v1"


@pytest.fixture
def api_env(tmp_path) -> dict[str, str]:
    """Environment for a ragchat process that talks to a loopback server, as an air-gapped
    site runs it: both hub offline switches on (they govern the hub, not your server)."""
    return {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "RAGCHAT_OFFLINE": "1",
            "HF_HOME": str(tmp_path / "hf"), "HF_TOKEN": ""}


@pytest.fixture(scope="session")
def notes_home(tmp_path_factory) -> Path:
    """A RAGCHAT_HOME with collection 'notes' (three short files, real MiniLM), built once."""
    from ragchat.config import load_settings
    from ragchat.ingest.ingester import ingest_paths

    home = tmp_path_factory.mktemp("notes-home")
    folder = tmp_path_factory.mktemp("notes")
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
    saved = os.environ.get("RAGCHAT_HOME")
    os.environ["RAGCHAT_HOME"] = str(home)
    try:
        settings = load_settings({"collection": "notes", "embedding_model": "minilm"})
        ingest_paths(settings, [folder], collection="notes")
    finally:
        if saved is None:
            os.environ.pop("RAGCHAT_HOME", None)
        else:
            os.environ["RAGCHAT_HOME"] = saved
    return home


@pytest.fixture
def in_notes_home(notes_home, monkeypatch) -> Path:
    monkeypatch.setenv("RAGCHAT_HOME", str(notes_home))
    return notes_home


class _BrokenStream(BaseHTTPRequestHandler):
    """An OpenAI-style server whose streams end without a finish: what an interrupted stream
    of llama-cpp-python's server looks like."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
        self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def broken_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _BrokenStream)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def hub_online(monkeypatch, tmp_path):
    """huggingface_hub blocks every request under HF_HUB_OFFLINE; our servers are loopback."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
