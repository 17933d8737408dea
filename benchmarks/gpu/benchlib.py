"""Pure helpers of the GPU benchmark: memory-bandwidth bound, weight bytes, prompts, results file.

Nothing here needs a GPU, exllamav2 or torch, so all of it is tested on any machine.
"""

from __future__ import annotations

import json
import re
import statistics
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

# Peak memory bandwidth in GB/s (vendor data sheets), matched against the device name in order:
# the first entry whose every word occurs in the upper-cased name wins.
BANDWIDTH_GBPS: tuple[tuple[tuple[str, ...], float, str], ...] = (
    (("H200",), 4800.0, "H200"),
    (("H100", "NVL"), 3900.0, "H100 NVL"),
    (("H100", "PCIE"), 2000.0, "H100 PCIe"),
    (("H100",), 3350.0, "H100 SXM"),
    (("A100", "PCIE", "80GB"), 1935.0, "A100 PCIe 80GB"),
    (("A100", "80GB"), 2039.0, "A100 SXM 80GB"),
    (("A100",), 1555.0, "A100 40GB"),
    (("RTX 4090",), 1008.0, "RTX 4090"),
    (("RTX 3090 TI",), 1008.0, "RTX 3090 Ti"),
    (("RTX 3090",), 936.0, "RTX 3090"),
    (("RTX 4080",), 717.0, "RTX 4080"),
    (("L40S",), 864.0, "L40S"),
    (("A6000",), 768.0, "RTX A6000"),
    (("A10",), 600.0, "A10"),
    (("L4",), 300.0, "L4"),
)

EMBEDDING_PREFIXES = ("model.embed_tokens.",)  # ExLlamaV2 keeps this table in system memory


@dataclass(frozen=True)
class Bandwidth:
    gbps: float
    label: str


def lookup_bandwidth(device_name: str) -> Bandwidth | None:
    name = device_name.upper()
    for words, gbps, label in BANDWIDTH_GBPS:
        if all(_has_word(name, w) for w in words):
            return Bandwidth(gbps, label)
    return None


def _has_word(name: str, word: str) -> bool:
    return re.search(rf"(?<![A-Z0-9]){re.escape(word)}(?![A-Z0-9])", name) is not None


def device_slug(device_name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'h100-sxm'; unknown names are lower-cased and dashed."""
    known = lookup_bandwidth(device_name)
    text = known.label if known else device_name
    text = re.sub(r"\b(NVIDIA|GEFORCE|TESLA)\b", " ", text.upper())
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "gpu"


def results_path(folder: Path, device_name: str, day: date | None = None) -> Path:
    day = day or date.today()
    return Path(folder) / f"gpu-{device_slug(device_name)}-{day.isoformat()}.json"


# ---------------------------------------------------------------- weight bytes

DTYPE_BYTES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2,
               "I16": 2, "U16": 2, "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def safetensors_header(path: Path) -> dict:
    """The JSON header of a .safetensors file (8-byte little-endian length, then JSON)."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    header.pop("__metadata__", None)
    return header


def tensor_bytes(folder: Path) -> dict[str, int]:
    """Bytes of every tensor in a model folder's safetensors files, by tensor name."""
    sizes: dict[str, int] = {}
    for path in sorted(Path(folder).glob("*.safetensors")):
        for name, info in safetensors_header(path).items():
            start, end = info["data_offsets"]
            sizes[name] = int(end) - int(start)
    return sizes


def weight_bytes_per_token(folder: Path) -> int:
    """Weight bytes one decoding step reads from GPU memory: every tensor but the embedding."""
    return sum(size for name, size in tensor_bytes(folder).items()
               if not name.startswith(EMBEDDING_PREFIXES))


def decode_bound(bandwidth_gbps: float, weight_bytes: int, kv_bytes_per_token: int,
                 context: int) -> float:
    """Tokens/s if each step only had to stream the weights and the KV cache so far once."""
    per_step = weight_bytes + kv_bytes_per_token * max(context, 0)
    return bandwidth_gbps * 1e9 / per_step if per_step > 0 else 0.0


def bound_report(bandwidth: Bandwidth | None, weight_bytes: int, kv_per_token: int,
                 contexts: dict[str, int]) -> dict:
    report = {"weight_bytes_per_token": weight_bytes, "kv_bytes_per_context_token": kv_per_token,
              "bandwidth_gbps": bandwidth.gbps if bandwidth else None,
              "bandwidth_source": f"data sheet: {bandwidth.label}" if bandwidth else None}
    if bandwidth:
        report["decode_bound_tps"] = {
            label: round(decode_bound(bandwidth.gbps, weight_bytes, kv_per_token, ctx), 1)
            for label, ctx in contexts.items()}
    return report


def efficiency(measured_tps: float | None, bound_tps: float | None) -> float | None:
    if not measured_tps or not bound_tps:
        return None
    return round(measured_tps / bound_tps, 3)


# ---------------------------------------------------------------- prompts


def english_words() -> list[str]:
    """Words of Python's own documentation (pydoc_data ships with every Python)."""
    from pydoc_data.topics import topics

    text = " ".join(topics[k] for k in sorted(topics))
    return re.sub(r"[*=~^`-]{2,}", " ", text).split()


def filler(words: list[str], count: int, offset: int = 0) -> str:
    """`count` words of running text starting at `offset` (wrapping around)."""
    if not words:
        raise ValueError("no words to build a prompt from")
    return " ".join(words[(offset + i) % len(words)] for i in range(count))


def median(values: Iterable[float]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


# ---------------------------------------------------------------- results file


class Results:
    """A JSON results file updated section by section, so an interrupted run keeps its figures.

    The file holds {"device": ..., "models": {label: {section: value}}}; each `put` rewrites
    it atomically (write to a temporary file, then rename).
    """

    def __init__(self, path: Path, header: dict) -> None:
        self.path = Path(path)
        self.data = self._read()
        self.data.update(header)
        self.data.setdefault("models", {})

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def put(self, model: str, section: str, value: object) -> None:
        self.data["models"].setdefault(model, {})[section] = value
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
        tmp.replace(self.path)
