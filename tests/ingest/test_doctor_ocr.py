"""`ragchat doctor` says whether scanned pages can be OCR'd, and how to make them so."""

import json


def test_doctor_without_tesseract_names_the_install_command(run_cli):
    result = run_cli("doctor", env={"RAGCHAT_TESSERACT": "/nonexistent/tesseract"})
    assert result.returncode == 0, result.stderr
    assert "documents" in result.stdout and "OCR:               not available" in result.stdout
    assert "install it: " in result.stdout and "tesseract" in result.stdout
    data = json.loads(run_cli("doctor", "--json",
                              env={"RAGCHAT_TESSERACT": "/nonexistent/tesseract"}).stdout)
    assert data["ocr"]["usable"] is False and data["ocr"]["tesseract"] is None
    assert any("Tesseract" in line for line in data["problems"])
