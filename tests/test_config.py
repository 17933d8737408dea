import pytest

from ragchat import paths
from ragchat.config import load_settings
from ragchat.errors import ConfigError


def write_config(text):
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_precedence_flag_env_config_default(monkeypatch):
    assert load_settings().search_k == 5
    assert load_settings().source("search_k") == "default"
    path = write_config("search_k = 7\nbackend = 'api'\n")
    assert load_settings().search_k == 7
    assert load_settings().source("search_k") == f"config {path}"
    monkeypatch.setenv("RAGCHAT_SEARCH_K", "9")
    assert load_settings().search_k == 9
    assert load_settings().source("search_k") == "env RAGCHAT_SEARCH_K"
    assert load_settings({"search_k": 11}).search_k == 11
    assert load_settings({"search_k": None}).search_k == 9  # None = flag not given
    assert load_settings().backend == "api"


def test_types_are_checked(monkeypatch):
    monkeypatch.setenv("RAGCHAT_API_FALLBACK", "yes")
    assert load_settings().api_fallback is True
    monkeypatch.setenv("RAGCHAT_SEARCH_K", "lots")
    with pytest.raises(ConfigError, match="RAGCHAT_SEARCH_K"):
        load_settings()


def test_unknown_keys_and_bad_toml_are_errors():
    write_config("serch_k = 3\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_settings()
    write_config("search_k = = 3\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_settings()


def test_ragchat_home_moves_every_path(ragchat_home):
    for folder in (paths.config_dir(), paths.data_dir(), paths.cache_dir(), paths.log_dir()):
        assert str(folder).startswith(str(ragchat_home))
