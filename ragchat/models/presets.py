"""Named models for every kind of machine, what each needs, and the one to run here.

A preset is a real repository on the Hugging Face hub (and, for GGUF, one file in it), its
download size, what its model can do (its capabilities), and a memory estimate: the weights plus the KV cache at the context ragchat
uses plus working memory. `recommend` picks the best preset that fits this machine: the 14B
EXL2 model on an NVIDIA GPU that holds it, else the largest GGUF model that fits the memory
llama.cpp can use here (the GPU's when the llama.cpp build offloads to one, else the RAM,
and on a CPU a model small enough to answer in reasonable time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ragchat import machine as host
from ragchat.engines import Engine
from ragchat.models.capabilities import DEFAULT, DEMO, QWEN25_INSTRUCT, Capabilities
from ragchat.models.registry import bundled_gguf, local_dir_for

GiB = 1024**3
WORKING = int(0.75 * GiB)  # llama.cpp's compute buffers and the rest, roughly
GGUF_CONTEXT = 8192  # llamacpp_ctx's default
EXL2_CONTEXT = 16384  # what a 24 GB card holds with room to spare (Q8 cache)
CPU_CORES_FOR_3B = 8  # fewer cores: prefill of a ~2k-token prompt takes too long for 3B


@dataclass(frozen=True)
class Preset:
    name: str
    backend: Engine  # EXLLAMAV2 or LLAMACPP
    repo: str
    revision: str
    file: str | None  # the GGUF file in the repo; None: the whole branch (EXL2)
    download_bytes: int  # about
    weights_bytes: int  # in GPU (or CPU) memory when loaded
    kv_bytes_per_token: int
    context: int
    use: str
    capabilities: Capabilities = QWEN25_INSTRUCT  # what its model can do

    @property
    def memory_bytes(self) -> int:
        if self.backend == Engine.EXLLAMAV2:  # as the backend sizes it (1.5 GiB working memory)
            from ragchat.models.vram import need_bytes

            return need_bytes(self.weights_bytes, self.kv_bytes_per_token, self.context)
        return self.weights_bytes + self.kv_bytes_per_token * self.context + WORKING

    @property
    def command(self) -> str:
        return f"ragchat model pull {self.name}"


def _kv(layers: int, kv_heads: int, head_dim: int = 128, bytes_per_value: float = 2) -> int:
    return int(2 * layers * kv_heads * head_dim * bytes_per_value)


PRESETS: tuple[Preset, ...] = (
    Preset("qwen2.5-14b-exl2", Engine.EXLLAMAV2, "bartowski/Qwen2.5-14B-Instruct-exl2", "4_25",
           None, int(9.2e9), int(7.6e9), _kv(48, 8, bytes_per_value=1.06), EXL2_CONTEXT,
           "NVIDIA GPU with 12 GB or more (made for 24 GB): the best answers, fastest"),
    Preset("qwen2.5-14b-gguf", Engine.LLAMACPP, "bartowski/Qwen2.5-14B-Instruct-GGUF", "main",
           "Qwen2.5-14B-Instruct-Q4_K_M.gguf", int(8.99e9), int(8.99e9), _kv(48, 8),
           GGUF_CONTEXT, "other GPUs with 12 GB or more (Apple Silicon with 16 GB or more)"),
    Preset("qwen2.5-7b-gguf", Engine.LLAMACPP, "bartowski/Qwen2.5-7B-Instruct-GGUF", "main",
           "Qwen2.5-7B-Instruct-Q4_K_M.gguf", int(4.68e9), int(4.68e9), _kv(28, 4),
           GGUF_CONTEXT, "GPUs with 6-8 GB; a fast CPU with patience"),
    Preset("qwen2.5-3b-gguf", Engine.LLAMACPP, "bartowski/Qwen2.5-3B-Instruct-GGUF", "main",
           "Qwen2.5-3B-Instruct-Q4_K_M.gguf", int(1.93e9), int(1.93e9), _kv(36, 2),
           GGUF_CONTEXT, "CPU-only machines with 8 or more cores"),
    Preset("qwen2.5-1.5b-gguf", Engine.LLAMACPP, "bartowski/Qwen2.5-1.5B-Instruct-GGUF", "main",
           "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf", int(0.99e9), int(0.99e9), _kv(28, 2),
           GGUF_CONTEXT, "small CPU-only machines and laptops"),
)
BY_NAME = {p.name: p for p in PRESETS}


def presets_markdown() -> str:
    """The docs' table of presets (docs/how-to/choose-a-model.md)."""
    lines = ["| preset | engine | download | memory | made for |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| `{p.name}` | {p.backend.label} | {p.download_bytes / 1e9:.1f} GB | "
              f"{p.memory_bytes / 1e9:.1f} GB | {p.use} |" for p in PRESETS]
    return "\n".join(lines) + "\n"


