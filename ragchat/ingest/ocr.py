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
import statistics
import subprocess
import tempfile
import time
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


class OcrTimeoutError(OcrError):
    """Tesseract did not finish one page within the time it was given."""


@dataclass(frozen=True)
class OcrText:
    """What one Tesseract run read in a page image, and how sure it was of it."""

    text: str
    psm: int  # Tesseract's page segmentation mode
    characters: int  # in the words read, spaces not counted
    confidence: float  # Tesseract's word confidences (0-100), mean weighted by length
    line_length: float = 0.0  # the median line's width in line heights


# Page segmentation, tried in this order until a reading is sure (see `sure`): 3 finds the
# blocks and columns of a page itself, but reads a sparse page (a short memo on an A4 sheet)
# as nothing, and often a page of Korean text as scattered pieces of lines; 6 takes the page
# as one block of text and reads both, but reads across the columns of a two-column page.
# benchmarks/ocr_accuracy.py measured the rule (docs/performance.md) and sets PSM_ORDER to
# compare the modes alone.
PSM_ORDER: tuple[int, ...] = (3, 6)
# A reading is sure with this many characters, this confidence and lines this long (the
# median line's width in line heights): psm 3's good readings had lines of 15.7 line
# heights or more, its readings in pieces 6.9 or less.
SURE_CHARACTERS = 20
SURE_CONFIDENCE = 80.0
SURE_LINE_LENGTH = 8.0
# A later reading replaces an earlier one that read this many times fewer confident
# characters: psm 6 read 1.0-1.02 times psm 3's on pages psm 3 read well (it adds little but
# a reading across columns), 3.2 times or more on those psm 3 read in pieces.
REPLACE_RATIO = 1.5


def ocr_png(png: bytes, tesseract: Tesseract, timeout: float = PAGE_TIMEOUT_S) -> str:
    """The text Tesseract reads in one PNG page image (Korean and English), within `timeout`
    seconds for all its tries: each mode of PSM_ORDER until a reading is sure; the best."""
    deadline = time.monotonic() + timeout
    best: OcrText | None = None
    for psm in PSM_ORDER:
        try:
            result = read_image(png, tesseract, psm, deadline - time.monotonic())
        except OcrTimeoutError:
            if best is None:
                raise
            break
        best = result if best is None or better(result, best) else best
        if sure(best):
            break
    assert best is not None
    return best.text


def sure(result: OcrText) -> bool:
    """A reading that another page segmentation is not worth trying for."""
    return (result.characters >= SURE_CHARACTERS and result.confidence >= SURE_CONFIDENCE
            and result.line_length >= SURE_LINE_LENGTH)


def better(new: OcrText, old: OcrText) -> bool:
    """Whether `new` read so much more than `old` that it replaces it."""
    return score(new) > REPLACE_RATIO * score(old)


def score(result: OcrText) -> float:
    """Characters read with confidence: characters times the mean confidence."""
    return result.characters * result.confidence / 100


def read_image(png: bytes, tesseract: Tesseract, psm: int, timeout: float) -> OcrText:
    """One Tesseract run over a PNG image in page segmentation mode `psm`: its text output
    (which spaces words as printed) and its TSV output (which holds word confidences)."""
    if tesseract.path is None:
        raise OcrError("Tesseract is not installed")
    if timeout <= 0:
        raise OcrTimeoutError("no time left for Tesseract")
    with tempfile.TemporaryDirectory(prefix="ragchat-ocr-") as folder:
        out = os.path.join(folder, "page")
        argv = [tesseract.path, "stdin", out, "-l", tesseract.lang_arg, "--psm", str(psm),
                "txt", "tsv"]
        _run_tesseract(argv, png, timeout)
        text, tsv = (_read_text(f"{out}.{kind}") for kind in ("txt", "tsv"))
    return OcrText(text, psm, *read_tsv(tsv))


def _run_tesseract(argv: list[str], png: bytes, timeout: float) -> None:
    env = dict(os.environ, OMP_THREAD_LIMIT="1")  # one page at a time; threads only contend
    try:
        proc = subprocess.run(argv, input=png, capture_output=True, timeout=timeout,
                              env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise OcrTimeoutError(f"Tesseract took more than {timeout:.0f} s") from exc
    if proc.returncode != 0:
        raise OcrError(proc.stderr.decode("utf-8", "replace").strip()[-300:] or "Tesseract failed")


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError as exc:
        raise OcrError(f"Tesseract wrote no output ({exc.strerror})") from exc


def read_tsv(tsv: str) -> tuple[int, float, float]:
    """From Tesseract's TSV output: the characters of its words, their confidence (0-100, a
    mean weighted by word length) and how long its lines are (the median line's width in
    line heights; 0 without lines)."""
    characters, weighted = 0, 0.0
    boxes: dict[tuple[str, ...], tuple[int, int]] = {}
    worded: set[tuple[str, ...]] = set()
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12:
            continue
        if cols[0] == "4":
            boxes[tuple(cols[1:5])] = (int(_number(cols[8])), int(_number(cols[9])))
        elif cols[0] == "5" and cols[11].strip():
            characters += len(cols[11].strip())
            weighted += _number(cols[10]) * len(cols[11].strip())
            worded.add(tuple(cols[1:5]))
    lengths = [w / h for key, (w, h) in boxes.items() if key in worded and h > 0]
    return (characters, weighted / characters if characters else 0.0,
            statistics.median(lengths) if lengths else 0.0)


def _number(text: str) -> float:
    try:
        return max(float(text), 0.0)
    except ValueError:
        return 0.0


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
