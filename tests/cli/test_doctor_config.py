"""`doctor` is where a user looks when something is wrong: a broken setting or config file
is reported there, not a reason for doctor itself to stop; and a URL's password never shows."""

from __future__ import annotations

import json

from tests.helpers import cli


def test_doctor_runs_with_a_bad_setting_and_a_broken_config_file(capsys, ragchat_home,
                                                                   monkeypatch):
    (ragchat_home / "config").mkdir()
    (ragchat_home / "config" / "config.toml").write_text("search_k = = 3\n")
    monkeypatch.setenv("RAGCHAT_CHUNK_SIZE", "-5")
    code, out, err = cli(capsys, "doctor", "--json")
    assert code == 0, err
    report = json.loads(out)
    errors = [p["error"] for p in report["config_problems"]]
    assert any(e.startswith("cannot parse") for e in errors)
    assert "environment RAGCHAT_CHUNK_SIZE: chunk_size = '-5' is out of range " \
           "(allowed: 0, or 100 to 20000)" in errors
    assert report["settings"]["chunk_size"] == {"value": 0, "source": "default"}
    assert report["problems"][0].startswith("cannot parse")
    code, out, err = cli(capsys, "doctor")
    assert code == 0 and "chunk_size = '-5' is out of range" in out


def test_doctor_never_shows_the_password_of_an_api_url(capsys, monkeypatch):
    monkeypatch.setenv("RAGCHAT_API_BASE", "http://bob:hunter2@gpu-box:8000/v1")
    for args in (("doctor",), ("doctor", "--json")):
        code, out, err = cli(capsys, *args)
        assert code == 0 and "hunter2" not in out + err
        assert "http://bob:***@gpu-box:8000/v1" in out
