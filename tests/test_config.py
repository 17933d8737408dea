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


@pytest.mark.parametrize("env, value, allowed", [
    ("RAGCHAT_CHUNK_SIZE", "-5", "0, or 100 to 20000"),  # looped forever before
    ("RAGCHAT_CHUNK_SIZE", "7", "0, or 100 to 20000"),
    ("RAGCHAT_EMBEDDING_BATCH_SIZE", "0", "1 to 4096"),  # an internal error before
    ("RAGCHAT_MAX_FILE_MB", "-1", "0.001 to 10240"),
    ("RAGCHAT_CHUNK_OVERLAP", "5.0", "0 to 0.5"),
    ("RAGCHAT_SEARCH_K", "0", "1 to 100"),
    ("RAGCHAT_TEMPERATURE", "inf", None),
    ("RAGCHAT_TEMPERATURE", "nan", None),
    ("RAGCHAT_BACKEND", "gpt5", "auto, exllamav2, llamacpp or api"),
    ("RAGCHAT_OCR", "maybe", "auto or off"),
])
def test_a_value_out_of_range_is_refused_in_one_line_naming_key_source_and_range(
        monkeypatch, env, value, allowed):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    key = env.removeprefix("RAGCHAT_").lower()
    assert info.value.message.startswith(f"environment {env}: {key} ")
    assert "\n" not in info.value.message
    if allowed:
        assert info.value.message.endswith(f"(allowed: {allowed})")
    assert info.value.exit_code == 2


def test_a_bad_value_in_the_config_file_names_the_file():
    path = write_config("chunk_overlap = 0.9\n")
    with pytest.raises(ConfigError, match=f"config file {path}: chunk_overlap = 0.9 is out of "
                                          r"range \(allowed: 0 to 0.5\)") as info:
        load_settings()
    assert str(path) in info.value.hint


def test_values_at_the_edges_and_choices_in_any_case_are_accepted(monkeypatch):
    monkeypatch.setenv("RAGCHAT_CHUNK_SIZE", "0")
    monkeypatch.setenv("RAGCHAT_CHUNK_OVERLAP", "0.5")
    monkeypatch.setenv("RAGCHAT_BACKEND", " LlamaCpp ")
    settings = load_settings()
    assert (settings.chunk_size, settings.chunk_overlap, settings.backend) == (0, 0.5, "llamacpp")


def test_every_numeric_and_choice_key_has_a_range():
    from ragchat.config import KEYS

    for key in KEYS:
        if isinstance(key.default, int | float) and not isinstance(key.default, bool):
            assert key.allowed, f"{key.name} needs minimum/maximum"


def test_leniently_loaded_settings_keep_the_next_value_and_report_each_problem(monkeypatch):
    from ragchat.config import load_settings_leniently

    path = write_config("search_k = 7\n")
    monkeypatch.setenv("RAGCHAT_SEARCH_K", "-3")
    monkeypatch.setenv("RAGCHAT_CHUNK_SIZE", "huge")
    settings, problems = load_settings_leniently()
    assert settings.search_k == 7 and settings.source("search_k") == f"config {path}"
    assert settings.chunk_size == 0
    assert sorted(p.message.split(":")[0] for p in problems) == [
        "environment RAGCHAT_CHUNK_SIZE", "environment RAGCHAT_SEARCH_K"]
    write_config("search_k = = 3\n")
    settings, problems = load_settings_leniently()
    assert "cannot parse" in problems[0].message and len(problems) == 3
    assert settings.search_k == 5
