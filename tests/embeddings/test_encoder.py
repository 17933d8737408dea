"""The NumPy encoder gives sentence-transformers' vectors (so indexes built by either stay
valid), for BERT and XLM-RoBERTa (bge-m3's architecture) with their own tokenizers, from
safetensors or PyTorch checkpoints; it runs without torch, and searching loads no torch.

The parity tests need torch and sentence-transformers: the dev extra installs them."""

import json
import math
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import ragchat.embeddings as emb
from ragchat.config import load_settings
from ragchat.embeddings import BUNDLED, bundled_minilm_path, choose_runtime, load_embedder
from ragchat.embeddings.encoder import NumpyEncoder, plan_groups, supports
from ragchat.embeddings.forward import gelu_
from ragchat.embeddings.weights import load_checkpoint
from ragchat.errors import ModelError

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


def _xlm_roberta_tokenizer(folder):
    """A tokenizer.json of XLM-RoBERTa's kind (bge-m3's): a SentencePiece unigram model with
    the metaspace pre-tokenizer, <s> text </s>, <pad> = 1; trained here on a little English
    and Korean, built with the `tokenizers` library alone. Wrapped for transformers, so that
    sentence-transformers tokenizes with the same file."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁")
    corpus = [t for t in TEXTS for _ in range(3)] + [
        "서울은 한국의 수도이다. 회의록과 예산을 찾아라.", "Embeddings map text to vectors."]
    tokenizer.train_from_iterator(corpus, trainers.UnigramTrainer(
        vocab_size=300, special_tokens=specials, unk_token="<unk>"))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)])
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                            unk_token="<unk>", sep_token="</s>", cls_token="<s>",
                            pad_token="<pad>", mask_token="<mask>").save_pretrained(folder)


def _save_random_model(folder, model_type: str, pooling: str) -> None:
    """A small model of the given architecture with random weights and its family's
    tokenizer, saved as a sentence-transformers folder (what a user's own or a cached hub
    model looks like)."""
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
    if model_type == "xlm-roberta":
        _xlm_roberta_tokenizer(hf_folder)
    else:
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


def test_bge_m3s_tokenizer_kind_runs_without_transformers(tmp_path):
    """The XLM-RoBERTa path end to end in a process where torch, transformers and
    sentence-transformers cannot be imported: the `tokenizers` library reads tokenizer.json
    and the vectors are sentence-transformers' (computed here, where they can)."""
    from sentence_transformers import SentenceTransformer

    _save_random_model(tmp_path, "xlm-roberta", "cls")
    expected = SentenceTransformer(str(tmp_path), device="cpu").encode(
        TEXTS, normalize_embeddings=True)
    code = (BLOCK_TORCH + "import json, sys, numpy as np\n"
            "from ragchat.embeddings.encoder import NumpyEncoder\n"
            f"v = NumpyEncoder({str(tmp_path)!r}).encode(json.loads(sys.argv[1]))\n"
            f"np.save({str(tmp_path / 'v.npy')!r}, v)\n")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(TEXTS)], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    got = np.load(tmp_path / "v.npy")
    assert np.abs(got - expected).max() < TOLERANCE
    ids = NumpyEncoder(tmp_path).tokenizer.encode(TEXTS[2]).ids
    assert ids[0] == 0 and ids[-1] == 2  # <s> ... </s>, as XLM-RoBERTa's template adds


BLOCK_TORCH = ("import sys\n"
               "class Block:\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] in ('torch', 'transformers',"
               " 'sentence_transformers'):\n"
               "            raise ImportError('blocked: ' + name)\n"
               "sys.meta_path.insert(0, Block())\n")


def test_a_pytorch_checkpoint_gives_the_same_vectors(tmp_path):
    """bge-m3 and other models published with pytorch_model.bin only: read without torch."""
    import torch
    from safetensors.numpy import load_file

    _save_random_model(tmp_path, "xlm-roberta", "mean")
    from_safetensors = NumpyEncoder(tmp_path).encode(TEXTS)
    weights = load_file(str(tmp_path / "model.safetensors"))
    torch.save({k: torch.from_numpy(v) for k, v in weights.items()},
               str(tmp_path / "pytorch_model.bin"))
    (tmp_path / "model.safetensors").unlink()
    assert supports(tmp_path)
    assert np.array_equal(NumpyEncoder(tmp_path).encode(TEXTS), from_safetensors)


