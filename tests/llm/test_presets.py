"""Presets, what they need, which fits where, and the recommendation per kind of machine."""

from __future__ import annotations

import pytest

from ragchat.models.presets import PRESETS, Machine, find_preset, fit, recommend

GB = 10**9


def machine(cuda: float = 0, llamacpp_gpu: str = "", ram: float = 16, cores: int = 8,
            apple: bool = False) -> Machine:
    return Machine(int(cuda * GB), llamacpp_gpu, int(ram * GB), cores, unified_memory=apple)


def test_the_table_names_real_files_and_grows_in_size():
    names = [p.name for p in PRESETS]
    assert names[0] == "qwen2.5-14b-exl2" and len(set(names)) == len(names)
    ggufs = [p for p in PRESETS if p.backend == "llamacpp"]
    assert all(p.file and p.file.endswith("-Q4_K_M.gguf") and p.repo.endswith("-GGUF")
               for p in ggufs)
    sizes = [p.memory_bytes for p in ggufs]
    assert sizes == sorted(sizes, reverse=True)
    assert find_preset("Qwen2.5-7B-GGUF") is find_preset("qwen2.5-7b-gguf") is not None
    assert find_preset("nonsense") is None


def test_the_14b_exl2_model_needs_what_the_gpu_docs_say():
    exl2 = find_preset("qwen2.5-14b-exl2")
    assert 10.5 * GB < exl2.memory_bytes < 11.5 * GB  # docs: Q8 cache, 16K tokens: 10.9 GB
    assert fit(exl2, machine(cuda=24)).fits and not fit(exl2, machine(cuda=8)).fits
    assert "NVIDIA" in fit(exl2, machine()).why


@pytest.mark.parametrize("kind, expected", [
    (dict(cuda=24, llamacpp_gpu=""), "qwen2.5-14b-exl2"),  # a 24 GB NVIDIA card
    (dict(cuda=12.8), "qwen2.5-14b-exl2"),  # a 12 GB card still holds it at 16K
    (dict(cuda=8, llamacpp_gpu="CUDA"), "qwen2.5-7b-gguf"),  # 8 GB: llama.cpp on the GPU
    (dict(llamacpp_gpu="Metal", ram=32, apple=True), "qwen2.5-14b-gguf"),
    (dict(llamacpp_gpu="Metal", ram=16, apple=True), "qwen2.5-7b-gguf"),
    (dict(llamacpp_gpu="Vulkan", cuda=0, ram=32), "qwen2.5-3b-gguf"),  # no GPU memory known
    (dict(ram=64, cores=16), "qwen2.5-3b-gguf"),  # a CPU server
    (dict(ram=24, cores=2), "qwen2.5-1.5b-gguf"),  # a small VM
    (dict(ram=1, cores=2), None),  # nothing fits: the demo model stays
])
def test_recommendation_per_kind_of_machine(kind, expected):
    preset = recommend(machine(**kind))
    assert (preset.name if preset else None) == expected


def test_a_gguf_model_on_a_machine_without_gpu_runs_on_the_cpu():
    where = fit(find_preset("qwen2.5-7b-gguf"), machine(ram=16))
    assert where.fits and where.where == "CPU"
    assert not fit(find_preset("qwen2.5-14b-gguf"), machine(ram=8)).fits
