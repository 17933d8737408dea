"""Compare HWP/HWPX readers on real files: ragchat's own reader and, when installed, the
maintained PyPI readers `hwp-hwpx-parser` and `rhwp-python`.

    pip install hwp-hwpx-parser rhwp-python      # the readers to compare against (optional)
    python benchmarks/hwp_readers.py FOLDER [--name NAME]

Correctness is scored against the preview text that Hancom Office itself writes into
every file it saves (`PrvText` in an HWP file, `Preview/PrvText.txt` in an HWPX file): the
first kilobyte or so of the document's text, table cells included. For each file, recall is
the share of the preview's words that appear in the reader's text (whitespace ignored).
Files without a preview, and password-protected or distribution-only files (whose
preview is all a reader could honestly give), are read but not scored. Also counted:
unprotected files a reader raised on or returned no text for although they have text,
protected files it reported as such (an error with a reason) or returned text for
anyway, characters of text, and seconds per file.

Writes benchmarks/results/hwp-readers-NAME.json.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
import zipfile
from pathlib import Path

from common import REPO_DIR, save_results, script_parser
from tables import table

sys.path.insert(0, str(REPO_DIR))


def preview_text(path: Path) -> str | None:
    """Hancom's own preview of the file's text, or None."""
    try:
        if path.suffix.lower() == ".hwpx":
            with zipfile.ZipFile(path) as zf:
                name = next((n for n in zf.namelist() if n.lower() == "preview/prvtext.txt"), None)
                return zf.read(name).decode("utf-8", "replace") if name else None
        import olefile

        with olefile.OleFileIO(str(path)) as ole:
            if not ole.exists("PrvText"):
                return None
            return ole.openstream("PrvText").read().decode("utf-16-le", "replace")
    except Exception:  # noqa: BLE001 - a file without a readable preview is simply not scored
        return None


def protected(path: Path) -> bool:
    """Password-protected or distribution-only, read from the file itself (no reader asked)."""
    try:
        if path.suffix.lower() == ".hwpx":
            with zipfile.ZipFile(path) as zf:
                name = next((n for n in zf.namelist() if n.lower() == "meta-inf/manifest.xml"), None)
                return bool(name) and b"encryption-data" in zf.read(name)
        import olefile

        with olefile.OleFileIO(str(path)) as ole:
            flags = int.from_bytes(ole.openstream("FileHeader").read(40)[36:40], "little")
            return bool(flags & 0b10110) or ole.exists("ViewText/Section0")
    except Exception:  # noqa: BLE001
        return False


def preview_words(preview: str) -> list[str]:
    words = re.split(r"[\s<>]+", preview.replace("\x00", ""))
    return [w for w in words if w and not all(c == "\ufffd" for c in w)][:-1]  # last may be cut


def recall(words: list[str], text: str) -> float | None:
    if not words:
        return None
    squashed = re.sub(r"\s+", "", text)
    return sum(w in squashed for w in words) / len(words)


def read_ragchat(path: Path) -> str:
    from ragchat.ingest.readers import read_document

    return "\n\n".join(s.text for s in read_document(path).sections)


def read_hwp_hwpx_parser(path: Path) -> str:
    from hwp_hwpx_parser import Reader

    with Reader(str(path)) as r:
        if getattr(r, "is_encrypted", False):
            raise RuntimeError("encrypted (reported by the reader)")
        return r.text


def read_rhwp(path: Path) -> str:
    import rhwp

    return rhwp.parse(str(path)).extract_text()


READERS = {"ragchat": read_ragchat, "hwp-hwpx-parser": read_hwp_hwpx_parser, "rhwp": read_rhwp}


def import_error(name: str) -> str | None:
    """Why the reader cannot be imported here, or None when it can."""
    module = {"ragchat": "ragchat", "hwp-hwpx-parser": "hwp_hwpx_parser", "rhwp": "rhwp"}[name]
    try:
        __import__(module)
        return None
    except ImportError as exc:  # the message names the file: keep it, not where it lives
        return str(exc).replace(sys.prefix, "<python env>")[:200]


def run_reader(name: str, files: list[Path]) -> dict:
    per_file = []
    for path in files:
        start = time.perf_counter()
        try:
            text, error = READERS[name](path), None
        except Exception as exc:  # noqa: BLE001 - that is what is being measured
            text, error = "", f"{type(exc).__name__}: {str(exc)[:120]}"
        seconds = time.perf_counter() - start
        words = preview_words(preview_text(path) or "")
        per_file.append({"file": path.name, "protected": protected(path),
                         "chars": len(text), "seconds": round(seconds, 4),
                         "recall": recall(words, text) if not error else
                         (0.0 if words else None), "error": error})
    scored = [f["recall"] for f in per_file if f["recall"] is not None and not f["protected"]]
    locked = [f for f in per_file if f["protected"]]
    return {
        "protected_files": len(locked),
        "protected_reported": sum(f["error"] is not None for f in locked),
        "protected_returned_text": sum(f["error"] is None and f["chars"] > 0 for f in locked),
        "unprotected_raised": sum(f["error"] is not None for f in per_file if not f["protected"]),
        "unprotected_empty": sum(f["error"] is None and f["chars"] == 0 and f["recall"] is not None
                                 for f in per_file if not f["protected"]),
        "files": len(files),
        "read": sum(f["error"] is None for f in per_file),
        "raised": sum(f["error"] is not None for f in per_file),
        "scored": len(scored),  # unprotected files with a preview to score against
        "mean_recall": round(statistics.fmean(scored), 4) if scored else None,
        "files_recall_below_0.9": sum(r < 0.9 for r in scored),
        "chars": sum(f["chars"] for f in per_file),
        "seconds_total": round(sum(f["seconds"] for f in per_file), 3),
        "per_file": per_file,
    }


def pair_agreement(name: str, files: list[Path]) -> dict:
    """Files saved twice, as X.hwp and X.hwpx, hold one document: a reader should give the
    same text for both. Similarity of the two texts (whitespace ignored), 1.0 = identical."""
    import difflib

    pairs = [(p, p.with_suffix(".hwpx")) for p in files
             if p.suffix.lower() == ".hwp" and p.with_suffix(".hwpx").exists()]
    scores = []
    for hwp, hwpx in pairs:
        try:
            a, b = (re.sub(r"\s+", "", READERS[name](x)) for x in (hwp, hwpx))
        except Exception:  # noqa: BLE001 - a pair a reader cannot read scores 0
            a, b = "", "x"
        if a or b:
            scores.append(difflib.SequenceMatcher(None, a, b, autojunk=False).ratio())
    return {"pairs": len(scores), "mean_similarity": round(statistics.fmean(scores), 4)
            if scores else None, "pairs_below_0.99": sum(s < 0.99 for s in scores)}


def main() -> None:
    ap = script_parser(__doc__, name="samples")
    ap.add_argument("folder", type=Path, help="folder searched for .hwp and .hwpx files")
    args = ap.parse_args()
    files = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in (".hwp", ".hwpx"))
    results, rows, unavailable = {}, [], {}
    for name in READERS:
        error = import_error(name)
        if error:
            unavailable[name] = error
            print(f"{name}: cannot be imported ({error}), skipped")
            continue
        for suffix in (".hwp", ".hwpx"):
            subset = [f for f in files if f.suffix.lower() == suffix]
            r = run_reader(name, subset)
            results[f"{name} {suffix}"] = r
            rows.append([f"{name} {suffix}", r["files"], r["unprotected_raised"],
                         r["unprotected_empty"], r["scored"], r["mean_recall"] or 0.0,
                         r["files_recall_below_0.9"],
                         f"{r['protected_reported']}/{r['protected_files']}",
                         r["protected_returned_text"], r["chars"], r["seconds_total"]])
        results[f"{name} pairs"] = pair_agreement(name, files)
    print(table(rows, ["reader", "files", "raised", "empty", "scored", "recall", "recall<0.9",
                       "protected: reported", "protected: text", "chars", "seconds"]))
    for key, value in results.items():
        if key.endswith("pairs"):
            print(f"{key[:-6]}: the same document as .hwp and .hwpx, {value['pairs']} pairs: "
                  f"mean similarity {value['mean_similarity']}, "
                  f"{value['pairs_below_0.99']} pairs below 0.99")
    path = save_results(f"hwp-readers-{args.name}", {"folder_files": len(files),
                                                     "unavailable": unavailable,
                                                     "readers": results}, args.out_dir)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
