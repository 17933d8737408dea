"""`ragchat doctor`: what this machine has, what ragchat will use, and why."""

from __future__ import annotations

from typing import Any

import click

from ragchat.cli.options import backend_flags, backend_options
from ragchat.cli.terminal import json_text, safe_line


@click.command()
@backend_options
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
def doctor(backend: str | None, use_api: bool, api_base: str | None, api_model: str | None,
           as_json: bool) -> None:
    """Check Python, torch, CUDA, GPU and VRAM, exllamav2, flash-attn, models, the HF token,
    collections, OCR (Tesseract) for scanned PDFs, and which LLM backend runs and why.

    Loads no model and works on any machine; it says what is missing and how to fix it.
    Backend flags (--backend, --api, ...) show what that choice would do.
    """
    from ragchat.config import load_settings_leniently
    from ragchat.doctor import collect
    from ragchat.ingest.ocr import status as ocr_status

    # a broken setting or config file is reported, not a reason to stop: doctor is where
    # a user looks when something is wrong
    settings, broken = load_settings_leniently(backend_flags(backend, use_api, api_base,
                                                             api_model))
    report = collect(settings)
    report["config_problems"] = [{"error": e.message, "hint": e.hint} for e in broken]
    report["ocr"] = ocr_status()
    notes = [f"{e.message}; {e.hint}" if e.hint else e.message for e in broken]
    if report["ocr"]["note"]:
        notes.append(report["ocr"]["note"])
    report["problems"] = [*notes, *report["problems"]]
    if as_json:
        click.echo(json_text(report, indent=2, default=str))
    else:
        print_report(report)


def _gb(n: Any) -> str:
    return f"{n / 1e9:.1f} GB" if isinstance(n, int | float) and n else "-"


def print_report(r: dict[str, Any]) -> None:
    rc, gpu, eng, models, plan = r["ragchat"], r["gpu"], r["engines"], r["models"], r["vram"]
    section("ragchat", [
        ("version", rc["version"]), ("python", f"{rc['python']} ({rc['executable']})"),
        ("config file", rc["config_file"] + ("" if rc["config_file_exists"] else " (none)")),
        ("data", rc["data_dir"]), ("models", rc["models_dir"]),
    ])
    gpu_line = (f"{gpu['name']}, {_gb(gpu['free_bytes'])} free of {_gb(gpu['total_bytes'])}"
                if gpu["cuda_available"] else f"none{' (' + gpu['error'] + ')' if gpu['error'] else ''}")
    section("hardware", [
        ("torch", f"{gpu['torch'] or 'not installed'} (CUDA {gpu['torch_cuda'] or 'none'})"),
        ("GPU", gpu_line),
        ("exllamav2", f"{eng['exllamav2'] or 'not installed'}; extension: "
                      f"{eng['exllamav2_extension']}"),
        ("flash-attn", eng["flash_attn"] or "not installed (exllamav2 runs unpaged)"),
        ("attention", eng["exllamav2_attention_text"] or "- (exllamav2 is not installed)"),
        ("llama-cpp-python", _llamacpp_line(eng)),
    ])
    section("models", [("EXL2", _model_line(models["exl2"])),
                       ("GGUF", _model_line(models["gguf"]))])
    if gpu["cuda_available"] or models["exl2"]["found"]:
        section("VRAM", _vram_lines(plan))
    else:
        section("VRAM", [("plan", "no NVIDIA GPU: the EXL2 model does not apply here "
                                  "(`doctor --json` holds its plan for reference)")])
    api = r["api"]
    section("API", [("HF token", f"yes ({api['hf_token_source']})" if api["hf_token"] else "no"),
                    ("endpoint", f"{api['url']} model {api['model']}"),
                    ("fallback", "on" if api["fallback"] else "off")])
    rec = r.get("recommendation") or {}
    section("recommendation", [
        ("backend", rec.get("backend", "-")),
        ("model", rec.get("preset") or "- (the bundled demo model)"),
        ("why", rec.get("why", "-")),
        ("run", rec.get("command") or "nothing: it is in place"),
    ])
    b = r["backend"]
    section("backend", [("uses", b.get("name", "?")), ("why", b.get("reason", b.get("error"))),
                        ("decided by", b.get("source", "-")),
                        *[(f"{name} can run", "yes" if why == "ready" else f"no: {why}")
                          for name, why in b.get("engines_ready", {}).items()]])
    section("collections", [("found", ", ".join(r["collections"]) or "none"),
                            *_collection_rows(r.get("collection_checks", []))])
    if "ocr" in r:
        o = r["ocr"]
        section("documents", [("OCR", f"{o['version']} at {o['tesseract']}, languages "
                                      f"{o['ocr_languages']}" if o["usable"] else "not available"),
                              ("scanned pages", "read by OCR" if o["usable"] else
                               "named in the ingest report as needing OCR")])
    section("settings", [(k, f"{v['value']!r}  [{v['source']}]") for k, v in r["settings"].items()])
    if r["problems"]:
        click.echo("\nTo fix or note:")
        for line in r["problems"]:
            click.echo(f"  - {safe_line(line)}")


def _collection_rows(checks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """One row per collection: sound, or what is wrong and the command that fixes it."""
    return [(c["name"], "ok" if c["ok"] else f"{c['problem']} (fix: {c['fix']})")
            for c in checks]


def _llamacpp_line(eng: dict[str, Any]) -> str:
    version = eng["llama_cpp_python"]
    if not version:
        return "not installed"
    backends = " + ".join(eng.get("llamacpp_backends") or []) or "?"
    if not eng.get("llamacpp_gpu_offload"):
        return f"{version}, {backends} (no GPU offload: see docs/how-to/choose-a-model.md)"
    layers = eng.get("llamacpp_gpu_layers")
    shown = "all" if layers == -1 else str(layers)
    return f"{version}, {backends}; layers on the GPU: {shown}"


def _model_line(entry: dict[str, Any]) -> str:
    if not entry["found"]:
        return f"not found: {entry['why']}"
    bits = f", {entry['bpw']:g} bpw" if entry.get("bpw") else (
        f", {entry['quant']}" if entry.get("quant") else "")
    return f"{entry['path']} ({_gb(entry['size_bytes'])}{bits}; {entry['why']})"


def _vram_lines(plan: dict[str, Any]) -> list[tuple[str, str]]:
    if "error" in plan:
        return [("error", plan["error"])]
    fits = {True: "fits in free VRAM", False: "does NOT fit in free VRAM", None: "no GPU to check"}
    return [
        ("model", f"{plan['model']}: {plan['params'] / 1e9:.1f}B params"),
        ("weights", f"{_gb(plan['weights_bytes'])} at {plan['bpw']:g} bpw "
                    f"(FP16 would be {_gb(plan['fp16_weights_bytes'])}: a 24 GB card needs "
                    "quantization)"),
        ("KV cache", f"{plan['cache_type']}, {plan['cache_bytes_per_token'] / 1024:.0f} KiB per "
                     f"token; {plan['context']} tokens ({plan['context_from']})"),
        ("needs", f"{_gb(plan['need_bytes'])} with working memory: {fits[plan['fits']]}"),
    ]


def section(title: str, rows: list[tuple[str, Any]]) -> None:
    click.echo(f"\n{title}" if title != "ragchat" else title)
    for key, value in rows:  # paths, collection names, settings: made safe to show
        click.echo(f"  {safe_line(key) + ':':<18} {safe_line(value)}")
