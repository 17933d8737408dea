"""`ragchat model pull|list|rm|use`: the models ragchat runs."""

from __future__ import annotations

from typing import Any

import click

from ragchat.cli.layout import for_stderr
from ragchat.cli.terminal import json_text, safe_line
from ragchat.models.registry import DEFAULT_REPO, DEFAULT_REVISION


@click.group()
def model() -> None:
    """Download, list, remove and choose models.

    \b
    EXL2 models (for the GPU backend) come from the Hugging Face hub: a repository and a
    branch, the branch naming the bits per weight (4_25 = 4.25 bpw, about 9 GB for 14B).
    GGUF files (for the CPU backend) can be pulled too, or used from any path.

    \b
    Presets name a model for a kind of machine (`ragchat model presets` lists them, and
    `ragchat doctor` says which one to pull here).

    \b
    Examples:
      ragchat model presets                    which model for which machine
      ragchat model pull qwen2.5-7b-gguf       a preset: Qwen2.5-7B-Instruct Q4_K_M
      ragchat model pull                       Qwen2.5-14B-Instruct EXL2 at 4.25 bpw
      ragchat model pull bartowski/Qwen2.5-7B-Instruct-exl2 --revision 6_5
      ragchat model list
      ragchat model use Qwen2.5-7B             choose by (part of) its name
      ragchat model rm bartowski--Qwen2.5-7B-Instruct-exl2--6_5
    """


@model.command()
@click.argument("repo", default=DEFAULT_REPO, metavar="[PRESET|REPO]")
@click.option("--revision", "-r", default=None, metavar="BRANCH",
              help=f"Branch, tag or commit [default: {DEFAULT_REVISION} for the default repo, "
                   "else main].")
