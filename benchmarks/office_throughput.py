"""Ingest throughput on office files: how fast each reader turns DOCX, PPTX, XLSX, HWP and
HWPX files into text, and what a whole `ragchat ingest` of such a folder costs.

    python benchmarks/office_throughput.py --korean benchmarks/data/KorQuAD_v1.0_dev.json \
        [--hwp-samples benchmarks/data/hwp-samples] [--files 40]

Writes --files documents of each office kind (python-docx, python-pptx, openpyxl) filled with
Korean passages from a KorQuAD-format file (a report of headings, paragraphs and a table; a
deck of slides with notes; a workbook of rows), and copies the HWP/HWPX files found under
--hwp-samples. Then:

1. reading alone: every file through ragchat's reader in this process, per kind: files/s,
   MB/s, characters/s, chunks;
   --scans copies of the image-only Korean test PDF are read too: with Tesseract installed
   their pages are OCR'd, which the `pdf` row then times;
2. a first `ragchat ingest --json` of the whole folder into a throwaway RAGCHAT_HOME with the
   bundled MiniLM: wall time, chunks/s, and the time per stage (read, chunk, embed).

Writes benchmarks/results/office-ingest-NAME.json.
"""

from __future__ import annotations

import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import REPO_DIR, embedding_env, ingest_folder, load_squad, save_results, script_parser
from tables import markdown_table, number, read_results, table, table_mode

sys.path.insert(0, str(REPO_DIR))


def passages_of(path: Path) -> list[tuple[str, str]]:
    return [(a.title, " ".join(p.context.split())) for a in load_squad(path) for p in a.paragraphs]


def write_docx(path: Path, items: list[tuple[str, str]]) -> None:
    import docx

    document = docx.Document()
    for title, text in items:
        document.add_heading(title, level=1)
        for sentence in re.split(r"(?<=다\.)\s+", text):
            document.add_paragraph(sentence)
    table = document.add_table(rows=len(items) + 1, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "제목", "길이"
    for row, (title, text) in enumerate(items, start=1):
        table.cell(row, 0).text, table.cell(row, 1).text = title, str(len(text))
    document.save(str(path))


def write_pptx(path: Path, items: list[tuple[str, str]]) -> None:
    import pptx

    deck = pptx.Presentation()
    for title, text in items:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text_frame.text = text[:400]
        slide.notes_slide.notes_text_frame.text = text[400:800]
    deck.save(str(path))


def write_xlsx(path: Path, items: list[tuple[str, str]]) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["번호", "제목", "요약", "길이"])
    for n, (title, text) in enumerate(items, start=1):
        for sentence in re.split(r"(?<=다\.)\s+", text):
            sheet.append([n, title, sentence, len(sentence)])
    workbook.save(str(path))


WRITERS = {"docx": write_docx, "pptx": write_pptx, "xlsx": write_xlsx}


SCANNED = REPO_DIR / "tests" / "fixtures" / "scanned-korean.pdf"


def build(folder: Path, passages: list[tuple[str, str]], files: int, hwp: Path | None,
          seed: int, scans: int) -> None:
    rng = random.Random(seed)
    for i in range(scans):  # one image-only Korean page each: OCR'd when Tesseract is there
        shutil.copy(SCANNED, folder / f"scan-{i:03d}.pdf")
    for kind, writer in WRITERS.items():
        for i in range(files):
            items = rng.sample(passages, min(6, len(passages)))
            writer(folder / f"{kind}-{i:03d}.{kind}", items)
    if hwp:
        for n, path in enumerate(sorted(hwp.rglob("*"))):
            if path.suffix.lower() in (".hwp", ".hwpx"):
                shutil.copy(path, folder / f"hwp-{n:03d}{path.suffix.lower()}")


