"""Options shared by several commands, and the mapping from flags to settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ragchat.cli.layout import for_stderr
from ragchat.cli.terminal import safe_line
from ragchat.config import Settings
from ragchat.engines import BACKEND_CHOICES, Engine

BACKENDS = BACKEND_CHOICES


def collection_option(f: Callable) -> Callable:
    return click.option(
        "--collection", "-c", default=None, metavar="NAME",
        help="Collection to use [default: config 'collection', else 'default'].",
    )(f)


def backend_options(f: Callable) -> Callable:
    """--backend, --api, --api-base, --api-model: which LLM answers."""
    f = click.option("--api-model", default=None, metavar="NAME",
                     help="Model name for the API [default: Qwen/Qwen2.5-14B-Instruct].")(f)
    f = click.option("--api-base", default=None, metavar="URL",
                     help="Dedicated endpoint or OpenAI-compatible server (implies --api).")(f)
    f = click.option("--api", "use_api", is_flag=True, default=False,
                     help="Send LLM calls to a Hugging Face endpoint (same as --backend api).")(f)
    f = click.option("--backend", type=click.Choice(BACKENDS), default=None,
                     help="LLM backend [default: auto].")(f)
    return f


def backend_flags(backend: str | None, use_api: bool, api_base: str | None,
                  api_model: str | None) -> dict[str, Any]:
    """Settings overrides from the backend flags (None = not given)."""
    if (use_api or api_base) and backend not in (None, Engine.API):
        raise click.UsageError(f"--api/--api-base conflict with --backend {backend}")
    chosen = Engine.API.value if (use_api or api_base) else backend
    return {"backend": chosen, "api_base": api_base, "api_model": api_model}


def caveat_notice(caveat: str, settings: Settings) -> str:
    """What the answering model is (its capabilities' caveat), and the one command that gets
    this machine a better model (doctor's recommendation)."""
    text = caveat
    try:
        from ragchat.doctor import recommendation

        command = recommendation(settings).get("command")
    except Exception:  # the notice must never stop an answer
        command = None
    if command:
        text += f" For real ones on this machine: `{command}` (see `ragchat doctor`)."
    else:
        text += " `ragchat doctor` says what fits this machine."
    return text + ' `ragchat search "..."` shows the exact passages.'


def model_caveat(pipeline: Any) -> str:
    """What to expect of the answering model ("" for a capable one)."""
    return str(getattr(getattr(pipeline, "capabilities", None), "caveat", "") or "")


def say_backend_choice(pipeline: Any, settings: Settings) -> None:
    """One line on stderr when ragchat fell back or auto settled for the CPU model, and what
    the model is when it comes with a caveat (the bundled demo model)."""
    choice = getattr(pipeline, "choice", None)
    if choice is None:
        return
    fell_back = getattr(choice, "fallback_from", None)
    cpu_by_auto = (getattr(choice, "source", "") == "auto"
                   and getattr(choice, "name", "") == Engine.LLAMACPP)
    caveat = model_caveat(pipeline)
    if fell_back or (cpu_by_auto and not caveat):  # the caveat says it for such a model
        click.echo(for_stderr(f"ragchat: {safe_line(choice.reason)}"), err=True)
    if caveat:
        click.echo(for_stderr(f"ragchat: {safe_line(caveat_notice(caveat, settings))}"),
                   err=True)


def session_state(pipeline: Any) -> str:
    """How much of a conversation a session holds: "new", "3 earlier turns", "3 earlier
    turns and a summary of older ones"."""
    try:
        summary, turns = pipeline.history()
    except Exception:  # the note must never stop a turn
        return ""
    if not turns and not summary:
        return "new"
    held = "1 earlier turn" if len(turns) == 1 else f"{len(turns)} earlier turns"
    return held + (" and a summary of older ones" if summary else "")


def say_session_resumed(pipeline: Any) -> None:
    """One line on stderr when --session continues a conversation: how much it holds."""
    state = session_state(pipeline)
    if state and state != "new":
        click.echo(for_stderr(f"ragchat: continuing session {safe_line(pipeline.session)}: "
                              f"{state}"), err=True)
