"""The one error type the CLI turns into a short message and an exit code."""

from __future__ import annotations


class RagchatError(Exception):
    """A failure the user can act on: `message` says what failed, `hint` how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        from ragchat.redact import redact

        message = redact(message)  # a URL's password never reaches the terminal or a log
        super().__init__(message)
        self.message = message
        self.hint = redact(hint) if hint else hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(RagchatError):
    """The config file or an environment variable holds a value we cannot use."""

    exit_code = 2


class UsageError(RagchatError):
    """The command line asks for something impossible (a missing path, a bad value)."""

    exit_code = 2


class IndexMissingError(RagchatError):
    """No index exists for the collection asked for."""

    exit_code = 3


class IndexCorruptError(RagchatError):
    """An index file cannot be read."""

    exit_code = 3


class IndexMismatchError(RagchatError):
    """The collection was built with another embedding model."""

    exit_code = 3


class CollectionBusyError(RagchatError):
    """Another process is writing the same collection."""

    exit_code = 4


class ModelError(RagchatError):
    """A model cannot be found, downloaded or loaded."""

    exit_code = 5


class BackendError(RagchatError):
    """An LLM backend failed (no GPU, out of memory, server down, bad token)."""

    exit_code = 6