def find_preset(name: str) -> Preset | None:
    return BY_NAME.get(name.strip().lower())


def capabilities_of(model: Path | None) -> Capabilities:
    """What the model at `model` (a GGUF file or an EXL2 folder) can do: the bundled model's
    profile, a preset's when it is a preset's download, else the default."""
    if model is None:
        return DEFAULT
    model = Path(model)
    if model == bundled_gguf():
        return DEMO
    for preset in PRESETS:
        folder = local_dir_for(preset.repo, preset.revision)
        if model.name == preset.file or (preset.file is None and model == folder):
            return preset.capabilities
    return DEFAULT


@dataclass(frozen=True)
class Machine:
    """What decides which model fits: the NVIDIA GPU torch sees, whether llama.cpp can
    offload to a GPU (and which), system memory and cores."""

    cuda_vram_bytes: int  # total memory of the first CUDA GPU; 0 without one
    llamacpp_gpu: str  # the llama.cpp build's GPU backend ("CUDA", "Metal", ...) or ""
    ram_bytes: int
    cores: int
    unified_memory: bool = False  # Apple Silicon: the GPU uses the system memory

    @property
    def llamacpp_gpu_bytes(self) -> int:
        if not self.llamacpp_gpu:
            return 0
        if self.unified_memory:
            return int(self.ram_bytes * 0.7)  # what macOS lets the GPU have, roughly
        return self.cuda_vram_bytes


@dataclass(frozen=True)
class Fit:
    fits: bool
    where: str  # "GPU", "CPU" or ""
    why: str


def fit(preset: Preset, machine: Machine) -> Fit:
    need = preset.memory_bytes
    if preset.backend == Engine.EXLLAMAV2:
        if not machine.cuda_vram_bytes:
            return Fit(False, "", "needs an NVIDIA GPU with CUDA")
        if machine.cuda_vram_bytes < need:
            return Fit(False, "", f"needs {gb(need)} of GPU memory, the GPU has "
                                  f"{gb(machine.cuda_vram_bytes)}")
        return Fit(True, "GPU", f"{gb(need)} of {gb(machine.cuda_vram_bytes)} GPU memory")
    if machine.llamacpp_gpu_bytes >= need:
        return Fit(True, "GPU", f"{gb(need)} of {gb(machine.llamacpp_gpu_bytes)} "
                                f"({machine.llamacpp_gpu})")
    if machine.ram_bytes >= need:
        return Fit(True, "CPU", f"{gb(need)} of {gb(machine.ram_bytes)} RAM, on the CPU")
    return Fit(False, "", f"needs {gb(need)} of memory, this machine has {gb(machine.ram_bytes)}")


def recommend(machine: Machine) -> Preset | None:
    """The best preset for this machine (None: nothing better than the bundled demo)."""
    exl2 = BY_NAME["qwen2.5-14b-exl2"]
    if fit(exl2, machine).fits:
        return exl2
    ggufs = [p for p in PRESETS if p.backend == Engine.LLAMACPP]  # largest first
    for preset in ggufs:
        where = fit(preset, machine)
        if where.fits and where.where == "GPU":
            return preset
    small = ("qwen2.5-3b-gguf", "qwen2.5-1.5b-gguf") if machine.cores >= CPU_CORES_FOR_3B \
        else ("qwen2.5-1.5b-gguf",)
    for name in small:
        if fit(BY_NAME[name], machine).fits:
            return BY_NAME[name]
    return None


def gb(n: int | float) -> str:
    return f"{n / 1e9:.1f} GB"


def this_machine(gpu: host.GpuInfo | None = None,
                 build: host.BuildInfo | None = None) -> Machine:
    """Read this machine (torch for the NVIDIA GPU, llama.cpp's build for its GPU support)."""
    import platform

    gpu = gpu if gpu is not None else host.gpu_info()
    build = build if build is not None else host.build_info()
    vram = int(gpu.total_bytes) if gpu.available else 0
    gpu_backend = (build.gpu_backends[0] if build and build.gpu_offload and build.gpu_backends
                   else "")
    apple = platform.system() == "Darwin" and platform.machine() == "arm64"
    return Machine(vram, gpu_backend, host.ram_bytes(), host.cores(), unified_memory=apple)
