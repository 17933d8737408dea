"""Stretching a shallow model's EXL2 measurement over a deeper one."""

from __future__ import annotations

import json

import pytest
from replicate_measurement import main, replicate


def measurement(layers: int) -> dict:
    entries = {"model.embed_tokens.pos_emb": None, "model.norm.norm": None, "lm_head.linear": None}
    for i in range(layers):
        entries[f"model.layers.{i}.self_attn"] = [{"accuracy": 0.9 + i / 100, "total_bits": 100}]
        entries[f"model.layers.{i}.mlp"] = [{"accuracy": 0.8 + i / 100, "total_bits": 200}]
    return {"measurement": entries, "last_module_idx": 2 * layers + 2}


def test_layers_beyond_the_measured_ones_copy_the_last_one():
    out = replicate(measurement(2), 5)
    m = out["measurement"]
    assert m["model.layers.0.self_attn"][0]["accuracy"] == 0.9
    assert m["model.layers.1.mlp"][0]["accuracy"] == 0.81
    assert all(m[f"model.layers.{i}.self_attn"][0]["accuracy"] == 0.91 for i in range(1, 5))
    assert "model.layers.5.mlp" not in m
    assert m["lm_head.linear"] is None and "model.norm.norm" in m
    assert out["last_module_idx"] == 2 * 5 + 2
    assert len(m) == 3 + 2 * 5


def test_fewer_layers_keep_the_first_ones():
    out = replicate(measurement(4), 2)
    assert sorted(k for k in out["measurement"] if ".layers." in k) == [
        "model.layers.0.mlp", "model.layers.0.self_attn",
        "model.layers.1.mlp", "model.layers.1.self_attn"]


def test_prefixed_keys_of_multimodal_models_are_kept():
    data = {"measurement": {"language_model.model.layers.0.mlp": [1]}, "last_module_idx": 4}
    out = replicate(data, 3)["measurement"]
    assert set(out) == {f"language_model.model.layers.{i}.mlp" for i in range(3)}


def test_gaps_and_empty_measurements_are_refused():
    data = measurement(3)
    del data["measurement"]["model.layers.1.mlp"]
    del data["measurement"]["model.layers.1.self_attn"]
    with pytest.raises(ValueError, match="missing"):
        replicate(data, 8)
    with pytest.raises(ValueError, match="no per-layer"):
        replicate({"measurement": {"lm_head.linear": None}}, 8)


def test_command_line(tmp_path, capsys):
    src, dst = tmp_path / "m2.json", tmp_path / "m48.json"
    src.write_text(json.dumps(measurement(2)))
    assert main([str(src), "--layers", "48", "-o", str(dst)]) == 0
    assert len(json.loads(dst.read_text())["measurement"]) == 3 + 96
    src.write_text(json.dumps({"measurement": {}}))
    assert main([str(src), "--layers", "48", "-o", str(dst)]) == 2
    assert "cannot replicate" in capsys.readouterr().err
