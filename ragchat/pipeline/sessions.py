"""Conversation sessions: langgraph checkpoints in SQLite, one thread per session name."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragchat.errors import RagchatError


@dataclass(frozen=True)
class SessionInfo:
    name: str
    turns: int
    has_summary: bool


def new_session_name() -> str:
    return time.strftime("chat-%Y%m%d-%H%M%S")


def check_session_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or any(c in name for c in "\n\r\t"):
        raise RagchatError(f"invalid session name {name!r}",
                           hint="use a short name without tabs or newlines, e.g. --session notes")
    return name


def open_checkpointer(path: Path | None) -> Any:
    """A SqliteSaver on `path`, or an in-memory saver when `path` is None."""
    if path is None:
        from langgraph.checkpoint.memory import InMemorySaver

        return InMemorySaver()
    from langgraph.checkpoint.sqlite import SqliteSaver

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        saver = SqliteSaver(conn)
        saver.setup()
    except (OSError, sqlite3.Error) as exc:
        raise RagchatError(
            f"cannot open the sessions database {path}: {exc}",
            hint="check the folder's permissions, or move the file away to start afresh",
        ) from exc
    return saver


def close_checkpointer(saver: Any) -> None:
    conn = getattr(saver, "conn", None)
    if isinstance(conn, sqlite3.Connection):
        conn.close()


def session_names(saver: Any) -> list[str]:
    """Session names, most recently used first."""
    conn = getattr(saver, "conn", None)
    if isinstance(conn, sqlite3.Connection):
        with saver.cursor(transaction=False) as cur:
            cur.execute("SELECT thread_id FROM checkpoints WHERE checkpoint_ns = '' "
                        "GROUP BY thread_id ORDER BY MAX(checkpoint_id) DESC")
            return [row[0] for row in cur.fetchall()]
    storage = getattr(saver, "storage", {})
    return [name for name in reversed(list(storage)) if storage[name]]
