"""Counts in the ingest report add up, or the report says why not: chunks with the same text
share one vector, and a text embedded before is not embedded again."""

import json

from tests.helpers import cli

NOTE = "# Disclaimer\n\nThis page is provided as is, without any warranty of any kind.\n"


def test_identical_chunks_are_counted_and_explained(capsys, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text(NOTE)
    (folder / "b.md").write_text(NOTE)  # the same text: one vector for both
    (folder / "c.md").write_text("# Bees\n\nHoney bees dance to show where flowers are.\n")
    code, out, _ = cli(capsys, "ingest", str(folder))
    assert code == 0
    assert "3 chunks added" in out
    assert "embedded 2 chunks with " in out
    assert "1 more repeats the text of another chunk (one vector per text)" in out

    (folder / "d.md").write_text(NOTE)  # embedded by the run before
    code, out, _ = cli(capsys, "ingest", str(folder), "--json")
    report = json.loads(out)
    assert report["chunks_added"] == 1
    assert (report["vectors_embedded"], report["vectors_reused"], report["vectors_shared"]) \
        == (0, 1, 0)
    (folder / "e.md").write_text(NOTE)
    code, out, _ = cli(capsys, "ingest", str(folder))
    assert "1 chunks added" in out or "1 chunk added" in out
    assert "embedded 0 chunks with " in out
    assert "1 reuses a vector of the same text embedded before" in out


def test_the_json_counts_add_up(capsys, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.md").write_text(NOTE if i % 2 else f"# Note {i}\n\nText number {i}.\n")
    code, out, _ = cli(capsys, "ingest", str(folder), "--json")
    report = json.loads(out)
    assert report["chunks_added"] == 4 and report["vectors_shared"] == 1
    assert report["chunks_added"] == (report["vectors_embedded"] + report["vectors_reused"]
                                      + report["vectors_shared"])
