"""ExLlamaV2's logits against a transformers forward pass over the same tokens.

The reference (a .pt file with `input_ids` and float32 `logits`) is written by
`make_test_model.py model --reference-out`, from the very model object it saves. This script
loads each given folder with ExLlamaV2 (the unquantized fp16 folder, then its EXL2
conversion), runs one forward pass over the same ids and reports, per folder:

  max_abs_diff, mean_abs_diff   over all positions and vocabulary entries
  rel_max_diff                  max_abs_diff / the reference logits' standard deviation
  cosine                        mean over positions of the cosine of the two logit vectors
  top1_agreement                share of positions where both pick the same next token
  kl                            mean KL(reference || ExLlamaV2) of the next-token distributions

and whether it passes: fp16 folders must agree as closely as two fp16 engines do, EXL2 ones
must stay close (thresholds below, --help). Needs CUDA; writes one JSON file.

  python benchmarks/gpu/check_logits.py --reference ref.pt --model small-fp16 \\
      --model small-exl2 --out logits.json

Results are added to --out (an entry for the same folder is replaced), so several models can
share one file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# (min cosine, min top-1 agreement) per kind of weights
THRESHOLDS = {"fp16": (0.999, 0.97), "exl2": (0.95, 0.70)}


@dataclass(frozen=True)
class Agreement:
    positions: int
    vocab: int
    max_abs_diff: float
    mean_abs_diff: float
    ref_std: float
    rel_max_diff: float
    cosine: float
    top1_agreement: float
    kl: float


def compare(ref: Any, got: Any) -> Agreement:
    """Agreement of two (positions, vocab) logit tensors; both are cast to float32."""
    import torch

    ref = ref.float()
    got = got.float()[:, : ref.shape[1]]
    if got.shape != ref.shape:
        raise ValueError(f"shapes differ: reference {tuple(ref.shape)}, got {tuple(got.shape)}")
    diff = (got - ref).abs()
    std = float(ref.std())
    log_p = torch.log_softmax(ref, dim=-1)
    log_q = torch.log_softmax(got, dim=-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1).mean()
    return Agreement(
        positions=int(ref.shape[0]), vocab=int(ref.shape[1]),
        max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()), ref_std=std,
        rel_max_diff=float(diff.max()) / std if std else float("inf"),
        cosine=float(torch.nn.functional.cosine_similarity(ref, got, dim=-1).mean()),
        top1_agreement=float((ref.argmax(-1) == got.argmax(-1)).float().mean()),
        kl=float(kl),
    )


def weights_kind(model_dir: Path) -> str:
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    quant = config.get("quantization_config") or {}
    return "exl2" if isinstance(quant, dict) and quant.get("quant_method") == "exl2" else "fp16"


def passes(kind: str, agreement: Agreement) -> bool:
    min_cos, min_top1 = THRESHOLDS[kind]
    return agreement.cosine >= min_cos and agreement.top1_agreement >= min_top1


def exllamav2_logits(model_dir: Path, ids: Any) -> tuple[Any, float]:
    """Logits of one ExLlamaV2 forward pass (no cache) over `ids`, and the load time."""
    import torch
    from exllamav2 import ExLlamaV2, ExLlamaV2Config

    started = time.perf_counter()
    config = ExLlamaV2Config(str(model_dir))
    config.arch_compat_overrides()
    length = int(ids.shape[-1])
    config.max_input_len = max(config.max_input_len, length)
    config.max_attention_size = max(config.max_attention_size, length * length)
    model = ExLlamaV2(config)
    model.load()
    load_s = time.perf_counter() - started
    try:
        with torch.inference_mode():
            logits = model.forward(ids.view(1, -1).to(torch.long))
        return logits[0].float().cpu(), load_s
    finally:
        model.unload()
        del model
        torch.cuda.empty_cache()


def check(reference: dict, model_dir: Path) -> dict:
    kind = weights_kind(model_dir)
    logits, load_s = exllamav2_logits(model_dir, reference["input_ids"])
    agreement = compare(reference["logits"], logits)
    return {"model": str(model_dir), "kind": kind, "load_s": round(load_s, 2),
            **asdict(agreement), "thresholds": dict(zip(("cosine", "top1"), THRESHOLDS[kind])),
            "pass": passes(kind, agreement)}


def read_report(path: Path) -> dict:
    """The results file so far (several runs add to one file), or a new one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        data = {"results": []}
    return data


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1]
                                     + f"\nthresholds (min cosine, min top-1): {THRESHOLDS}")
    parser.add_argument("--reference", required=True, help=".pt file from make_test_model.py")
    parser.add_argument("--model", action="append", required=True,
                        help="fp16 or EXL2 folder (repeatable)")
    parser.add_argument("--out", required=True, help="JSON file to write (updated per model)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("check_logits.py needs a CUDA GPU (ExLlamaV2 runs only there)", file=sys.stderr)
        return 2
    reference = torch.load(args.reference)
    report = read_report(Path(args.out))
    report["device"] = torch.cuda.get_device_name(0)
    failed = False
    for folder in args.model:
        try:
            result = check(reference, Path(folder))
        except Exception as exc:  # report and go on with the next folder
            result = {"model": folder, "error": f"{type(exc).__name__}: {exc}", "pass": False}
        result.update(reference=args.reference, reference_dtype=reference.get("dtype"),
                      tokens=int(reference["input_ids"].numel()))
        failed |= not result["pass"]
        report["results"] = [r for r in report["results"] if r.get("model") != result["model"]]
        report["results"].append(result)
        write_json(Path(args.out), report)
        print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
