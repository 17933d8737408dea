"""Documents are read and chunked in a child process with a memory limit and a deadline.

The readers check their budgets before they spend memory (ingest/budgets.py), but the
libraries under them (pypdf, pdfium, lxml, openpyxl, olefile) are large and a stranger's
file may find what no budget foresaw: a loop, a native crash, an allocation in C. In the
child such a file costs at most `reader_memory_mb` of address space (RLIMIT_AS; Linux and
macOS) and `file_timeout_s` seconds, after which the child (and its Tesseract) is killed
and the next file gets a fresh one. A crash is that file's failure, never the ingest's.

The child speaks JSON over its stdin and stdout (length-prefixed frames), not pickle: it
parses hostile input, so what it sends back is data, never code. It runs with `python -P`
(no current folder on the import path: a folder being ingested may hold a `ragchat/`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragchat.ingest.budgets import Budgets, ReadOptions, raise_hint
from ragchat.ingest.chunking import Chunk
from ragchat.ingest.document import UnreadableFileError

HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30  # what the parent takes from the child at most (a file's chunks)


@dataclass(frozen=True)
class ReadJob:
    """What to read and how to chunk it."""

    path: str
    ocr: str
    size: int
    overlap: int
    headings: bool


@dataclass(frozen=True)
class ReadResult:
    """A read and chunked file: the chunks, and what the report says about the document."""

    chunks: tuple[Chunk, ...]
    unit: str
    units: int
    chars: int
    problems: tuple[str, ...]
    needs_ocr: tuple[int, ...]
    ocr_pages: tuple[int, ...]


def read_and_chunk(job: ReadJob, budgets: Budgets) -> ReadResult:
    """The work itself (in the child; in-process in tests that need no isolation)."""
    from ragchat.ingest.chunking import chunk_sections
    from ragchat.ingest.readers import read_document

    document = read_document(Path(job.path), ReadOptions(budgets, job.ocr))
    chunks = tuple(chunk_sections(list(document.sections), job.size, job.overlap))
    if not job.headings:
        chunks = tuple(dataclasses.replace(c, heading_in_index=False) for c in chunks)
    return ReadResult(chunks, document.unit, document.units,
                      sum(len(s.text) for s in document.sections), document.problems,
                      document.needs_ocr, document.ocr_pages)


class ReaderProcess:
    """The reading child, started on first use and again after a file killed it."""

    def __init__(self, budgets: Budgets) -> None:
        self.budgets = budgets
        self._proc: subprocess.Popen | None = None
        self._stderr: Any = None

    def __enter__(self) -> ReaderProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, job: ReadJob) -> ReadResult:
        """Read one file. Raises UnreadableFileError (the file's failure) or OSError."""
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            send(proc.stdin, dataclasses.asdict(job))
            reply = receive(proc.stdout, time.monotonic() + self.budgets.file_seconds)
        except TimeoutError:
            self._kill()
            raise UnreadableFileError(
                f"reading it took longer than file_timeout_s ({self.budgets.file_seconds:g} s)",
                hint=raise_hint("file_seconds")) from None
        except (EOFError, BrokenPipeError, ConnectionResetError):
            raise UnreadableFileError(self._death()) from None
        return _result(reply)

    def _start(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "ragchat.ingest.worker", json.dumps(
                dataclasses.asdict(self.budgets))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            start_new_session=os.name == "posix",  # its own group: Ctrl-C is ours to handle
        )
        return self._proc

    def _death(self) -> str:
        """Why the child went away in the middle of a file."""
        proc = self._proc
        code = proc.wait(timeout=10) if proc is not None else None
        self._proc = None
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            if -code == getattr(signal, "SIGKILL", 9):
                return (f"the reader was killed ({name}): probably out of memory "
                        f"(reader_memory_mb = {self.budgets.memory_bytes >> 20})")
            return f"reading it crashed the reader ({name}); the file is likely damaged or hostile"
        return f"the reader stopped while reading it (exit code {code}){self._last_words()}"

    def _last_words(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(self._stderr.tell() - 300, 0))
        tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return f": {tail[-1]}" if tail else ""

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)  # with the Tesseract it may have started
            else:
                proc.kill()
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def close(self) -> None:
        """Stop the child (it also exits by itself when its stdin closes)."""
        self._kill()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _result(reply: dict) -> ReadResult:
    if "error" in reply:
        raise UnreadableFileError(str(reply["error"]), hint=reply.get("hint"))
    ok = reply["ok"]
    return ReadResult(tuple(Chunk(**c) for c in ok["chunks"]), str(ok["unit"]), int(ok["units"]),
                      int(ok["chars"]), tuple(ok["problems"]), tuple(ok["needs_ocr"]),
                      tuple(ok["ocr_pages"]))


# --- the frames --------------------------------------------------------------------------

def send(stream, message: dict) -> None:
    # lone surrogates (a broken UTF-16 text) pass the pipe; SQLite is spared them later
    body = json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


def receive(stream, deadline: float | None = None) -> dict:
    """One frame; EOFError when the other side has gone, TimeoutError after `deadline`."""
    size = HEADER.unpack(_read_exactly(stream, HEADER.size, deadline))[0]
    if size > MAX_FRAME:
        raise EOFError("a frame larger than 1 GiB")
    body = _read_exactly(stream, size, deadline)
    return json.loads(body.decode("utf-8", "surrogatepass"))


def _read_exactly(stream, size: int, deadline: float | None) -> bytes:
    parts: list[bytes] = []
    left = size
    fd = stream.fileno()
    while left:
        if deadline is not None and os.name == "posix":
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        data = os.read(fd, min(left, 1 << 20))
        if not data:
            raise EOFError
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


# --- the child ---------------------------------------------------------------------------

def _limit_memory(budgets: Budgets) -> None:
    try:
        import resource
    except ImportError:  # Windows: the deadline still holds
        return
    for limit, value in ((getattr(resource, "RLIMIT_AS", None), budgets.memory_bytes),
                         (getattr(resource, "RLIMIT_CORE", None), 0)):
        if limit is None:
            continue
        try:
            soft, hard = resource.getrlimit(limit)
            if soft == resource.RLIM_INFINITY or value < soft:
                resource.setrlimit(limit, (value, hard))
        except (ValueError, OSError):  # macOS refuses RLIMIT_AS: the deadline still holds
            pass


def _answer(job: dict, budgets: Budgets) -> dict:
    try:
        result = read_and_chunk(ReadJob(**job), budgets)
    except UnreadableFileError as exc:
        return {"error": exc.message, "hint": exc.hint}
    except OSError as exc:
        return {"error": exc.strerror or str(exc)}
    except MemoryError:
        return {"error": "reading it ran out of memory (reader_memory_mb)",
                "hint": raise_hint("memory_bytes")}
    except Exception as exc:  # noqa: BLE001 - a reader's bug is this file's failure
        return {"error": f"cannot read it ({type(exc).__name__}: {exc})"}
    ok = dataclasses.asdict(result)
    return {"ok": ok}


def main() -> None:
    budgets = Budgets(**json.loads(sys.argv[1]))
    _limit_memory(budgets)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a library's print() must not corrupt the frames
    while True:
        try:
            job = receive(stdin)
        except EOFError:
            return
        send(stdout, _answer(job, budgets))


if __name__ == "__main__":  # run as `python -P -m ragchat.ingest.worker BUDGETS`
    from ragchat.ingest import worker  # the module itself, not this __main__ copy of it

    worker.main()
