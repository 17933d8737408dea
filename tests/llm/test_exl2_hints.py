"""The EXL2 backend's hints name the way to get a model that works where the user is."""

from __future__ import annotations

import pytest

from ragchat.errors import ModelError
from ragchat.llm.exl2 import check_model_dir, oom_error


def test_no_model_offline_names_model_use_and_not_pull(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as caught:
        check_model_dir(None)
    hint = caught.value.hint
    assert "`ragchat model use FOLDER`" in hint
    assert "download it with `ragchat model pull`" not in hint
    assert "HF_HUB_OFFLINE turns off" in hint  # why pull is not offered
    with pytest.raises(ModelError) as caught:
        check_model_dir(tmp_path)  # a folder without config.json
    assert "`ragchat model use FOLDER`" in caught.value.hint
    assert "REPO --revision" not in oom_error(tmp_path, 4096, "Q6").hint


def test_no_model_online_offers_pull_and_model_use(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    with pytest.raises(ModelError) as caught:
        check_model_dir(None)
    assert "`ragchat model pull`" in caught.value.hint
    assert "`ragchat model use FOLDER`" in caught.value.hint
