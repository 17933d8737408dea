"""Embeddings through the Hugging Face feature-extraction API, against a real loopback server."""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ragchat.config import load_settings
from ragchat.index.search import open_searcher
from ragchat.ingest.ingester import ingest_paths

DIM = 64


def embed(text: str) -> list[float]:
    """Bag of hashed words: texts sharing words get similar vectors."""
    vec = [0.0] * DIM
    for word in text.lower().split():
        vec[int(hashlib.md5(word.strip(".,").encode()).hexdigest(), 16) % DIM] += 1.0
    return vec


class Handler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.requests.append(body)
        inputs = body["inputs"] if isinstance(body["inputs"], list) else [body["inputs"]]
        payload = json.dumps([embed(t) for t in inputs]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_ingest_and_search_with_api_embeddings(server, tmp_path, monkeypatch):
    import huggingface_hub.constants

    # The suite runs with HF_HUB_OFFLINE=1, which blocks loopback servers too.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("RAGCHAT_EMBEDDING_PROVIDER", "api")
    monkeypatch.setenv("RAGCHAT_EMBEDDING_MODEL", server)
    (tmp_path / "a.txt").write_text("penguins live in antarctica and eat krill")
    (tmp_path / "b.txt").write_text("camels cross deserts carrying water")
    Handler.requests.clear()
    settings = load_settings()
    report = ingest_paths(settings, [tmp_path])
    assert report.model == "api:" + server and report.new == 2
    assert Handler.requests, "the API was not called"
    searcher = open_searcher(settings)
    try:
        [hit] = searcher.search("where do penguins live", 1, mode="dense")
    finally:
        searcher.close()
    assert hit.path.endswith("a.txt")
