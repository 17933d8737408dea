"""Loaded by the reading child when a test puts this folder on PYTHONPATH: a file whose name
says so makes the reader hang, crash or eat memory, as a hostile file could in a library."""

import os
import time

from ragchat.ingest import worker

_real = worker.read_and_chunk


def _misbehaving(job, budgets):
    name = os.path.basename(job.path)
    if name.startswith("hang"):
        time.sleep(3600)
    if name.startswith("crash"):
        os.abort()
    if name.startswith("eat"):
        hoard = []
        while True:
            hoard.append(bytearray(64 << 20))
    return _real(job, budgets)


worker.read_and_chunk = _misbehaving
