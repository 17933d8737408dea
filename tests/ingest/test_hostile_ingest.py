"""One ingest of a folder of strangers' files: bombs, traps, links out of the folder and a
reader that hangs, beside good files. The ingest ends well, the good files are searchable,
nothing from outside the folder is indexed, and every bad file is named with its reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ragchat.index.search import open_searcher
from ragchat.ingest.ingester import ingest_paths
from tests.helpers import cli
from tests.ingest.officegen import write_docx
from tests.ingest.test_budgets import W, with_part

HOOKS = Path(__file__).parent / "child_hooks"


def paths_found(settings, query: str) -> set[str]:
    searcher = open_searcher(settings)
    try:
        return {hit.path for hit in searcher.search(query, 10, "bm25")}
    finally:
        searcher.close()


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    """A folder with good files and one of each trap, and a secret outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the launch code is swordfish\n")
    root = tmp_path / "inbox"
    root.mkdir()
    (root / "notes.md").write_text("# Notes\n\nThe greenhouse needs watering on Tuesdays.\n")
    (root / "report.md").write_text("Quarterly revenue grew by twelve percent.\n")
    os.mkfifo(root / "pipe.txt")
    os.symlink(outside, root / "etc")
    os.symlink(outside / "secret.txt", root / "secret.txt")
    xml = b"<w:document " + W + b"><w:body>" + b"<w:p/>" * 300_000 + b"</w:body></w:document>"
    with_part(write_docx(tmp_path / "plain.docx"), root / "bomb.docx", "word/document.xml", xml)
    (root / "hang.md").write_text("a reader bug makes this one hang")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(HOOKS), os.environ.get("PYTHONPATH", "")) if p))
    monkeypatch.setenv("RAGCHAT_FILE_TIMEOUT_S", "3")
    monkeypatch.setenv("RAGCHAT_MAX_INFLATED_MB", "1.5")
    return root


@pytest.mark.timeout(300)
def test_one_ingest_of_a_hostile_folder(hostile, capsys):
    from ragchat.config import load_settings

    code, out, err = cli(capsys, "ingest", str(hostile), "--json")
    assert code == 0, err
    report = json.loads(out)
    failed = {Path(f["path"]).name: f["reason"] for f in report["failed"]}
    assert set(failed) == {"bomb.docx", "hang.md"}
    assert "max_inflated_mb" in failed["bomb.docx"]
    assert "file_timeout_s" in failed["hang.md"]
    skipped = report["skipped"]
    assert skipped["not a regular file"] == [str(hostile / "pipe.txt")]
    assert sorted(skipped["link out of the folder"]) == [str(hostile / "etc"),
                                                         str(hostile / "secret.txt")]
    settings = load_settings()
    assert paths_found(settings, "greenhouse watering") == {str(hostile / "notes.md")}
    assert paths_found(settings, "launch code swordfish") == set()


@pytest.mark.timeout(300)
def test_a_link_is_indexed_under_its_own_path_and_removed_with_it(tmp_path):
    from ragchat.config import load_settings

    settings = load_settings()
    root = tmp_path / "docs"
    (root / ".store").mkdir(parents=True)  # hidden: the walk itself does not go there
    (root / ".store" / "policy.md").write_text("Expenses are approved by the team lead.\n")
    (root / "readme.md").write_text("Team handbook.\n")
    os.symlink(root / ".store" / "policy.md", root / "policy.md")
    ingest_paths(settings, [root])
    assert paths_found(settings, "expenses approved") == {str(root / "policy.md")}
    (root / "policy.md").unlink()
    assert ingest_paths(settings, [root]).removed == 1
    assert paths_found(settings, "expenses approved") == set()

    (tmp_path / "shared.md").write_text("Travel is booked through the office manager.\n")
    os.symlink(tmp_path / "shared.md", root / "travel.md")  # out of the folder
    ingest_paths(settings, [root])
    assert paths_found(settings, "travel booked") == set()
    follow = settings.with_values(follow_links=True)
    ingest_paths(follow, [root])
    assert paths_found(settings, "travel booked") == {str(root / "travel.md")}
    (root / "travel.md").unlink()
    assert ingest_paths(follow, [root]).removed == 1
    assert paths_found(settings, "travel booked") == set()


def test_a_file_that_gives_no_text_is_named_and_an_empty_one_is_not(tmp_path, capsys):
    import zipfile

    root = tmp_path / "docs"
    root.mkdir()
    (root / "notes.md").write_text("The greenhouse needs watering on Tuesdays.\n")
    (root / "__init__.py").write_text("")  # empty: nothing to say about it
    hollow = write_docx(tmp_path / "plain.docx")
    xml = b"<w:document " + W + b"><w:body>" + b"<w:p/>" * 1000 + b"</w:body></w:document>"
    with_part(hollow, root / "hollow.docx", "word/document.xml", xml)
    assert zipfile.is_zipfile(root / "hollow.docx")
    code, out, err = cli(capsys, "ingest", str(root), "--json")
    assert code == 0, err
    files = {Path(f["path"]).name: f for f in json.loads(out)["files"]}
    assert files["hollow.docx"]["problems"] == ["no text found in it"]
    assert files["__init__.py"]["problems"] == []
