"""Where ragchat keeps its files. `RAGCHAT_HOME` moves all of them under one folder."""

from __future__ import annotations

import errno
import os
from pathlib import Path

APP = "ragchat"


def _home() -> Path | None:
    value = os.environ.get("RAGCHAT_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = _home()
    if home:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    home = _home()
    if home:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    home = _home()
    if home:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP))


def log_dir() -> Path:
    home = _home()
    if home:
        return home / "logs"
    import platformdirs

    return Path(platformdirs.user_log_dir(APP))


def config_file() -> Path:
    override = os.environ.get("RAGCHAT_CONFIG")
    return Path(override).expanduser() if override else config_dir() / "config.toml"


def collections_dir() -> Path:
    return data_dir() / "collections"


def collection_dir(name: str) -> Path:
    return collections_dir() / name


def sessions_db() -> Path:
    return data_dir() / "sessions.sqlite"


def models_dir() -> Path:
    return data_dir() / "models"


def history_file() -> Path:
    return data_dir() / "repl_history"


# What a folder that ragchat cannot write looks like: not a bug, the user's to fix.
STORAGE_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.ENOTDIR,
                  errno.EDQUOT, errno.EEXIST, errno.ELOOP, errno.ENAMETOOLONG}


def storage_problem(exc: BaseException):
    """A RagchatError (ConfigError) for an OSError or SQLite error that comes from where
    ragchat keeps its files (a RAGCHAT_HOME that is a file, read-only, or on a full disk),
    or None when `exc` is something else."""
    from ragchat.errors import ConfigError

    filename = getattr(exc, "filename", None)
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        what = f"cannot write {filename}: {exc.strerror}" if filename else \
            f"cannot write ragchat's files: {exc.strerror}"
        return ConfigError(what, hint=_storage_hint())
    text = str(exc).lower()
    if type(exc).__name__ == "OperationalError" and any(
            words in text for words in ("disk is full", "readonly database",
                                        "unable to open database", "disk i/o error")):
        return ConfigError(f"cannot write ragchat's index or sessions: {exc}",
                           hint=_storage_hint())
    return None


def _storage_hint() -> str:
    home = os.environ.get("RAGCHAT_HOME")
    if home:
        return (f"RAGCHAT_HOME={home} must be a folder you can write, on a disk with free "
                "space: point it at another folder, or fix its permissions")
    return (f"ragchat keeps its files in {data_dir()} (and the config, cache and log folders "
            "beside it): free some disk space or fix the permissions, or set RAGCHAT_HOME to "
            "a folder you can write")
