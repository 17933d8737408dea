"""A random-weight Qwen2 model with a ChatML tokenizer, made on the spot (no model hub).

The tokenizer is a byte-level BPE trained in a second on Python's own documentation, with
Qwen's special tokens; the model has Qwen2.5-0.5B's shape (vocabulary padded to Qwen's
151936, so the output layer costs what the real one does) and random weights, saved as
fp16 safetensors. With --reference, a transformers forward pass over a fixed text is saved
as the reference logits for the logits check. Random weights say nothing about answer
quality: only about speed, memory and numerical agreement between engines.

  python benchmarks/gpu/testmodel.py --out /data/fp16 --reference /data/ref.pt [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
          "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


@dataclass(frozen=True)
class Shape:
    layers: int = 24
    hidden: int = 896
    heads: int = 14
    kv_heads: int = 2
    intermediate: int = 4864
    vocab: int = 151936


SHAPES = {"small": Shape(), "tiny": Shape(2, 128, 4, 2, 256, 4096)}


def corpus() -> list[str]:
    """Ordinary English text that every Python ships (pydoc_data)."""
    from pydoc_data.topics import topics

    return [" ".join(topics[k].split()) for k in sorted(topics)]


def make_tokenizer(out: Path, vocab: int = 8192) -> Path:
    """tokenizer.json + tokenizer_config.json (ChatML template, <|im_end|> as eos)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=list(SPECIAL),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "chat_template": CHATML,
              "bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
              "model_max_length": 32768, "clean_up_tokenization_spaces": False}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return out


def make_model(shape: Shape, tokenizer: Path, device: str, seed: int = 1234):
    import torch
    from tokenizers import Tokenizer
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = Tokenizer.from_file(str(tokenizer / "tokenizer.json"))
    vocab = max(shape.vocab, tok.get_vocab_size())
    config = Qwen2Config(
        vocab_size=vocab, hidden_size=shape.hidden, intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads, max_position_embeddings=32768, rms_norm_eps=1e-6,
        rope_theta=1e6, tie_word_embeddings=False, use_sliding_window=False,
        eos_token_id=tok.token_to_id("<|im_end|>"), pad_token_id=tok.token_to_id("<|endoftext|>"),
    )
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(torch.float16)
    randomize(model, seed)
    return model.eval()


def randomize(model, seed: int, logit_std: float = 3.0) -> None:
    """Non-trivial norms and biases (a loader that drops them is caught) and an output layer
    scaled so that logits spread by about `logit_std`."""
    import torch

    gen = torch.Generator(device=model.device).manual_seed(seed)

    def noise(param, scale: float):
        return scale * torch.randn(param.shape, generator=gen, device=param.device,
                                   dtype=param.dtype)

    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + noise(param, 0.1))
            elif name.endswith(".bias"):
                param.copy_(noise(param, 0.05))
        head = model.get_output_embeddings().weight
        head.copy_(noise(head, logit_std / math.sqrt(head.shape[1])))


def save(model, tokenizer: Path, out: Path) -> int:
    """safetensors + config.json as ExLlamaV2 0.3 reads it (top-level rope_theta, no window)."""
    import shutil

    model.save_pretrained(str(out), max_shard_size="4GB")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(tokenizer / name, out / name)
    path = out / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    rope = config.get("rope_parameters") or {}
    config.setdefault("rope_theta", rope.get("rope_theta", 1e6))
    config.pop("sliding_window", None)
    config.setdefault("torch_dtype", "float16")
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return sum(p.stat().st_size for p in out.glob("*.safetensors"))


def reference(model, tokenizer: Path, path: Path, tokens: int = 256) -> None:
    """Logits of a transformers forward pass (float32 copy of the weights) over fixed text."""
    import torch
    from tokenizers import Tokenizer

    ids = Tokenizer.from_file(str(tokenizer / "tokenizer.json")).encode(" ".join(corpus())).ids
    ids = ids[:tokens]
    model.to(torch.float32)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids], device=model.device)).logits[0]
    torch.save({"input_ids": torch.tensor(ids), "logits": logits.float().cpu()}, str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="model folder to write")
    parser.add_argument("--reference", help="also save reference logits here (.pt)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = Path(args.out)
    shape = SHAPES[args.shape]
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = make_tokenizer(Path(tmp))
        model = make_model(shape, tokenizer, args.device)
        size = save(model, tokenizer, out)
        if args.reference:
            reference(model, tokenizer, Path(args.reference))
    report = {"out": str(out), "shape": asdict(shape), "bytes": size,
              "params": sum(p.numel() for p in model.parameters()),
              "seconds": round(time.perf_counter() - started, 1)}
    (out / "test_model.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
