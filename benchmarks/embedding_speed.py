"""Embedding speed on this CPU, ragchat's NumPy encoder against torch (sentence-transformers,
transformers), side by side: the bundled all-MiniLM-L6-v2, and a model of BAAI/bge-m3's exact
architecture and size.

    python benchmarks/embedding_speed.py --folder DOCS --korean benchmarks/data/KorQuAD_v1.0_dev.json

Needs the dev extra (torch, sentence-transformers, transformers), which the NumPy encoder is
measured against. bge-m3 cannot be downloaded everywhere (no model hub here), and its speed
does not depend on its weights: the stand-in is XLM-RoBERTa-large built by transformers from
bge-m3's published config (24 layers, hidden 1024, 16 heads, FFN 4096, vocabulary 250002; 568M
parameters) with random weights, run by torch (a sentence-transformers-style forward pass:
CLS pooling, 512-token cap as ragchat sets it) and, saved as a sentence-transformers folder,
by the NumPy encoder on the same token ids. Its inputs have the lengths of the real chunks: each chunk
is tokenized by MiniLM's WordPiece tokenizer and the bge-m3 stand-in gets random token ids of
the same length (XLM-R's own tokenizer gives somewhat fewer tokens for Korean, about as many
for English: this slightly overstates bge-m3's cost on Korean). What each model buys in
retrieval quality is not measured here for bge-m3 (see docs/performance.md).

Chunks come from ragchat's own reader and chunker over --folder (English) and from the
KorQuAD passages of --korean. Reports chunks/s per model, runtime and language, and the load
time of each MiniLM runtime in a fresh process. Writes
benchmarks/results/embedding-speed-NAME.json.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import load_squad, save_results, script_parser
from tables import markdown_table, number, read_results, table, table_mode

BGE_M3_CONFIG = {  # config.json of BAAI/bge-m3 as published
    "model_type": "xlm-roberta", "vocab_size": 250002, "hidden_size": 1024,
    "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
    "max_position_embeddings": 8194, "type_vocab_size": 1, "pad_token_id": 1,
    "layer_norm_eps": 1e-05, "hidden_act": "gelu",
}
MAX_TOKENS = 512  # ragchat caps every local model at 512 tokens (ragchat/embeddings/local.py)


def english_chunks(folder: Path, count: int, rng: random.Random) -> list[str]:
    from ragchat.ingest.budgets import ReadOptions
    from ragchat.ingest.chunking import chunk_sections
    from ragchat.ingest.readers import file_kind, read_document

    chunks = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and file_kind(path) in ("markdown", "rst", "text"):
            sections = list(read_document(path, ReadOptions(ocr="off")).sections)
            chunks += [c.index_text for c in chunk_sections(sections, 800, 120)]
    return rng.sample(chunks, min(count, len(chunks)))


def korean_chunks(qa_file: Path, count: int, rng: random.Random) -> list[str]:
    passages = [p.context for a in load_squad(qa_file) for p in a.paragraphs]
    return [p[:1000] for p in rng.sample(passages, min(count, len(passages)))]


def rate(fn, texts: list[str], batch: int) -> float:
    """Chunks per second of fn over texts, after a warm-up call on one text."""
    fn(texts[:1])
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        fn(texts[i:i + batch])
    return len(texts) / (time.perf_counter() - start)


def minilm_rates(texts: list[str], batch: int, rounds: int = 1) -> dict[str, float]:
    """Chunks/s of each runtime: the median of `rounds` runs, the runtimes in turn, so that
    other work on the machine slows both alike."""
    from ragchat.embeddings import bundled_minilm_path
    from ragchat.embeddings.encoder import NumpyEncoder

    numpy_encoder = NumpyEncoder(bundled_minilm_path())
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(bundled_minilm_path(), device="cpu")
    model.max_seq_length = 256
    runs: dict[str, list[float]] = {"numpy": [], "torch": []}
    for _ in range(rounds):
        runs["numpy"].append(rate(lambda t: numpy_encoder.encode(t, batch_size=batch), texts,
                                  batch))
        runs["torch"].append(rate(lambda t: model.encode(t, batch_size=batch,
                                                         normalize_embeddings=True), texts, batch))
    return {runtime: statistics.median(r) for runtime, r in runs.items()}


def bge_m3_rates(texts: list[str], batch: int) -> tuple[dict[str, float], float]:
    """Chunks/s of a random-weight model of bge-m3's architecture on token ids of these
    texts' lengths: torch (transformers) and the NumPy encoder, on the same ids."""
    import tempfile

    import torch
    from transformers import AutoConfig, AutoModel

    from ragchat.embeddings import bundled_minilm_path
    from ragchat.embeddings.encoder import NumpyEncoder

    tokenizer = NumpyEncoder(bundled_minilm_path()).tokenizer
    tokenizer.enable_truncation(MAX_TOKENS)
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    torch.manual_seed(0)
    model = AutoModel.from_config(AutoConfig.for_model(**BGE_M3_CONFIG)).eval()
    generator = torch.Generator().manual_seed(0)
    ids = [[0, *torch.randint(5, 250000, (n - 2,), generator=generator).tolist(), 2]
           for n in lengths]

    def encode(chunk_ids: list[list[int]]) -> None:
        longest = max(len(x) for x in chunk_ids)
        tokens = torch.full((len(chunk_ids), longest), 1, dtype=torch.long)
        mask = torch.zeros_like(tokens)
        for row, x in enumerate(chunk_ids):
            tokens[row, :len(x)] = torch.tensor(x)
            mask[row, :len(x)] = 1
        with torch.inference_mode():
            out = model(input_ids=tokens, attention_mask=mask).last_hidden_state[:, 0]
            torch.nn.functional.normalize(out, dim=-1)

    ordered = sorted(ids, key=len, reverse=True)  # as sentence-transformers batches by length
    rates = {"torch": rate(encode, ordered, batch)}
    with tempfile.TemporaryDirectory() as folder:
        save_stand_in(model, Path(folder))
        numpy_encoder = NumpyEncoder(folder, max_tokens=MAX_TOKENS)
        rates["numpy"] = rate(lambda x: numpy_encoder.encode_ids(x, batch), ordered, batch)
    return rates, sum(lengths) / len(lengths)


