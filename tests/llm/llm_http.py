"""Loopback HTTP servers for the LLM tests: a scripted OpenAI-style fault server and a tiny
Hugging Face hub (the endpoints `snapshot_download` calls)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lower(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class LoopbackServer:
    """Runs a handler class on 127.0.0.1:<free port> in a thread; records every request."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.requests: list[dict] = []
        handler.owner = self
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


# -- the OpenAI-compatible fault server -------------------------------------------------------

@dataclass
class Reply:
    """One scripted answer: an HTTP error, a hang, or an SSE stream (possibly broken)."""

    status: int = 200
    headers: dict = field(default_factory=dict)
    body: str = ""
    pieces: tuple[str, ...] = ("Hello", " there", ".")
    finish: bool = True
    usage: dict | None = None
    timings: dict | None = None  # llama-server's statistics, on the last chunk
    hang_s: float = 0.0
    break_after: int | None = None  # close the socket after this many content chunks


def sse(data: dict) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


def chunk(content: str | None = None, finish: str | None = None) -> dict:
    delta = {"content": content} if content is not None else {}
    return {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "fault",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class FaultHandler(BaseHTTPRequestHandler):
    owner: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        """GET /v1/models: the scripted list of model names (404 when there is none)."""
        self.owner.requests.append({"path": self.path, "headers": _lower(self.headers),
                                    "json": None, "time": time.monotonic()})
        models = self.owner.models
        if models is None or not self.path.endswith("/models"):
            return self._send(Reply(status=404))
        self._send(Reply(status=200, body=json.dumps(
            {"object": "list", "data": [{"id": m, "object": "model"} for m in models]})))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.owner.requests.append({"path": self.path, "headers": _lower(self.headers),
                                    "json": body, "time": time.monotonic()})
        reply = self.owner.next_reply()
        if reply.hang_s:
            time.sleep(reply.hang_s)
        if reply.status != 200:
            self._send(reply)
        else:
            self._stream(reply)
        self.owner.finished.append(self.path)

    def _send(self, reply: Reply) -> None:
        data = (reply.body or json.dumps({"error": f"status {reply.status}"})).encode()
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, reply: Reply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for i, piece in enumerate(reply.pieces):
            if reply.break_after is not None and i >= reply.break_after:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(sse(chunk(piece)))
            self.wfile.flush()
        if reply.break_after is not None:
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        last = [chunk(None, "stop")] if reply.finish else []
        if reply.usage is not None:
            last.append({**chunk(), "choices": [], "usage": reply.usage})
        if reply.timings is not None and last:
            last[-1]["timings"] = reply.timings
        for data in last:
            self.wfile.write(sse(data))
        if reply.finish:
            self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class FaultServer(LoopbackServer):
    """Answers POST /v1/chat/completions with the scripted replies, in order (the last repeats),
    and GET /v1/models with `models`."""

    def __init__(self, *replies: Reply, models: list[str] | None = None) -> None:
        self.replies = list(replies) or [Reply()]
        self.models = models  # what GET /v1/models lists; None = 404
        self.finished: list[str] = []  # requests fully answered
        self._lock = threading.Lock()
        super().__init__(type("Handler", (FaultHandler,), {}))

    def next_reply(self) -> Reply:
        with self._lock:
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


# -- a tiny Hugging Face hub ------------------------------------------------------------------

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubHandler(BaseHTTPRequestHandler):
    owner: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _record(self) -> None:
        self.owner.requests.append({"method": self.command, "path": self.path,
                                    "headers": _lower(self.headers)})

    def do_HEAD(self) -> None:
        self._record()
        self._file(head=True)

    def do_GET(self) -> None:
        self._record()
        path = urlparse(self.path).path
        if path.startswith("/api/models/"):
            return self._api(unquote(path[len("/api/models/"):]))
        self._file(head=False)

    def _json(self, data, status: int = 200, headers: dict | None = None) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _api(self, rest: str) -> None:
        hub = self.owner
        repo, _, tail = rest.partition("/revision/") if "/revision/" in rest else \
            rest.partition("/tree/")
        if repo != hub.repo:
            return self._json({"error": "Repository not found"}, 404,
                              {"X-Error-Code": "RepoNotFound"})
        revision = tail.split("?")[0]
        if "/revision/" in rest:
            if revision not in (hub.revision, COMMIT):
                return self._json({"error": "Invalid rev id"}, 404,
                                  {"X-Error-Code": "RevisionNotFound"})
            siblings = [{"rfilename": name} for name in hub.files]
            return self._json({"id": repo, "modelId": repo, "sha": COMMIT, "siblings": siblings})
        tree = [{"type": "file", "path": name, "size": len(data),
                 "oid": hashlib.sha1(data).hexdigest()} for name, data in hub.files.items()]
        return self._json(tree)

    def _file(self, head: bool) -> None:
        hub = self.owner
        prefix = f"/{hub.repo}/resolve/"
        path = unquote(urlparse(self.path).path)
        if not path.startswith(prefix):
            return self._json({"error": "not found"}, 404)
        _revision, _, name = path[len(prefix):].partition("/")
        if name not in hub.files:
            return self._json({"error": "Entry not found"}, 404, {"X-Error-Code": "EntryNotFound"})
        data = hub.files[name]
        step = hub.script.get(name, []).pop(0) if hub.script.get(name) and not head else None
        if step and step[0] == "status":
            return self._json({"error": "server error"}, step[1])
        start = self._range_start()
        self.send_response(206 if start else 200)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if head:
            return
        if step and step[0] == "cut":  # send part of the file, then drop the connection
            self.wfile.write(data[start:start + step[1]])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(data[start:])

    def _range_start(self) -> int:
        value = self.headers.get("Range", "")
        if value.startswith("bytes=") and value.endswith("-"):
            return int(value[len("bytes="):-1])
        return 0


class FakeHub(LoopbackServer):
    """One repository at one branch, served like huggingface.co serves it."""

    def __init__(self, repo: str, revision: str, files: dict[str, bytes]) -> None:
        self.repo = repo
        self.revision = revision
        self.files = files
        # per file, what the next GETs do: ("cut", n) sends n bytes then drops the connection,
        # ("status", code) answers with an HTTP error
        self.script: dict[str, list[tuple[str, int]]] = {}
        super().__init__(type("Handler", (HubHandler,), {}))
