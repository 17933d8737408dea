"""`ragchat doctor` names ragchat's extras: which are installed, what each would add, and the
command that adds one (read from ragchat's installed metadata, as pyproject.toml declares)."""

import importlib.metadata

from ragchat import machine
from ragchat.doctor import extras_notes, extras_section

REQUIRES = ["click>=8.1", 'exllamav2==0.3.2; extra == "gpu"', 'torch>=2.4; extra == "gpu"',
            'sentence-transformers>=3; extra == "gpu"', "matplotlib>=3.8; extra == 'plot'",
            'llama-cpp-python[server]<0.4,>=0.3.36; extra == "dev"']


def test_extras_from_the_metadata(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "requires", lambda name: REQUIRES)
    have = {"matplotlib", "llama-cpp-python", "torch"}
    monkeypatch.setattr(machine, "package_version", lambda name: "1" if name in have else None)
    found = {e.name: e for e in machine.extras()}
    assert set(found) == {"gpu", "plot", "dev"}
    assert found["plot"].installed and found["dev"].installed
    gpu = found["gpu"]
    assert not gpu.installed and gpu.missing == ("exllamav2==0.3.2", "sentence-transformers>=3")
    assert "'exllamav2==0.3.2' 'sentence-transformers>=3'" in gpu.command
    assert "NVIDIA GPU" in gpu.adds


def test_doctor_says_what_each_missing_extra_adds(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "requires", lambda name: REQUIRES)
    monkeypatch.setattr(machine, "package_version", lambda name: None)
    section = extras_section()
    assert [e["installed"] for e in section] == [False, False, False]
    notes = extras_notes(section)
    assert notes[0] == "extras installed: none"
    assert any(n.startswith("extra 'gpu' is not installed: it adds ExLlamaV2") and "`" in n
               for n in notes)


def test_no_metadata_no_extras(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "requires", missing)
    assert machine.extras() == [] and extras_notes(extras_section()) == []
