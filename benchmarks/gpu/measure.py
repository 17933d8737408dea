"""Speed of an EXL2 model through ragchat's own exllamav2 backend, on a CUDA GPU.

Measures, for one model folder (each figure is written to the results file as soon as it is
known, so an interrupted run keeps what it measured):

  load        seconds to load (backend construction), GPU memory in use after it
  prefill     prompt tokens/s of a cold prompt (nothing cached), short and long
  decode      new tokens/s after the first, at a short and at a long context
  cache       a three-turn conversation over the same retrieved passages: prompt, cached and
              prefilled tokens and TTFT per turn (turn 3 against turn 1)
  ngram       n-gram drafting on an answer that quotes its context, and on one that does not:
              tokens/s with and without drafting, accepted/rejected draft tokens, same output?
  batch       4 concurrent requests in one generator (paged mode only: needs flash-attn)
  bound       the memory-bandwidth bound: weight bytes read per token (every tensor but the
              embedding table, which ExLlamaV2 keeps in system memory) plus the KV cache so
              far, against the GPU's data-sheet bandwidth and a measured device copy

Decoding runs with greedy sampling and, for the speed figures, with the stop tokens switched
off so that every run produces the asked-for number of tokens. With random weights (the test
models of make_test_model.py) the text means nothing and greedy output tends to repeat
itself, which flatters n-gram drafting: the `ngram.free` row (sampled, not greedy) shows the
other end. Run it with a real EXL2 model for real acceptance rates.

  python benchmarks/gpu/measure.py --model /data/small-exl2 --label small \\
      --out benchmarks/results/gpu-h100-sxm-2026-11-20.json
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (  # noqa: E402
    Results,
    bound_report,
    efficiency,
    english_words,
    filler,
    lookup_bandwidth,
    median,
    results_path,
    weight_bytes_per_token,
)

REPO = Path(__file__).resolve().parents[2]
SYSTEM = "You are a helpful assistant. Answer from the passages; quote them when asked."


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--model", required=True, help="EXL2 model folder")
    parser.add_argument("--label", default=None, help="name of this model in the results "
                        "[default: the folder name]")
    parser.add_argument("--out", default=None, help="results JSON, merged with what it holds "
                        "[default: benchmarks/results/gpu-<device>-<date>.json]")
    parser.add_argument("--cache", default="Q8", help="KV cache type: FP16, Q8, Q6, Q4 [Q8]")
    parser.add_argument("--max-seq-len", type=int, default=32768,
                        help="cache length to allocate [32768]")
    parser.add_argument("--long-context", type=int, default=16384,
                        help="prompt tokens of the long-context runs [16384]")
    parser.add_argument("--new-tokens", type=int, default=256,
                        help="tokens per decode run [256]")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median) [3]")
    parser.add_argument("--skip", default="", help="comma-separated sections to leave out "
                        "(prefill,decode,cache,ngram,batch,bound)")
    parser.add_argument("--note", default="", help="free text stored with the results")
    args = parser.parse_args(argv)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


# ---------------------------------------------------------------- running one request


class FinalResults:
    """Keeps the generator's final result per job (it carries the draft-token counts)."""

    def __init__(self, backend: Any) -> None:
        self.last: dict = {}
        generator = backend.generator
        original = generator.iterate

        def iterate() -> list[dict]:
            results = original()
            for result in results:
                if result.get("eos"):
                    self.last = result
            return results

        generator.iterate = iterate


@contextlib.contextmanager
def no_stop_tokens(backend: Any) -> Iterator[None]:
    saved = backend.stop_ids
    backend.stop_ids = []
    try:
        yield
    finally:
        backend.stop_ids = saved