def read_alone(folder: Path) -> dict:
    from ragchat.ingest.chunking import chunk_sections
    from ragchat.ingest.document import UnreadableFileError
    from ragchat.ingest.readers import read_document

    kinds: dict[str, dict] = {}
    for path in sorted(folder.iterdir()):
        k = kinds.setdefault(path.suffix.lstrip("."), {"files": 0, "bytes": 0, "chars": 0,
                                                       "chunks": 0, "seconds": 0.0,
                                                       "unreadable": 0})
        start = time.perf_counter()
        try:
            document = read_document(path)
        except UnreadableFileError:
            k["unreadable"] += 1
            continue
        finally:
            k["seconds"] += time.perf_counter() - start
        k["files"] += 1
        k["bytes"] += path.stat().st_size
        k["chars"] += sum(len(s.text) for s in document.sections)
        k["chunks"] += len(chunk_sections(list(document.sections), 800, 120))
        k["ocr_pages"] = k.get("ocr_pages", 0) + len(document.ocr_pages)
        k["needs_ocr_pages"] = k.get("needs_ocr_pages", 0) + len(document.needs_ocr)
    for k in kinds.values():
        k["seconds"] = round(k["seconds"], 3)
        k["files_per_s"] = round(k["files"] / k["seconds"], 1) if k["seconds"] else None
        k["mb_per_s"] = round(k["bytes"] / 1e6 / k["seconds"], 2) if k["seconds"] else None
        k["chars_per_s"] = round(k["chars"] / k["seconds"]) if k["seconds"] else None
    return kinds


def main() -> None:
    ap = script_parser(__doc__)
    ap.add_argument("--korean", type=Path, required=True, help="KorQuAD-format file")
    ap.add_argument("--hwp-samples", type=Path, help="folder of .hwp/.hwpx files to add")
    ap.add_argument("--files", type=int, default=40, help="files of each office kind")
    ap.add_argument("--scans", type=int, default=5,
                    help="copies of the image-only Korean test PDF (OCR'd if Tesseract is there)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, home = Path(tmp) / "docs", Path(tmp) / "home"
        folder.mkdir()
        build(folder, passages_of(args.korean), args.files, args.hwp_samples, args.seed,
              args.scans)
        kinds = read_alone(folder)
        run, report = ingest_folder(folder, home, embedding_env("minilm"), "-q")
    timings = {k: round(v, 2) for k, v in report.get("timings", {}).items()}
    rows = [[kind, k["files"], k["unreadable"], round(k["bytes"] / 1e6, 2), k["chars"],
             k["chunks"], k["files_per_s"], k["mb_per_s"], k["chars_per_s"]]
            for kind, k in sorted(kinds.items())]
    print(table(rows, ["kind", "files", "unreadable", "MB", "characters", "chunks", "files/s",
                       "MB/s", "chars/s"]))
    chunks = report.get("chunks_added", 0)
    print(f"ingest: {report.get('new')} files, {chunks} chunks in {run.seconds:.1f} s "
          f"({chunks / run.seconds:.1f} chunks/s); stages: {timings}")
    from ragchat.ingest.ocr import find_tesseract

    path = save_results(f"office-ingest-{args.name}", {
        "files_per_kind": args.files, "tesseract": find_tesseract().version, "reading": kinds,
        "ingest": {"seconds": round(run.seconds, 2), "cpu_seconds": round(run.cpu_seconds, 2),
                   "files": report.get("new"), "failed": len(report.get("failed", [])),
                   "chunks": chunks, "chunks_per_s": round(chunks / run.seconds, 2),
                   "timings": timings}}, args.out_dir)
    print(f"wrote {path}")


def markdown(paths: list[Path]) -> str:
    """Reading alone, per kind of file: files, size, text, and how fast."""
    [data] = [read_results(p) for p in paths]
    rows = [[kind, k["files"], k["unreadable"], number(k["bytes"] / 1e6, 1), f"{k['chars']:,}",
             f"{k['chunks']:,}", number(k["files_per_s"], 0 if k["files_per_s"] >= 10 else 1),
             f"{k['chars_per_s']:,}"] for kind, k in data["reading"].items()]
    return markdown_table(["kind", "files read", "not readable", "MB", "characters", "chunks",
                           "files/s", "characters/s"], rows)


TABLES = {"reading": markdown}


if __name__ == "__main__" and not table_mode(TABLES):
    main()
