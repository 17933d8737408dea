"""Collections a user names: a failed first ingest leaves none behind, a typo gets "did you
mean" and the list of collections, and `collections rm` of a missing one says so."""

import json

import pytest

from ragchat import paths
from tests.helpers import cli


@pytest.fixture
def llm_docs(tmp_path):
    root = tmp_path / "llm-docs"
    root.mkdir()
    (root / "plugins.md").write_text("# Plugins\n\nInstall a plugin with llm install NAME.\n")
    return root


def collection_names(capsys) -> list[str]:
    code, out, _ = cli(capsys, "collections", "--json")
    assert code == 0
    return [json.loads(line)["name"] for line in out.splitlines()]


def test_a_failed_first_ingest_leaves_no_collection_behind(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "blob.bin").write_bytes(b"\x00\x01")
    assert cli(capsys, "ingest", str(tmp_path / "empty"))[0] == 1
    assert cli(capsys, "ingest", str(tmp_path / "junk"), "--collection", "scratch")[0] == 1
    assert collection_names(capsys) == []
    code, out, _ = cli(capsys, "collections")
    assert "No collections yet" in out
    folder = paths.collections_dir()
    assert not folder.exists() or not list(folder.iterdir())  # no empty folder either


def test_a_failed_ingest_into_an_existing_collection_keeps_it(capsys, tmp_path, llm_docs):
    assert cli(capsys, "ingest", str(llm_docs), "--collection", "llm")[0] == 0
    (tmp_path / "junk.txt").write_bytes(b"\x00\x01" * 100)
    code, _, err = cli(capsys, "ingest", str(tmp_path / "junk.txt"), "--collection", "llm")
    assert code == 1 and "could not read" in err
    assert collection_names(capsys) == ["llm"]


def test_a_typo_of_a_collection_gets_did_you_mean_and_the_list(capsys, llm_docs):
    cli(capsys, "ingest", str(llm_docs), "--collection", "llm")
    cli(capsys, "ingest", str(llm_docs), "--collection", "notes")
    for command in (["search", "plugins"], ["ask", "plugins?"], ["repl"]):
        code, _, err = cli(capsys, *command, "--collection", "llms")
        assert code == 3, (command, err)
        assert "did you mean 'llm'?" in err and "collections: llm, notes" in err, err
        assert "--collection llm uses it" in err
    code, _, err = cli(capsys, "search", "plugins", "--collection", "zzz")
    assert code == 3 and "did you mean" not in err and "collections: llm, notes" in err


def test_ingest_into_a_near_miss_makes_it_with_a_notice(capsys, llm_docs):
    cli(capsys, "ingest", str(llm_docs), "--collection", "llm")
    code, _, err = cli(capsys, "ingest", str(llm_docs), "--collection", "llms")
    assert code == 0
    assert "making a new collection 'llms'; did you mean 'llm'?" in err
    assert collection_names(capsys) == ["llm", "llms"]
    code, _, err = cli(capsys, "ingest", str(llm_docs), "--collection", "llms")
    assert "did you mean" not in err  # it exists now: no notice
    code, _, err = cli(capsys, "ingest", str(llm_docs), "--collection", "papers")
    assert "did you mean" not in err  # not near any


def test_collections_rm_of_a_missing_name_lists_them(capsys, llm_docs):
    code, _, err = cli(capsys, "collections", "rm", "nope", "--yes")
    assert code == 3 and "there is no collection 'nope'" in err
    assert "no collections yet" in err and "--collection nope" not in err
    cli(capsys, "ingest", str(llm_docs), "--collection", "llm")
    code, _, err = cli(capsys, "collections", "rm", "llms", "--yes")
    assert code == 3 and "did you mean 'llm'?" in err and "the collections are: llm" in err
    assert "ingest" not in err