def run(backend: Any, finals: FinalResults, messages: list[dict], new: int,
        temperature: float = 0.0) -> dict:
    text = "".join(backend.stream(messages, max_new_tokens=new, temperature=temperature))
    stats = backend.last_stats
    final = finals.last
    prefilled = stats.prompt_tokens - stats.cached_tokens
    return {"prompt_tokens": stats.prompt_tokens, "cached_tokens": stats.cached_tokens,
            "new_tokens": stats.new_tokens, "ttft_s": round(stats.ttft_s, 4),
            "prefill_tps": round(prefilled / stats.ttft_s, 1) if stats.ttft_s > 0 else None,
            "decode_tps": round(stats.decode_tps, 1),
            "accepted_draft_tokens": final.get("accepted_draft_tokens"),
            "rejected_draft_tokens": final.get("rejected_draft_tokens"), "text": text}


def cold(text: str) -> str:
    """A prefix no earlier prompt had, so that nothing of this one comes from the cache."""
    return f"[{uuid.uuid4().hex}] {text}"


def user(text: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


def words_for(backend: Any, words: list[str], tokens: int, offset: int = 0) -> str:
    """Running text of about `tokens` tokens in this model's tokenizer."""
    sample = filler(words, 400, offset)
    per_word = max(backend.count_tokens(sample) / 400, 0.5)
    return filler(words, int(tokens / per_word), offset)


def strip_text(runs: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "text"} for r in runs]


# ---------------------------------------------------------------- sections


def measure_prefill(backend: Any, finals: FinalResults, words: list[str], args) -> dict:
    out = {}
    for label, tokens in (("2k", 2048), ("long", args.long_context)):
        prompt = words_for(backend, words, tokens)
        runs = [run(backend, finals, user(cold(prompt)), 1) for _ in range(args.repeats)]
        out[label] = {"prompt_tokens": runs[0]["prompt_tokens"],
                      "prefill_tps": median(r["prefill_tps"] for r in runs),
                      "ttft_s": median(r["ttft_s"] for r in runs)}
    return out


def measure_decode(backend: Any, finals: FinalResults, words: list[str], args) -> dict:
    out = {}
    with no_stop_tokens(backend):
        for label, tokens in (("short", 64), ("long", args.long_context)):
            prompt = words_for(backend, words, tokens, offset=5000)
            runs = [run(backend, finals, user(cold(prompt)), args.new_tokens)
                    for _ in range(args.repeats)]
            out[label] = {"prompt_tokens": runs[0]["prompt_tokens"],
                          "new_tokens": runs[0]["new_tokens"],
                          "decode_tps": median(r["decode_tps"] for r in runs),
                          "runs": strip_text(runs)}
    return out


def measure_cache(backend: Any, finals: FinalResults, words: list[str]) -> dict:
    """Three turns over the same passages, the way a ragchat conversation grows."""
    passages = cold(words_for(backend, words, 2000, offset=20000))
    history = [{"role": "system", "content": f"{SYSTEM}\n\nPassages:\n{passages}"}]
    turns = []
    for question in ("What do the passages say about functions?",
                     "And about classes?", "Summarise both answers in one sentence."):
        history.append({"role": "user", "content": question})
        result = run(backend, finals, history, 48)
        history.append({"role": "assistant", "content": result.pop("text")})
        turns.append(result)
    first, third = turns[0], turns[2]
    return {"turns": turns,
            "turn3_cached_share": round(third["cached_tokens"] / third["prompt_tokens"], 3),
            "turn3_vs_turn1_ttft": round(third["ttft_s"] / first["ttft_s"], 3)
            if first["ttft_s"] else None}


def quote_messages(words: list[str], backend: Any) -> list[dict]:
    passage = words_for(backend, words, 300, offset=40000)
    return [{"role": "system", "content": f"{SYSTEM}\n\nPassage:\n{passage}"},
            {"role": "user", "content": "Repeat the passage above word for word."}]


def ngram_runs(backend: Any, finals: FinalResults, words: list[str], args) -> dict:
    """The quoting answer (greedy) and a free one (sampled), stop tokens off."""
    quote = quote_messages(words, backend)
    free = user("Write a long story about the sea.")
    with no_stop_tokens(backend):
        quoted = [run(backend, finals, quote, args.new_tokens) for _ in range(args.repeats)]
        sampled = [run(backend, finals, free, args.new_tokens, temperature=1.0)
                   for _ in range(args.repeats)]
    return {"quote": quoted, "free": sampled}


