"""Where ragchat keeps its files. `RAGCHAT_HOME` moves all of them under one folder."""

from __future__ import annotations

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