@click.option("--include", multiple=True, metavar="PATTERN",
              help="Only files matching PATTERN (repeatable), e.g. '*Q4_K_M.gguf'.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def pull(repo: str, revision: str | None, include: tuple[str, ...], quiet: bool) -> None:
    """Download a preset or REPO from the Hugging Face hub (resumes an interrupted download).

    A preset (`ragchat model presets`) becomes the model in use once downloaded.
    """
    from ragchat.models.presets import find_preset

    preset = find_preset(repo)
    if preset is not None:
        _pull_preset(preset, quiet)
        return
    from ragchat.models import registry as models
    from ragchat.models.download import pull_model

    revision = revision or (DEFAULT_REVISION if repo == DEFAULT_REPO else "main")
    what = safe_line(f"{repo}@{revision}")
    click.echo(for_stderr(f"Downloading {what} ..."), err=True)
    folder = pull_model(repo, revision, include=list(include) or None, progress=not quiet)
    size = models.folder_size(folder)
    click.echo(f"Downloaded {what} to {safe_line(folder)} ({_size(size)})")
    if models.is_exl2_dir(folder) and "exl2" not in models.read_selection():
        models.select(models.describe(folder))
        click.echo("It is now the EXL2 model in use (change with `ragchat model use`).")


def _pull_preset(preset, quiet: bool) -> None:
    from ragchat.errors import ModelError
    from ragchat.models import registry as models
    from ragchat.models.download import pull_model

    what = safe_line(f"{preset.repo}@{preset.revision}" + (f" {preset.file}" if preset.file
                                                             else ""))
    click.echo(for_stderr(f"Downloading {preset.name}: {what} (about "
                          f"{_size(preset.download_bytes)}) ..."), err=True)
    folder = pull_model(preset.repo, preset.revision,
                        include=[preset.file] if preset.file else None, progress=not quiet)
    path = folder / preset.file if preset.file else folder
    if not path.exists():
        raise ModelError(f"{preset.repo} has no file {preset.file} any more",
                         hint=f"see https://huggingface.co/{preset.repo}/tree/main and pull a "
                              "file with `ragchat model pull REPO --include PATTERN`")
    info = models.describe(path)
    models.select(info)
    click.echo(f"Downloaded {preset.name} to {safe_line(path)} ({_size(info.size_bytes)}); "
               f"{info.engine} uses it now.")


@model.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def presets(as_json: bool) -> None:
    """Named models for every kind of machine: download size, memory needed, fits here?"""
    from ragchat.engines import Engine
    from ragchat.models.presets import PRESETS, fit, recommend, this_machine

    machine = this_machine()
    best = recommend(machine)
    rows: list[dict[str, Any]] = []
    for p in PRESETS:
        where = fit(p, machine)
        rows.append({"name": p.name, "backend": p.backend.value, "repo": p.repo,
                     "revision": p.revision, "file": p.file, "download_bytes": p.download_bytes,
                     "memory_bytes": p.memory_bytes, "fits": where.fits, "where": where.where,
                     "why": where.why, "use": p.use, "recommended": p is best,
                     "command": p.command})
    if as_json:
        click.echo(json_text(rows, indent=2))
        return
    click.echo(f"  {'preset':<19} {'engine':<10} {'download':>9} {'needs':>8}  fits here")
    for r in rows:
        mark = "*" if r["recommended"] else " "
        fits = safe_line((f"yes, {r['where']}" if r["fits"] else "no") + f" ({r['why']})")
        engine = Engine(r["backend"]).label
        click.echo(f"{mark} {r['name']:<19} {engine:<10} {_size(r['download_bytes']):>9} "
                   f"{_size(r['memory_bytes']):>8}  {fits}")
        click.echo(f"  {'':<19} {r['use']}")
    click.echo("\n* recommended here (`ragchat doctor` says why); `ragchat model pull NAME` "
               "downloads one.")


@model.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def list_(as_json: bool) -> None:
    """Local EXL2 and GGUF models, their size and bits per weight; * marks those in use."""
    from ragchat.config import load_settings
    from ragchat.models import registry as models

    settings = load_settings()
    in_use = {models.resolve_exl2_model(settings)[0], models.resolve_gguf_model(settings)[0]}
    rows = models.list_models()
    if as_json:
        click.echo(json_text([_row_dict(m, m.path in in_use) for m in rows], indent=2))
        return
    if not any(m.kind == "exl2" for m in rows) and _nvidia_gpu():  # EXL2 runs nowhere else
        click.echo("No EXL2 model yet: `ragchat model pull` downloads the default one.", err=True)
    for m in rows:
        mark = "*" if m.path in in_use else " "
        bits = f"{m.bpw:g} bpw" if m.bpw else (m.quant or "-")
        click.echo(f"{mark} {safe_line(m.name):<48} {m.kind:<5} {_size(m.size_bytes):>9}  "
                   f"{safe_line(bits):<9} {safe_line(m.path)}")


def _nvidia_gpu() -> bool:
    """An NVIDIA driver is loaded (a cheap check: torch is not imported)."""
    from ragchat.embeddings import has_cuda_gpu

    return has_cuda_gpu()


def _row_dict(m, used: bool) -> dict:
    return {"name": m.name, "kind": m.kind, "path": str(m.path), "size_bytes": m.size_bytes,
            "bpw": m.bpw, "quant": m.quant or None, "bundled": m.bundled, "in_use": used}


@model.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def rm(name: str, yes: bool) -> None:
    """Delete a downloaded model (by its name in `model list`)."""
    from ragchat.models.download import remove_model
    from ragchat.models.registry import find_model

    info = find_model(name)
    if not yes:
        click.confirm(f"Delete {safe_line(info.path)} ({_size(info.size_bytes)})?", abort=True,
                      err=True)
    cleared = remove_model(info)
    click.echo(f"Removed {safe_line(info.path)}")
    if cleared:
        click.echo(f"It was the {'/'.join(cleared).upper()} model in use; none is chosen now.")


@model.command()
@click.argument("name")
def use(name: str) -> None:
    """Choose the model a backend loads: an EXL2 folder (exllamav2) or a GGUF file (llamacpp).

    NAME is a name from `model list` (or part of one) or a path.
    """
    from ragchat.config import load_settings
    from ragchat.models import registry as models

    info = models.find_model(name)
    models.select(info)
    click.echo(f"{info.engine} will use {safe_line(info.path)}")
    key = "exl2_model" if info.kind == "exl2" else "gguf_model"
    settings = load_settings()
    if getattr(settings, key):
        click.echo(f"note: {key} is set ({safe_line(settings.source(key))}) and takes precedence; "
                   "unset it to use this choice", err=True)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" and n < 100 else f"{n:.0f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
