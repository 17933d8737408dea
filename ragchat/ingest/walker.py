"""Find the files to ingest: skip hidden folders, VCS and dependency folders, virtualenvs,
big files and types we do not read, and never loop through symlinks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ragchat.errors import UsageError
from ragchat.ingest.readers import file_kind

SKIP_DIRS = {
    "node_modules", "__pycache__", "site-packages", "dist-packages", "venv", ".venv",
    "bower_components", "target", "build", "dist", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".git", ".hg", ".svn", "__MACOSX",
}


@dataclass(frozen=True)
class Candidate:
    path: Path  # absolute, resolved
    size: int
    mtime_ns: int


@dataclass
class WalkReport:
    """Every file that was not taken, by reason ("hidden", "too large", ...)."""

    skipped: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, path: Path | str) -> None:
        self.skipped.setdefault(reason, []).append(str(path))

    def counts(self) -> dict[str, int]:
        return {reason: len(items) for reason, items in sorted(self.skipped.items())}


def is_virtualenv(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file() or (folder / "conda-meta").is_dir()


def walk(roots: list[Path], max_bytes: int, report: WalkReport) -> Iterator[Candidate]:
    """Yield each readable candidate once, in a stable order."""
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[Path] = set()
    for root in roots:
        if not root.exists():
            raise UsageError(f"no such file or folder: {root}", hint="check the path and try again")
        if root.is_file():
            yield from _one_file(root, max_bytes, report, seen_files, explicit=True)
            continue
        yield from _walk_dir(root, max_bytes, report, seen_dirs, seen_files)


def _walk_dir(root: Path, max_bytes: int, report: WalkReport, seen_dirs: set,
              seen_files: set[Path]) -> Iterator[Candidate]:
    def onerror(exc: OSError) -> None:
        report.skip("unreadable folder", exc.filename or root)

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=onerror):
        here = Path(folder)
        try:
            st = here.stat()
        except OSError:
            report.skip("unreadable folder", here)
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen_dirs:  # a symlink loop or a second way in
            report.skip("symlink loop", here)
            dirs[:] = []
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if _keep_dir(here / d, d, report))
        for name in sorted(files):
            if name.startswith("."):
                report.skip("hidden", here / name)
                continue
            yield from _one_file(here / name, max_bytes, report, seen_files, explicit=False)


def _keep_dir(path: Path, name: str, report: WalkReport) -> bool:
    if name.startswith("."):
        report.skip("hidden folder", path)
        return False
    if name in SKIP_DIRS or is_virtualenv(path):
        report.skip("dependency or build folder", path)
        return False
    return True


def _one_file(path: Path, max_bytes: int, report: WalkReport, seen: set[Path],
              explicit: bool) -> Iterator[Candidate]:
    try:
        real = path.resolve(strict=True)
        st = real.stat()
    except (OSError, RuntimeError):
        report.skip("broken link or unreadable", path)
        return
    if real in seen:
        return
    seen.add(real)
    if file_kind(real) is None:
        report.skip("unsupported type", path)
        return
    if st.st_size > max_bytes:
        report.skip("too large", path)
        return
    if not os.access(real, os.R_OK):
        report.skip("permission denied", path)
        return
    yield Candidate(real, st.st_size, st.st_mtime_ns)
