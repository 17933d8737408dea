"""`ragchat ingest PATH...`"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ragchat.cli.layout import for_stderr
from ragchat.cli.options import collection_option
from ragchat.cli.terminal import json_text, safe_line


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@collection_option
@click.option("--rebuild", is_flag=True,
              help="Re-read and re-index everything (needed after changing the embedding "
                   "model); an index that cannot be read is first set aside (renamed with a "
                   "time stamp).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON report instead of text (with every file, as --report).")
@click.option("--report", "per_file", is_flag=True,
              help="List every file: what was read (pages, characters, chunks), what was not "
                   "and why.")
@click.option("-v", "--verbose", is_flag=True, help="List every skipped or failed file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--follow-links", is_flag=True, default=None,
              help="Also follow links that point outside the folder (skipped and named by "
                   "default; setting follow_links).")
@click.option("--watch", is_flag=True,
              help="After this ingest, keep watching the paths and ingest again whenever a "
                   "file is added, changed or removed (Ctrl-C stops).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              metavar="SECONDS", help="With --watch: how often to look for changes.")
def ingest(paths: tuple[Path, ...], collection: str | None, rebuild: bool, as_json: bool,
           per_file: bool, verbose: bool, quiet: bool, follow_links: bool | None, watch: bool,
           interval: float) -> None:
    """Make files and folders searchable (incremental: unchanged files are skipped).

    Reads text, Markdown, reST, HTML, PDF (scanned pages by OCR when Tesseract is
    installed), DOCX, PPTX, XLSX, CSV, HWP and HWPX, and common source and config files,
    in UTF-8, UTF-16, CP949/EUC-KR and other encodings. Skips hidden folders, .git,
    node_modules, virtualenvs, binary files and files over max_file_mb. Files that cannot
    be read, or only in part, are named with the reason. Safe to interrupt: the previous
    index stays usable and the next run finishes the work.

    \b
    Examples:
      ragchat ingest ~/notes
      ragchat ingest ~/papers report.pdf --collection work
      ragchat ingest ~/문서 --report
      ragchat ingest ~/notes --watch
    """
    from ragchat.config import load_settings

    settings = load_settings({"collection": collection, "follow_links": follow_links})
    _say_if_near_miss(settings.collection)
    if watch:
        with _stopped_by_signals():
            _ingest_and_watch(settings, paths, rebuild, interval, as_json=as_json,
                              verbose=verbose, per_file=per_file, quiet=quiet)
        return
    report = _run(settings, paths, rebuild, quiet or as_json)
    _show(report, as_json, verbose, per_file, settings.max_file_mb)
    if report.chunks_total == 0:
        raise _nothing_indexed(report, paths, settings.collection)
    if report.failed and not (report.new or report.changed or report.unchanged):
        raise SystemExit(1)


def _say_if_near_miss(name: str) -> None:
    """A new collection whose name is a near miss of an existing one ('llms' beside 'llm')
    is made, as asked, with a notice: it may be a typo."""
    from ragchat.index.collection import collection_names, get_collection, listed, near_miss

    if get_collection(name).exists():
        return
    names = collection_names()
    near = near_miss(name, names)
    if near:
        click.echo(for_stderr(f"ragchat: making a new collection '{safe_line(name)}'; did you "
                              f"mean '{safe_line(near)}'? (collections: "
                              f"{safe_line(listed(names))})"), err=True)


def _run(settings, paths: tuple[Path, ...], rebuild: bool, quiet: bool):
    """One ingest with a progress bar; Ctrl-C says what is kept and exits 130."""
    from ragchat.cli.progress import progress_for_terminal
    from ragchat.ingest.ingester import ingest_paths

    with progress_for_terminal(quiet) as progress:
        try:
            return ingest_paths(settings, list(paths), rebuild=rebuild, progress=progress)
        except KeyboardInterrupt:
            click.echo("\nInterrupted: the index is as it was before this run; embeddings "
                       "computed so far are kept, so running it again finishes quickly.", err=True)
            raise SystemExit(130) from None


def _show(report, as_json: bool, verbose: bool, per_file: bool, max_file_mb: float) -> None:
    _print_set_aside(report)
    if as_json:
        click.echo(json_text(report.as_dict()))
        return
    _print_report(report, verbose, max_file_mb)
    if per_file:
        _print_files(report)
    for notice in report.notices:  # about the collection as this ingest left it
        click.echo(for_stderr(f"ragchat: {safe_line(notice)}"), err=True)


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """SIGTERM (`kill PID`, a service manager stopping the watch) interrupts the command as
    Ctrl-C does. SIGINT keeps what it was given: Python's Ctrl-C handler, or ignored when the
    process started with it ignored, as a shell script's background job does (bash ignores
    SIGINT there so that the Ctrl-C meant for the script's foreground command spares it); a
    watch started that way stops on SIGTERM."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _ingest_and_watch(settings, paths: tuple[Path, ...], rebuild: bool, interval: float, *,
                      as_json: bool, verbose: bool, per_file: bool, quiet: bool) -> None:
    """The first ingest, then the watch (an empty collection is no error here: files may
    come)."""
    from ragchat.ingest.watch import max_bytes, snapshot

    roots = [p.expanduser().absolute() for p in paths]
    # taken before the ingest: what changes while it runs is seen at the first check
    since = snapshot(roots, max_bytes(settings), settings.follow_links)
    report = _run(settings, paths, rebuild, quiet or as_json)
    _show(report, as_json, verbose, per_file, settings.max_file_mb)
    if report.chunks_total == 0:
        nothing = _nothing_indexed(report, paths, settings.collection).message
        click.echo(f"ragchat: {safe_line(nothing)}"
                   "; the watch ingests files as they are added", err=True)
    _watch(settings, paths, roots, since, interval, quiet or as_json, as_json, verbose)