def test_checkpoint_reader_types_views_and_refusals(tmp_path):
    import torch

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = {"t": base.t(), "half": base.half(), "bf16": base.bfloat16()[1:3],
             "shared": base[2], "long": torch.arange(3)}
    torch.save(state, str(tmp_path / "w.bin"))
    got = load_checkpoint(tmp_path / "w.bin")
    for key, value in state.items():
        assert np.array_equal(got[key], value.float().numpy() if key == "bf16" else value.numpy())

    class Evil:
        def __reduce__(self):
            return (print, ("ran code",))

    with zipfile.ZipFile(tmp_path / "evil.bin", "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"x": Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        load_checkpoint(tmp_path / "evil.bin")


def test_gelu_is_the_erf_gelu():
    x = np.linspace(-10, 10, 200_001, dtype=np.float32)
    expected = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()])
    got = x.copy()
    gelu_(got, *(np.empty_like(x) for _ in range(3)))
    assert got.dtype == np.float32
    assert np.abs(got - expected).max() < 1e-6 * 10  # |x| up to 10: a few float32 steps


def test_groups_cover_every_text_once_and_balance_tokens():
    lengths = [500, 20, 300, 7, 256, 256, 90, 3] * 9
    groups = plan_groups(lengths, batch_size=32, cores=2)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert all(len(g) <= 32 for g in groups) and len(groups) >= 3
    loads = [sum(lengths[i] for i in g) for g in groups]
    assert max(loads) - min(loads) <= max(lengths)
    assert plan_groups([12], 32, cores=2) == [[0]]  # a query: one group, no thread
    assert len(plan_groups([200, 200, 200], 32, cores=2)) == 2


def test_threads_and_groups_do_not_change_vectors():
    encoder = NumpyEncoder(bundled_minilm_path())
    many = TEXTS * 8
    together = encoder.encode(many, batch_size=4)
    one_by_one = np.stack([encoder.encode([t])[0] for t in TEXTS])
    assert np.abs(together - np.tile(one_by_one, (8, 1))).max() < TOLERANCE


def test_unsupported_folders_need_sentence_transformers(tmp_path, monkeypatch):
    assert not supports(tmp_path)  # empty folder
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    assert not supports(tmp_path)
    monkeypatch.setenv("RAGCHAT_EMBEDDING_MODEL", str(tmp_path))
    monkeypatch.setattr(emb, "torch_installed", lambda: True)
    assert choose_runtime(str(tmp_path), load_settings()) == "torch"
    monkeypatch.setattr(emb, "torch_installed", lambda: False)
    with pytest.raises(ModelError, match="NumPy encoder cannot run") as raised:
        choose_runtime(str(tmp_path), load_settings())
    assert "gpu extra" in raised.value.hint
    monkeypatch.setattr(emb, "torch_installed", lambda: True)
    monkeypatch.setenv("RAGCHAT_EMBEDDING_RUNTIME", "numpy")
    with pytest.raises(ModelError, match="NumPy encoder cannot run"):
        choose_runtime(str(tmp_path), load_settings())


def test_runtime_choice(monkeypatch):
    """The NumPy encoder embeds queries and ingests of any size on a CPU; torch runs only
    when asked for, or for large ingests on a CUDA GPU with torch installed."""
    monkeypatch.setattr(emb, "has_cuda_gpu", lambda: False)
    settings = load_settings()
    assert choose_runtime(BUNDLED, settings, texts=1) == "numpy"
    assert choose_runtime(BUNDLED, settings, texts=100_000) == "numpy"
    assert choose_runtime("api:BAAI/bge-m3", settings) == "api"
    monkeypatch.setattr(emb, "has_cuda_gpu", lambda: True)
    monkeypatch.setattr(emb, "torch_installed", lambda: True)
    assert choose_runtime(BUNDLED, settings, texts=1) == "numpy"
    assert choose_runtime(BUNDLED, settings, texts=100_000) == "torch"
    monkeypatch.setattr(emb, "torch_installed", lambda: False)
    assert choose_runtime(BUNDLED, settings, texts=100_000) == "numpy"
    monkeypatch.setenv("RAGCHAT_EMBEDDING_RUNTIME", "torch")
    assert choose_runtime(BUNDLED, load_settings()) == "torch"
    monkeypatch.setenv("RAGCHAT_EMBEDDING_RUNTIME", "numpy")
    monkeypatch.setattr(emb, "torch_installed", lambda: True)
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
