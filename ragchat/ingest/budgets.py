"""What one file may cost to read: every document is a stranger's, and may be a bomb.

Each budget is a setting (docs/reference/config.md) and is checked *before* the memory or
time is spent: declared sizes of a container's parts before they are unpacked, XML elements
as they are parsed (streaming), cells as they are read, pixels before a page is rendered,
OCR pages and seconds as they go. A file over a budget is skipped or read in part, and the
report names the budget and the setting that raises it; the ingest goes on. The reading
process also runs under a memory limit and a wall-clock limit (ingest/worker.py), which
catch what no budget foresaw. `ReadOptions` is what every reader is given: the budgets and
the OCR mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ragchat.ingest.document import UnreadableFileError

MB = 1024 * 1024


@dataclass(frozen=True)
class Budgets:
    inflated_bytes: int = 256 * MB  # a container's parts together, unpacked
    xml_elements: int = 2_000_000  # per XML part
    sheet_cells: int = 1_000_000  # per spreadsheet file, counted as read
    page_pixels: int = 40_000_000  # a PDF page rendered for OCR
    ocr_pages: int = 200  # per PDF
    ocr_seconds: float = 300.0  # per PDF
    file_seconds: float = 600.0  # wall clock, per file
    memory_bytes: int = 1536 * MB  # the reading process's address space
    file_bytes: int = 20 * MB  # a file's size on disk (max_file_mb; the walk skips bigger ones)

    @classmethod
    def from_settings(cls, settings) -> Budgets:
        return cls(
            inflated_bytes=int(settings.max_inflated_mb * MB),
            xml_elements=int(settings.max_xml_elements),
            sheet_cells=int(settings.max_sheet_cells),
            page_pixels=int(settings.max_page_megapixels * 1_000_000),
            ocr_pages=int(settings.ocr_max_pages),
            ocr_seconds=float(settings.ocr_max_seconds),
            file_seconds=float(settings.file_timeout_s),
            memory_bytes=int(settings.reader_memory_mb) * MB,
            file_bytes=int(settings.max_file_mb * MB),
        )


@dataclass(frozen=True)
class ReadOptions:
    """How one file is read: within `budgets`, and whether pages without usable text are
    OCR'd ("auto": where Tesseract is installed; "off": never, they are named instead)."""

    budgets: Budgets = field(default_factory=Budgets)
    ocr: str = "auto"


DEFAULT_OPTIONS = ReadOptions()


# budget field -> the setting that raises it, for the report's hint
SETTING_OF = {
    "inflated_bytes": "max_inflated_mb",
    "xml_elements": "max_xml_elements",
    "sheet_cells": "max_sheet_cells",
    "page_pixels": "max_page_megapixels",
    "ocr_pages": "ocr_max_pages",
    "ocr_seconds": "ocr_max_seconds",
    "file_seconds": "file_timeout_s",
    "memory_bytes": "reader_memory_mb",
    "file_bytes": "max_file_mb",
}


def raise_hint(budget: str) -> str:
    """'raise max_xml_elements (RAGCHAT_MAX_XML_ELEMENTS) to read it'."""
    key = SETTING_OF[budget]
    return f"raise {key} (RAGCHAT_{key.upper()}) to read it"


class OverBudgetError(UnreadableFileError):
    """The file needs more than a budget allows: skipped, with the budget named."""

    def __init__(self, message: str, budget: str) -> None:
        super().__init__(message, hint=raise_hint(budget))
        self.budget = budget


def megabytes(size: float) -> str:
    """'2.4 MB', '256 MB': a decimal below 10."""
    mb = size / MB
    return f"{mb:,.1f} MB" if mb < 10 else f"{mb:,.0f} MB"


def over_budget(budget: str, what: str) -> OverBudgetError:
    """OverBudgetError('word/document.xml has more than 2,000,000 XML elements', ...)."""
    return OverBudgetError(what, budget)
