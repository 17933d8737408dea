"""OCR with Tesseract (a system program, run as a subprocess): is it there, which languages
does it have, and the text of one page image.

Tesseract is optional. Without it, pages that need OCR are named in the ingest report with
the command that installs it (`install_hint()`); `ragchat doctor` shows what was found.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass

WANTED_LANGUAGES = ("kor", "eng")
PAGE_TIMEOUT_S = 120


@dataclass(frozen=True)
class Tesseract:
    path: str | None
    version: str | None
    languages: tuple[str, ...]

    @property
    def usable(self) -> bool:
        return self.path is not None and any(lang in self.languages for lang in WANTED_LANGUAGES)

    @property
    def lang_arg(self) -> str:
        """`kor+eng`, or the part of it that is installed."""
        return "+".join(lang for lang in WANTED_LANGUAGES if lang in self.languages)

    @property
    def missing_languages(self) -> tuple[str, ...]:
        return tuple(lang for lang in WANTED_LANGUAGES if lang not in self.languages)


@functools.cache
def find_tesseract() -> Tesseract:
    """Tesseract on PATH (or $RAGCHAT_TESSERACT), its version and installed languages."""
    path = os.environ.get("RAGCHAT_TESSERACT") or shutil.which("tesseract")
    if not path:
        return Tesseract(None, None, ())
    try:
        version = _run([path, "--version"]).splitlines()[0].strip()
        listed = _run([path, "--list-langs"]).splitlines()
    except (OSError, subprocess.SubprocessError, IndexError):
        return Tesseract(None, None, ())
    languages = tuple(line.strip() for line in listed[1:] if line.strip())
    return Tesseract(path, version, languages)


def _run(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    return proc.stdout or proc.stderr


def install_hint() -> str:
    """The command that installs Tesseract with Korean and English on this kind of system."""
    system = platform.system()
    if system == "Darwin":
        return "brew install tesseract tesseract-lang"
    if system == "Windows":
        return ("install Tesseract from https://github.com/UB-Mannheim/tesseract/wiki "
                "with the Korean language data, and put it on PATH")
    if shutil.which("dnf"):
        return "sudo dnf install tesseract tesseract-langpack-kor"
    return "sudo apt-get install tesseract-ocr tesseract-ocr-kor"


class OcrError(Exception):
    """Tesseract ran but failed on one page."""


def ocr_png(png: bytes, tesseract: Tesseract) -> str:
    """The text Tesseract reads in one PNG page image (Korean and English)."""
    if tesseract.path is None:
        raise OcrError("Tesseract is not installed")
    argv = [tesseract.path, "stdin", "stdout", "-l", tesseract.lang_arg, "--psm", "3"]
    env = dict(os.environ, OMP_THREAD_LIMIT="1")  # one page at a time; threads only contend
    try:
        proc = subprocess.run(argv, input=png, capture_output=True, timeout=PAGE_TIMEOUT_S,
                              env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise OcrError(f"Tesseract took more than {PAGE_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        raise OcrError(proc.stderr.decode("utf-8", "replace").strip()[-300:] or "Tesseract failed")
    return proc.stdout.decode("utf-8", "replace")


def status() -> dict:
    """What `ragchat doctor` shows about OCR."""
    found = find_tesseract()
    if found.usable:
        note = None if not found.missing_languages else (
            f"Tesseract lacks {'+'.join(found.missing_languages)} language data: "
            f"{install_hint()}")
    else:
        note = ("no Tesseract with Korean or English found: scanned PDF pages are named in "
                f"the ingest report, not read; install it: {install_hint()}")
    return {"tesseract": found.path, "version": found.version, "languages": list(found.languages),
            "ocr_languages": found.lang_arg, "usable": found.usable, "note": note}
