"""Which embedding model a new collection gets."""

import huggingface_hub.constants

from ragchat.config import load_settings
from ragchat.embeddings import BUNDLED, PREFERRED, choose_model


def test_bundled_minilm_when_bge_m3_is_neither_cached_nor_reachable(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert choose_model(load_settings()) == BUNDLED
    assert "using the bundled all-MiniLM-L6-v2" in capsys.readouterr().err


def test_bge_m3_when_it_is_in_the_hub_cache(monkeypatch, tmp_path):
    snapshot = tmp_path / "models--BAAI--bge-m3" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "models--BAAI--bge-m3" / "refs").mkdir()
    (tmp_path / "models--BAAI--bge-m3" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert choose_model(load_settings()) == PREFERRED


def test_explicit_choices(monkeypatch):
    monkeypatch.setenv("RAGCHAT_EMBEDDING_MODEL", "minilm")
    assert choose_model(load_settings()) == BUNDLED
    monkeypatch.setenv("RAGCHAT_EMBEDDING_MODEL", "intfloat/multilingual-e5-small")
    assert choose_model(load_settings()) == "intfloat/multilingual-e5-small"
    monkeypatch.setenv("RAGCHAT_EMBEDDING_PROVIDER", "api")
    assert choose_model(load_settings()) == "api:intfloat/multilingual-e5-small"