def compare_ngram(base: dict, drafted: dict) -> dict:
    out = {}
    for case in ("quote", "free"):
        plain = median(r["decode_tps"] for r in base[case])
        fast = median(r["decode_tps"] for r in drafted[case])
        accepted = sum(r["accepted_draft_tokens"] or 0 for r in drafted[case])
        rejected = sum(r["rejected_draft_tokens"] or 0 for r in drafted[case])
        out[case] = {"decode_tps_plain": plain, "decode_tps_ngram": fast,
                     "speedup": round(fast / plain, 3) if plain and fast else None,
                     "accepted_draft_tokens": accepted, "rejected_draft_tokens": rejected,
                     "acceptance": round(accepted / (accepted + rejected), 3)
                     if accepted + rejected else None}
    out["quote"]["same_output"] = base["quote"][0]["text"] == drafted["quote"][0]["text"]
    return out


def measure_batch(backend: Any, words: list[str], args, single_tps: float | None) -> dict:
    if not backend.paged:
        return {"available": False,
                "reason": "paged mode is off (flash-attn >= 2.5.7 is not installed): the "
                          "generator runs one request at a time"}
    from exllamav2.generator import ExLlamaV2DynamicJob, ExLlamaV2Sampler

    jobs = [ExLlamaV2DynamicJob(
        input_ids=backend.prompt_ids(user(cold(words_for(backend, words, 200, 7000 * i)))),
        max_new_tokens=args.new_tokens, gen_settings=ExLlamaV2Sampler.Settings.greedy(),
        stop_conditions=[]) for i in range(4)]
    with backend._lock:
        started = time.perf_counter()
        for job in jobs:
            backend.generator.enqueue(job)
        while backend.generator.num_remaining_jobs():
            backend.generator.iterate()
        seconds = time.perf_counter() - started
    total = sum(int(job.new_tokens) for job in jobs)
    tps = total / seconds
    return {"available": True, "requests": 4, "new_tokens": total, "seconds": round(seconds, 3),
            "aggregate_tps": round(tps, 1), "single_stream_tps": single_tps,
            "speedup_vs_single": round(tps / single_tps, 2) if single_tps else None}


def copy_bandwidth_gbps() -> float:
    """Device-to-device copy of 1 GiB, bytes read plus written per second."""
    import torch

    size = 1 << 30
    a = torch.empty(size, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        b.copy_(a)
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1000
    del a, b
    torch.cuda.empty_cache()
    return round(2 * size * 10 / seconds / 1e9, 1)


def measure_bound(model_dir: Path, cache_type: str, device: str, contexts: dict) -> dict:
    from ragchat.llm import vram
    from ragchat.llm.models import read_json

    shape = vram.ModelShape.from_config(read_json(model_dir / "config.json"))
    report = bound_report(lookup_bandwidth(device), weight_bytes_per_token(model_dir),
                          vram.kv_bytes_per_token(shape, cache_type), contexts)
    report["copy_gbps_measured"] = copy_bandwidth_gbps()
    return report


# ---------------------------------------------------------------- main


def model_header(model_dir: Path, args) -> dict:
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    keys = ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads",
            "intermediate_size", "vocab_size")
    test_model = model_dir / "test_model.json"
    return {"folder": str(model_dir), "shape": {k: config.get(k) for k in keys},
            "quantization": config.get("quantization_config"),
            "random_weights": test_model.is_file(), "cache_type": args.cache,
            "max_seq_len": args.max_seq_len, "note": args.note}


def load(model_dir: Path, args, ngram: bool) -> tuple[Any, float, FinalResults]:
    import torch

    from ragchat.llm.exl2 import ExLlamaV2Backend

    started = time.perf_counter()
    backend = ExLlamaV2Backend(model_dir, cache_type=args.cache, max_seq_len=args.max_seq_len,
                               ngram_draft=ngram)
    torch.cuda.synchronize()
    return backend, time.perf_counter() - started, FinalResults(backend)