def _watch(settings, paths: tuple[Path, ...], roots: list[Path], since, interval: float,
           quiet: bool, as_json: bool, verbose: bool) -> None:
    """Ingest again after every change until Ctrl-C or SIGTERM (exit 0); --json: one report
    a line."""
    import time

    from ragchat.ingest.watch import watch

    where = safe_line(", ".join(str(p) for p in paths))
    click.echo(f"watching {where} for changes every {interval:g} s (Ctrl-C stops)", err=True)

    def on_report(change, report) -> None:
        if not as_json:
            click.echo(f"[{time.strftime('%H:%M:%S')}] ", nl=False)
        _show(report, as_json, verbose, False, settings.max_file_mb)

    def on_busy(change, exc) -> None:
        click.echo(f"[{time.strftime('%H:%M:%S')}] {safe_line(change)}: "
                   f"{safe_line(exc.message)}; trying again at "
                   f"the next check", err=True)

    try:
        watch(settings, roots, since=since, interval=interval,
              ingest=lambda: _run(settings, paths, False, quiet),
              on_report=on_report, on_busy=on_busy)
    except KeyboardInterrupt:
        click.echo("\nstopped watching; the index holds every change ingested so far", err=True)


def _nothing_indexed(report, paths: tuple[Path, ...], collection: str):
    """The error for an ingest that left the collection empty, saying why."""
    from ragchat.errors import RagchatError

    where = ", ".join(str(p) for p in paths)
    again = "ragchat ingest FOLDER" + ("" if collection == "default"
                                       else f" --collection {collection}")
    skipped = sum(len(v) for v in report.skipped.values())
    if report.failed and len(report.failed) == report.files_seen:
        why = f"none of the {_files(report.files_seen)} found could be read (reasons above)"
        hint = "fix or convert those files, then run the same command again"
    elif report.files_seen:
        why = (f"the {_files(report.files_seen)} found "
               f"{'holds' if report.files_seen == 1 else 'hold'} no text")
        needs_ocr = any(f.needs_ocr for f in report.files)
        hint = ("their pages are scanned images: install Tesseract (see `ragchat doctor`) and "
                "run the same command again" if needs_ocr else
                f"point it at a folder with text documents: {again}")
    elif skipped:
        counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(report.skipped.items()))
        why = f"{where} holds no file ragchat reads ({skipped} skipped: {counts})"
        hint = (f"-v lists them; `ragchat ingest --help` lists the formats ragchat reads; "
                f"or choose another folder: {again}")
    else:
        why = f"{where} holds no files"
        hint = f"point it at the folder with your documents: {again}"
    return RagchatError(f"nothing was indexed into collection '{collection}': {why}", hint=hint)


