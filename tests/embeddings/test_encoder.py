"""The NumPy encoder gives sentence-transformers' vectors (so indexes built by either stay
valid), and searching loads no torch."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ragchat.config import load_settings
from ragchat.embeddings import BUNDLED, bundled_minilm_path, choose_runtime, load_embedder
from ragchat.embeddings.encoder import NumpyEncoder, supports

TOLERANCE = 1e-5  # largest difference of any vector component (the vectors have unit length)

TEXTS = [
    "how does ragchat find Korean text",
    "x",
    "경주는 신라의 수도였다. 불국사와 석굴암은 경주에 있다.",
    "Tomatoes need six hours of sun and deep watering twice a week. " * 60,  # truncated
    "# Install\n\nRun `pipx install .` and wait for llama.cpp to compile.",
]


@pytest.fixture(scope="module")
def sentence_transformer():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(bundled_minilm_path(), device="cpu")


def test_bundled_minilm_vectors_match_sentence_transformers(sentence_transformer):
    numpy_vectors = NumpyEncoder(bundled_minilm_path()).encode(TEXTS, batch_size=2)
    torch_vectors = sentence_transformer.encode(TEXTS, normalize_embeddings=True, batch_size=2)
    assert numpy_vectors.shape == (len(TEXTS), 384) and numpy_vectors.dtype == np.float32
    assert np.abs(numpy_vectors - torch_vectors).max() < TOLERANCE
    assert np.allclose(np.linalg.norm(numpy_vectors, axis=1), 1.0, atol=1e-5)


def test_a_text_gets_the_same_vector_alone_and_in_a_padded_batch():
    encoder = NumpyEncoder(bundled_minilm_path())
    alone = encoder.encode(TEXTS[:1])
    batched = encoder.encode(TEXTS, batch_size=len(TEXTS))
    assert np.abs(alone[0] - batched[0]).max() < TOLERANCE


def _save_random_model(folder, model_type: str, pooling: str) -> None:
    """A small model of the given architecture with random weights, saved as a
    sentence-transformers folder (what a user's own or a cached hub model looks like)."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    torch.manual_seed(0)
    hf_folder = folder / "hf"
    config = AutoConfig.for_model(model_type, vocab_size=30522, hidden_size=64,
                                  num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=128, max_position_embeddings=130,
                                  pad_token_id=0 if model_type == "bert" else 1,
                                  type_vocab_size=1 if model_type == "xlm-roberta" else 2)
    AutoModel.from_config(config).save_pretrained(hf_folder)
    AutoTokenizer.from_pretrained(bundled_minilm_path()).save_pretrained(hf_folder)
    transformer = models.Transformer(str(hf_folder), max_seq_length=128)
    pool = models.Pooling(64, pooling_mode=pooling)
    SentenceTransformer(modules=[transformer, pool, models.Normalize()]).save(str(folder))


@pytest.mark.parametrize("model_type,pooling", [("bert", "cls"), ("xlm-roberta", "mean"),
                                                ("xlm-roberta", "cls")])
def test_other_architectures_and_poolings_match(tmp_path, model_type, pooling):
    from sentence_transformers import SentenceTransformer

    _save_random_model(tmp_path, model_type, pooling)
    assert supports(tmp_path)
    expected = SentenceTransformer(str(tmp_path), device="cpu").encode(
        TEXTS, normalize_embeddings=True, batch_size=3)
    got = NumpyEncoder(tmp_path).encode(TEXTS, batch_size=3)
    assert np.abs(got - expected).max() < TOLERANCE


def test_unsupported_folders_go_to_sentence_transformers(tmp_path, monkeypatch):
    assert not supports(tmp_path)  # empty folder
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    assert not supports(tmp_path)
    monkeypatch.setenv("RAGCHAT_EMBEDDING_MODEL", str(tmp_path))
    assert choose_runtime(str(tmp_path), load_settings()) == "torch"
    monkeypatch.setenv("RAGCHAT_EMBEDDING_RUNTIME", "numpy")
    from ragchat.errors import ModelError

    with pytest.raises(ModelError, match="NumPy encoder cannot run"):
        choose_runtime(str(tmp_path), load_settings())


def test_runtime_choice(monkeypatch):
    settings = load_settings()
    assert choose_runtime(BUNDLED, settings, texts=1) == "numpy"
    assert choose_runtime(BUNDLED, settings, texts=100_000) == "torch"
    assert choose_runtime("api:BAAI/bge-m3", settings) == "api"
    monkeypatch.setenv("RAGCHAT_EMBEDDING_RUNTIME", "torch")
    assert choose_runtime(BUNDLED, load_settings()) == "torch"
    monkeypatch.setenv("RAGCHAT_EMBEDDING_RUNTIME", "numpy")
    assert choose_runtime(BUNDLED, load_settings(), texts=100_000) == "numpy"


def test_both_runtimes_embed_through_load_embedder(monkeypatch):
    fast = load_embedder(BUNDLED, load_settings())
    monkeypatch.setenv("RAGCHAT_EMBEDDING_RUNTIME", "torch")
    slow = load_embedder(BUNDLED, load_settings())
    assert type(fast).__name__ == "NumpyEmbedder" and type(slow).__name__ == "LocalEmbedder"
    assert (fast.dim, fast.max_chars) == (slow.dim, slow.max_chars)
    assert np.abs(fast.embed(TEXTS) - slow.embed(TEXTS)).max() < TOLERANCE


def test_a_hybrid_search_imports_no_torch(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Bees\n\nHoney bees dance to show where flowers are.\n")
    code = ("import sys; from ragchat.cli.main import main\n"
            f"for args in (['ingest', {str(docs)!r}], ['search', 'flowers']):\n"
            "    try:\n        main(args)\n    except SystemExit as e:\n        assert not e.code\n"
            "print('HEAVY', [m for m in ('torch', 'sentence_transformers', 'transformers')"
            " if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in out.stdout and "Honey bees" in out.stdout, out.stdout + out.stderr