def gpu_header() -> dict:
    import exllamav2
    import torch

    return {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
            "cuda": torch.version.cuda, "exllamav2": exllamav2.__version__}


def guarded(results: Results, label: str, section: str, measure: Any) -> Any:
    """Run one section; a failure is recorded in its place and the next section still runs."""
    try:
        value = measure()
    except Exception as exc:  # one broken section must not lose the others
        value = {"error": f"{type(exc).__name__}: {exc}"}
    results.put(label, section, value)
    return value


def first_pass(model_dir: Path, args, results: Results, label: str, words: list[str]) -> dict:
    """Everything measured on the backend without drafting; returns what later passes need."""
    import torch

    backend, load_s, finals = load(model_dir, args, ngram=False)
    free, total = torch.cuda.mem_get_info()
    results.put(label, "load", {"seconds": round(load_s, 2), "context": backend.context,
                                "paged": backend.paged,
                                "gpu_used_gb": round((total - free) / 1e9, 2)})
    try:
        run(backend, finals, user("Warm up."), 8)
        return measure_sections(backend, finals, args, results, label, words)
    finally:
        backend.close()
        backend.generator = None  # the wrapped iterate() holds the cache: let it go
        gc.collect()
        torch.cuda.empty_cache()


def measure_sections(backend: Any, finals: FinalResults, args, results: Results, label: str,
                     words: list[str]) -> dict:
    done: dict = {}
    sections = {
        "prefill": lambda: measure_prefill(backend, finals, words, args),
        "decode": lambda: measure_decode(backend, finals, words, args),
        "cache": lambda: measure_cache(backend, finals, words),
        "ngram_base": lambda: ngram_runs(backend, finals, words, args),
        "batch": lambda: measure_batch(backend, words, args, pick_tps(done, "short")),
    }
    for name, measure in sections.items():
        if name.split("_")[0] in args.skip:
            continue
        if name == "ngram_base":  # kept for the comparison, stored with it later
            try:
                done[name] = measure()
            except Exception as exc:
                results.put(label, "ngram", {"error": f"{type(exc).__name__}: {exc}"})
        else:
            done[name] = guarded(results, label, name, measure)
    return done


def pick_tps(done: dict, context: str) -> float | None:
    return (done.get("decode") or {}).get(context, {}).get("decode_tps")


def ngram_pass(model_dir: Path, args, words: list[str], base: dict) -> dict:
    backend, _, finals = load(model_dir, args, ngram=True)
    try:
        return compare_ngram(base, ngram_runs(backend, finals, words, args))
    finally:
        backend.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO))
    import torch

    if not torch.cuda.is_available():
        print("measure.py needs a CUDA GPU", file=sys.stderr)
        return 2
    model_dir = Path(args.model).resolve()
    header = gpu_header()
    out = Path(args.out) if args.out else results_path(REPO / "benchmarks" / "results",
                                                        header["device"])
    results = Results(out, header)
    label = args.label or model_dir.name
    results.put(label, "model", model_header(model_dir, args))
    words = english_words()
    contexts = {"short": 64 + args.new_tokens // 2, "long": args.long_context + args.new_tokens // 2}
    bound = {}
    if "bound" not in args.skip:
        bound = guarded(results, label, "bound",
                        lambda: measure_bound(model_dir, args.cache, header["device"], contexts))
    done = first_pass(model_dir, args, results, label, words)
    if "ngram_base" in done:
        guarded(results, label, "ngram", lambda: ngram_pass(model_dir, args, words,
                                                            done["ngram_base"]))
    if "decode_bound_tps" in bound:
        bound["efficiency"] = {k: efficiency(pick_tps(done, k), bound["decode_bound_tps"].get(k))
                               for k in contexts}
        results.put(label, "bound", bound)
    print(json.dumps(results.data["models"][label], indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
