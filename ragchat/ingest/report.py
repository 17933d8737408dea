"""What an ingest did with each file: read (its pages, slides or sheets, characters and
chunks), partly read (which pages were not, and why), unchanged, or not read (why).

A file's entry is also stored with the file in the index (files.info), so that a later
ingest that skips the unchanged file still reports what was missing from it, and re-reads
it once OCR has become available.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class FileReport:
    path: str
    status: str  # "new", "changed", "unchanged", "failed"
    kind: str = ""  # "pdf", "docx", "hwp", ...
    unit: str = "file"  # what `units` counts: "page", "slide", "sheet", "section", "file"
    units: int = 0
    chars: int = 0
    chunks: int = 0
    problems: tuple[str, ...] = ()  # what was not read, and why (or why the file was not read)
    ocr_pages: tuple[int, ...] = ()
    needs_ocr: tuple[int, ...] = ()

    @property
    def partial(self) -> bool:
        return self.status != "failed" and bool(self.problems)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["partial"] = self.partial
        return d

    def info_json(self) -> str:
        """What is stored with the file: everything but its path and this run's status."""
        d = asdict(self)
        del d["path"], d["status"]
        return json.dumps(d, ensure_ascii=False)

    def describe(self) -> str:
        """One line: '12 pages, 20,345 characters, 31 chunks; 2 pages by OCR'."""
        if self.status == "failed":
            return "not read: " + "; ".join(self.problems)
        plural = self.unit if self.units == 1 else self.unit + "s"
        text = (f"{self.units} {plural}, {self.chars:,} characters, {self.chunks} "
                f"chunk{'' if self.chunks == 1 else 's'}")
        if self.ocr_pages:
            text += f"; {len(self.ocr_pages)} page{'s' if len(self.ocr_pages) > 1 else ''} by OCR"
        return text


NO_TEXT = "no text found in it"


def from_result(path: str, kind: str, result, size: int = 0) -> FileReport:
    """The entry of a file the reader process read (a worker.ReadResult). A file of `size`
    bytes (not an empty one) that gave no chunk and says nothing about why (a document of
    empty paragraphs, a sheet of blanks) is named too: nothing is dropped without a word."""
    problems = result.problems or ((NO_TEXT,) if not result.chunks and size else ())
    return FileReport(path, "new", kind, result.unit, result.units, result.chars,
                      len(result.chunks), problems, result.ocr_pages, result.needs_ocr)


def from_stored(path: str, info: str | None, status: str = "unchanged") -> FileReport:
    """The entry stored by an earlier ingest (a bare one for an index that has none)."""
    try:
        d = json.loads(info) if info else {}
    except json.JSONDecodeError:
        d = {}
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()
              if k in FileReport.__dataclass_fields__ and k not in ("path", "status")}
    return replace(FileReport(path, status), **fields)  # type: ignore[arg-type]  # JSON values


def failed(path: str, kind: str, reason: str) -> FileReport:
    return FileReport(path, "failed", kind, problems=(reason,))