def save_stand_in(model, folder: Path) -> None:
    """The model as a sentence-transformers folder with CLS pooling, as bge-m3's (its
    tokenizer.json is MiniLM's: only token ids are fed to it here)."""
    import json
    import shutil

    from ragchat.embeddings import bundled_minilm_path

    model.save_pretrained(folder)
    shutil.copy(Path(bundled_minilm_path()) / "tokenizer.json", folder / "tokenizer.json")
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": BGE_M3_CONFIG["hidden_size"], "pooling_mode_cls_token": True,
         "pooling_mode_mean_tokens": False}))
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"}]))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 8192}))


def load_seconds(runtime: str) -> float:
    """A fresh process: imports and model load of one MiniLM runtime, then one query."""
    code = ("import time; t = time.perf_counter()\n"
            "from ragchat.config import load_settings\n"
            "from ragchat.embeddings import BUNDLED, load_embedder\n"
            "load_embedder(BUNDLED, load_settings()).embed(['a query'])\n"
            "print(time.perf_counter() - t)")
    env = {"RAGCHAT_EMBEDDING_RUNTIME": runtime, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = script_parser(__doc__)
    ap.add_argument("--folder", type=Path, required=True, help="English documents to chunk")
    ap.add_argument("--korean", type=Path, help="KorQuAD-format file for Korean passages")
    ap.add_argument("--chunks", type=int, default=64, help="chunks per language")
    ap.add_argument("--bge-chunks", type=int, default=24,
                    help="of those, how many the (slow) bge-m3 stand-in embeds")
    ap.add_argument("--batch", type=int, default=32, help="embedding batch (ragchat's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=1,
                    help="MiniLM runs per runtime, in turn (the median is kept)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    sets = {"english": english_chunks(args.folder, args.chunks, rng)}
    if args.korean:
        sets["korean"] = korean_chunks(args.korean, args.chunks, rng)
    loads = {runtime: load_seconds(runtime) for runtime in ("numpy", "torch")}
    languages, rows = {}, []
    for language, texts in sets.items():
        minilm = minilm_rates(texts, args.batch, args.rounds)
        bge, tokens = bge_m3_rates(texts[:args.bge_chunks], args.batch)
        languages[language] = {"chunks": len(texts), "mean_tokens": tokens,
                               "minilm_numpy_chunks_per_s": minilm["numpy"],
                               "minilm_torch_chunks_per_s": minilm["torch"],
                               "bge_m3_chunks": min(args.bge_chunks, len(texts)),
                               "bge_m3_architecture_chunks_per_s": bge["torch"],
                               "bge_m3_architecture_numpy_chunks_per_s": bge["numpy"],
                               "minilm_torch_over_bge_m3": minilm["torch"] / bge["torch"],
                               "minilm_numpy_over_bge_m3_numpy": minilm["numpy"] / bge["numpy"]}
        rows.append([language, len(texts), round(tokens), minilm["numpy"], minilm["torch"],
                     bge["numpy"], bge["torch"]])
    print(table(rows, ["chunks", "n", "tokens", "MiniLM numpy/s", "MiniLM torch/s",
                       "bge-m3 arch numpy/s", "bge-m3 arch torch/s"]))
    print(f"load + first query in a fresh process: numpy {loads['numpy']:.2f} s, "
          f"torch {loads['torch']:.2f} s")
    report = {"batch": args.batch, "rounds": args.rounds, "bge_m3_chunks": args.bge_chunks, "max_tokens": MAX_TOKENS,
              "load_and_first_query_s": loads, "languages": languages,
              "bge_m3_config": BGE_M3_CONFIG}
    path = save_results(f"embedding-speed-{args.name}", report, args.out_dir)
    print(f"\nwrote {path}")


def markdown(paths: list[Path]) -> str:
    """Chunks per second per language and model, and MiniLM's speed over bge-m3's."""
    rows = []
    for path in paths:
        for language, rate in read_results(path)["languages"].items():
            rows.append([f"{language} ({rate['mean_tokens']:.0f})",
                         *(number(rate[f"{key}_chunks_per_s"], 3 if key.startswith("bge") else 2)
                           for key in ("minilm_torch", "minilm_numpy", "bge_m3_architecture")),
                         number(rate["minilm_torch_over_bge_m3"], 1)])
    return markdown_table(["chunks (mean tokens)", "MiniLM, torch /s", "MiniLM, NumPy /s",
                           "bge-m3 architecture, torch /s", "MiniLM / bge-m3"], rows)


def side_by_side(paths: list[Path]) -> str:
    """Chunks per second of each model, NumPy encoder beside torch, per language."""
    rows = []
    for path in paths:
        for language, r in read_results(path)["languages"].items():
            for model, key, digits in (("all-MiniLM-L6-v2", "minilm", 1),
                                       ("bge-m3 architecture", "bge_m3_architecture", 2)):
                numpy_rate = r[f"{key}_numpy_chunks_per_s"]
                torch_rate = r[f"{key}_torch_chunks_per_s" if key == "minilm"
                               else f"{key}_chunks_per_s"]
                rows.append([f"{language} ({r['mean_tokens']:.0f})", model,
                             number(numpy_rate, digits), number(torch_rate, digits),
                             number(numpy_rate / torch_rate, 2)])
    return markdown_table(["chunks (mean tokens)", "model", "NumPy encoder /s", "torch /s",
                           "NumPy / torch"], rows)


TABLES = {"rates": markdown, "side-by-side": side_by_side}


if __name__ == "__main__" and not table_mode(TABLES):
    main()
