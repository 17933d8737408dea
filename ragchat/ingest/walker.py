"""Find the files to ingest: skip hidden folders, VCS and dependency folders, virtualenvs,
big files and types we do not read, and anything that is not a regular file.

Every folder is a stranger's: a FIFO named `notes.txt` would block a reader forever, a link
to `/etc` would index files from outside the folder, a link to a parent would loop. So only
regular files are read; links are followed only when their target lies inside one of the
ingested folders (or everywhere, with `follow_links`), and never twice into one folder.
A file is recorded under the path it was found at below its folder (the folder's own path
resolved), not its link target's: removing a link removes its files on the next ingest.
"""

from __future__ import annotations

import os
import stat
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
    path: Path  # absolute: the folder's resolved path and the names found below it
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
    try:
        return (folder / "pyvenv.cfg").is_file() or (folder / "conda-meta").is_dir()
    except OSError:  # an unreadable folder: the walk reports it when it gets there
        return False


@dataclass
class _Walk:
    roots: tuple[Path, ...]  # resolved: where links may point
    max_bytes: int
    report: WalkReport
    follow_links: bool
    seen_dirs: set[tuple[int, int]] = field(default_factory=set)
    seen_files: set[tuple[int, int]] = field(default_factory=set)

    def inside(self, real: Path) -> bool:
        return self.follow_links or any(real == r or real.is_relative_to(r) for r in self.roots)


def walk(roots: list[Path], max_bytes: int, report: WalkReport,
         follow_links: bool = False) -> Iterator[Candidate]:
    """Yield each readable regular file once, in a stable order."""
    resolved = []
    for root in roots:
        if not os.path.lexists(root):
            raise UsageError(f"no such file or folder: {root}", hint="check the path and try again")
        resolved.append(Path(root).resolve())
    state = _Walk(tuple(resolved), max_bytes, report, follow_links)
    for root in resolved:
        if root.is_dir():
            yield from _walk_dir(root, state)
        else:
            yield from _one_file(root, state)


def _walk_dir(root: Path, state: _Walk) -> Iterator[Candidate]:
    """Depth-first, names sorted, links checked at each entry (os.scandir: no extra stat)."""
    stack = [root]
    while stack:
        folder = stack.pop()
        entries = _list(folder, state)
        if entries is None:
            continue
        dirs = []
        for entry in entries:
            path = folder / entry.name
            if entry.name.startswith("."):
                state.report.skip("hidden folder" if _is_dir(entry) else "hidden", path)
            elif _is_dir(entry):
                if _keep_dir(path, entry, state):
                    dirs.append(path)
            else:
                yield from _one_file(path, state)
        stack.extend(reversed(dirs))


def _list(folder: Path, state: _Walk) -> list[os.DirEntry] | None:
    """The folder's entries sorted by name, once per real folder; None: skipped."""
    try:
        st = folder.stat()
        if (st.st_dev, st.st_ino) in state.seen_dirs:  # a link loop or a second way in
            state.report.skip("symlink loop", folder)
            return None
        state.seen_dirs.add((st.st_dev, st.st_ino))
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:
        state.report.skip("unreadable folder", folder)
        return None


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows a link: a link to a folder is a folder
    except OSError:
        return False


def _keep_dir(path: Path, entry: os.DirEntry, state: _Walk) -> bool:
    if entry.name in SKIP_DIRS or is_virtualenv(path):
        state.report.skip("dependency or build folder", path)
        return False
    if entry.is_symlink() and not _link_allowed(path, state):
        return False
    return True


def _link_allowed(path: Path, state: _Walk) -> bool:
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        state.report.skip("broken link or unreadable", path)
        return False
    if not state.inside(real):
        state.report.skip("link out of the folder", path)
        return False
    return True


def _one_file(path: Path, state: _Walk) -> Iterator[Candidate]:
    report = state.report
    try:
        st = path.stat()  # follows links
        is_link = path.is_symlink()
    except (OSError, RuntimeError):
        report.skip("broken link or unreadable", path)
        return
    if not stat.S_ISREG(st.st_mode):
        report.skip("not a regular file", path)  # a FIFO, socket or device: never opened
        return
    if is_link and not _link_allowed(path, state):
        return
    if (st.st_dev, st.st_ino) in state.seen_files:
        report.skip("same file as another path", path)  # a link to a file already taken
        return
    state.seen_files.add((st.st_dev, st.st_ino))
    if file_kind(path) is None:
        report.skip("unsupported type", path)
        return
    if st.st_size > state.max_bytes:
        report.skip("too large", path)
        return
    if not os.access(path, os.R_OK):
        report.skip("permission denied", path)
        return
    yield Candidate(path, st.st_size, st.st_mtime_ns)