def _files(n: int) -> str:
    return "1 file" if n == 1 else f"{n} files"


def _skipped_label(reason: str, max_file_mb: float) -> str:
    if reason == "too large":
        return f"too large (over max_file_mb = {max_file_mb:g} MB; RAGCHAT_MAX_FILE_MB raises it)"
    return reason


def _print_set_aside(report) -> None:
    """--rebuild found an index it could not read: say where the old one went."""
    if report.set_aside:
        first, more = report.set_aside[0], len(report.set_aside) - 1
        also = f" (and {more} more file{'s' if more > 1 else ''} beside it)" if more else ""
        click.echo(f"the index of collection '{safe_line(report.collection)}' could not be "
                   f"read: moved it to {safe_line(first)}{also}; built a new one", err=True)


def summary_lines(report) -> list[str]:
    """What an ingest did, in files and chunks, and what was embedded (and why that is fewer
    than the chunks added): the lines `ingest` and the chat's /ingest print."""
    t = report.timings
    lines = [f"{safe_line(report.collection)}: {report.new} new, {report.changed} changed, "
             f"{report.unchanged} unchanged, {report.removed} removed files; "
             f"{report.chunks_added} chunks added, {report.chunks_removed} removed, "
             f"{report.chunks_total} in the index ({t.get('total', 0):.1f} s)"]
    if report.vectors_embedded or report.vectors_reused:
        lines.append("  " + _embedded_line(report))
    return lines


def _print_report(report, verbose: bool, max_file_mb: float) -> None:
    for line in summary_lines(report):
        click.echo(line)
    skipped = {k: len(v) for k, v in report.skipped.items()}
    if skipped:
        click.echo("  skipped: " + ", ".join(f"{n} {safe_line(_skipped_label(k, max_file_mb))}"
                                             for k, n in sorted(skipped.items()))
                   + ("" if verbose else " (-v lists them)"))
        if verbose:
            for reason, items in sorted(report.skipped.items()):
                for item in items:
                    click.echo(f"    {safe_line(reason)}: {safe_line(item)}")
    for path, reason in report.failed:
        click.echo(f"  could not read {safe_line(path)}: {safe_line(reason)}", err=True)
    for entry in report.partial:
        click.echo(f"  read in part {safe_line(entry.path)}: "
                   + "; ".join(safe_line(p) for p in entry.problems), err=True)


def _embedded_line(report) -> str:
    """What was embedded, and why that is fewer than the chunks added: a chunk whose text
    another chunk of this run has, or an earlier run embedded, gets no vector of its own."""
    line = f"embedded {_chunks(report.vectors_embedded)} with {safe_line(report.model)}"
    shared, reused = report.vectors_shared, report.vectors_reused
    if shared:
        line += (f"; {shared} more {'repeats' if shared == 1 else 'repeat'} the text of "
                 "another chunk (one vector per text)")
    if reused:
        line += (f"; {reused} {'reuses a vector' if reused == 1 else 'reuse vectors'} of the "
                 "same text embedded before")
    return line


def _chunks(n: int) -> str:
    return "1 chunk" if n == 1 else f"{n} chunks"


def _print_files(report) -> None:
    """Every file the walk found, and every file it skipped, with what happened to it."""
    click.echo("\nfiles:")
    for entry in report.files:
        status = "partly read" if entry.partial else entry.status
        click.echo(f"  {status:<11} {safe_line(entry.path)}")
        click.echo(f"  {'':<11}   {safe_line(entry.describe())}")
        for problem in entry.problems if entry.partial else ():
            click.echo(f"  {'':<11}   not read: {safe_line(problem)}")
    for reason, items in sorted(report.skipped.items()):
        for item in items:
            click.echo(f"  {'skipped':<11} {safe_line(item)}")
            click.echo(f"  {'':<11}   {safe_line(reason)}")
