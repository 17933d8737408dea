"""The prompt_toolkit input: persistent history, Ctrl-R search, multi-line editing."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def key_bindings() -> Any:
    from prompt_toolkit.key_binding import KeyBindings

    bindings = KeyBindings()

    @bindings.add("enter")
    def _send(event: Any) -> None:
        event.current_buffer.validate_and_handle()

    @bindings.add("escape", "enter")
    @bindings.add("c-j")
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


def make_prompt_session(history_file: Path | None, toolbar: Any = None, *, input: Any = None,
                        output: Any = None) -> Any:
    """A PromptSession; `input`/`output` let tests drive it headless."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    if history_file is not None:
        history_file.parent.mkdir(parents=True, exist_ok=True)
        history: Any = FileHistory(str(history_file))
    else:
        history = InMemoryHistory()
    return PromptSession(
        message=[("class:prompt", "ragchat> ")],
        multiline=True,
        prompt_continuation=lambda width, line, wrap: "… ".rjust(width),
        key_bindings=key_bindings(),
        history=history,
        bottom_toolbar=toolbar,
        enable_open_in_editor=True,
        input=input,
        output=output,
    )
