"""Which embedding model a new collection gets."""

import huggingface_hub.constants

from ragchat.config import load_settings
from ragchat.embeddings import BUNDLED, PREFERRED, choose_model


def notices(caplog) -> str:
    """What the library said (a warning each; the CLI prints them on stderr) since last read."""
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "ragchat.embeddings")
    caplog.clear()
    return text


def test_bundled_minilm_when_bge_m3_is_neither_cached_nor_reachable(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert choose_model(load_settings()) == BUNDLED
    assert "using the bundled all-MiniLM-L6-v2" in notices(caplog)


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


def test_the_notice_says_why_for_this_machine(monkeypatch, tmp_path, caplog):
    import ragchat.embeddings as emb

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(emb, "has_cuda_gpu", lambda: False)
    assert choose_model(load_settings()) == BUNDLED
    err = notices(caplog)
    assert "without a GPU" in err and "RAGCHAT_EMBEDDING_MODEL=BAAI/bge-m3" in err
    assert "offline" not in err
    monkeypatch.setattr(emb, "has_cuda_gpu", lambda: True)
    assert choose_model(load_settings()) == BUNDLED  # tests run with HF_HUB_OFFLINE=1
    assert "downloads are off (HF_HUB_OFFLINE)" in notices(caplog)
    monkeypatch.setattr(emb, "hub_reachable", lambda: True)
    assert choose_model(load_settings()) == PREFERRED
    assert "downloading BAAI/bge-m3 once (2.3 GB)" in notices(caplog)
    monkeypatch.setenv("RAGCHAT_EMBEDDING_MODEL", "minilm")
    assert choose_model(load_settings()) == BUNDLED
    assert notices(caplog) == ""  # chosen on purpose: nothing to say


def test_a_long_cpu_embedding_run_is_announced_with_its_eta(monkeypatch):
    import ragchat.embeddings as emb

    monkeypatch.setattr(emb, "has_cuda_gpu", lambda: False)
    monkeypatch.setattr(emb.os, "cpu_count", lambda: 2)
    rate = emb.CPU_CHUNKS_PER_S[PREFERRED]
    notice = emb.long_run_notice(PREFERRED, int(rate * 600), load_settings())
    assert notice and "about 10 minutes" in notice and "RAGCHAT_EMBEDDING_MODEL=minilm" in notice
    assert emb.long_run_notice(PREFERRED, 1, load_settings()) is None
    assert emb.long_run_notice(BUNDLED, 1000, load_settings()) is None  # about a minute
    # the bundled model itself: the time, and no advice to switch to what is already used
    bundled = emb.long_run_notice(BUNDLED, int(emb.CPU_CHUNKS_PER_S[BUNDLED] * 240),
                                  load_settings())
    assert bundled and "about 4 minutes" in bundled and "minilm" not in bundled
    assert "only new and changed files" in bundled
    monkeypatch.setattr(emb, "has_cuda_gpu", lambda: True)
    assert emb.long_run_notice(PREFERRED, 100_000, load_settings()) is None
