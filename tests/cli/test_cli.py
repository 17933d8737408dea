"""The command line in-process (fast) and as a real process (exit codes, stdin, import cost)."""

import json
import subprocess
import sys

import pytest

from tests.helpers import cli


@pytest.fixture
def docs(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.md").write_text("# Bees\n\nHoney bees dance to show where flowers are.\n")
    (root / "b.txt").write_text("Owls hunt at night and sleep during the day.\n")
    return root


def test_help_does_not_import_heavy_modules():
    code = ("import sys; from ragchat.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'sentence_transformers', 'langgraph', 'llama_cpp',"
            " 'exllamav2', 'langchain_core', 'numpy', 'hnswlib') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("command", ["ingest", "search"])
def test_subcommand_help_is_cheap_too(command):
    code = (f"import sys; from ragchat.cli.main import main\n"
            f"try:\n    main(['{command}', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('torch', 'sentence_transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in out.stdout and "Usage" in out.stdout


def test_ingest_then_search_text_and_json(capsys, docs):
    code, out, _ = cli(capsys, "ingest", str(docs))
    assert code == 0 and "2 new" in out
    code, out, _ = cli(capsys, "search", "where are the flowers", "-k", "2")
    assert code == 0 and " 1. " in out and str(docs / "a.md") in out
    code, out, _ = cli(capsys, "search", "nocturnal birds", "--json", "-k", "1")
    line = json.loads(out)
    assert line["query"] == "nocturnal birds"
    [result] = line["results"]
    assert set(result) >= {"path", "location", "text", "score"}
    assert result["path"] == str(docs / "b.txt") and "Owls" in result["text"]


def test_search_reads_queries_from_stdin_in_order(docs, run_cli):
    assert run_cli("ingest", str(docs)).returncode == 0
    out = run_cli("search", "-", "-k", "1", input="honey bees\n\nowls at night\n")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["query"] for x in lines] == ["honey bees", "owls at night"]
    assert lines[0]["results"][0]["path"].endswith("a.md")
    assert lines[1]["results"][0]["path"].endswith("b.txt")


def test_search_without_index_tells_to_ingest(capsys):
    code, _, err = cli(capsys, "search", "anything")
    assert code == 3
    assert "ragchat ingest" in err and "Traceback" not in err


def test_missing_path_is_a_short_error(capsys, tmp_path):
    code, _, err = cli(capsys, "ingest", str(tmp_path / "missing"))
    assert code == 2 and "no such file or folder" in err


def test_bad_collection_name(capsys, docs):
    code, _, err = cli(capsys, "ingest", str(docs), "--collection", "../etc")
    assert code == 2 and "invalid collection name" in err


def test_only_unreadable_files_exits_non_zero(capsys, tmp_path):
    (tmp_path / "junk.txt").write_bytes(b"\x00\x01" * 100)
    code, out, err = cli(capsys, "ingest", str(tmp_path / "junk.txt"))
    assert code == 1 and "could not read" in err


def test_verbose_lists_skipped_files(capsys, docs):
    (docs / "pic.png").write_bytes(b"\x89PNG")
    code, out, _ = cli(capsys, "ingest", str(docs), "-v")
    assert code == 0 and "unsupported type: " in out and "pic.png" in out


def test_debug_shows_the_traceback(run_cli, tmp_path):
    quiet = run_cli("search", "x")
    assert quiet.returncode == 3 and "Traceback" not in quiet.stderr
    loud = run_cli("search", "x", env={"RAGCHAT_DEBUG": "1"})
    assert loud.returncode != 0 and "Traceback" in loud.stderr


def test_bad_config_file_is_reported(capsys, ragchat_home):
    (ragchat_home / "config").mkdir()
    (ragchat_home / "config" / "config.toml").write_text("search_k = 'many'\n")
    code, _, err = cli(capsys, "search", "x")
    assert code == 2 and "search_k must be a whole number, got 'many'" in err


def test_collections_list_and_rm(capsys, docs):
    cli(capsys, "ingest", str(docs), "--collection", "pets")
    code, out, _ = cli(capsys, "collections", "--json")
    info = json.loads(out)
    assert code == 0 and info["name"] == "pets" and info["files"] == 2 and info["chunks"] >= 2
    code, out, _ = cli(capsys, "collections", "rm", "pets", "--yes")
    assert code == 0
    code, out, _ = cli(capsys, "collections")
    assert "No collections yet" in out
    assert docs.joinpath("a.md").exists()  # the documents themselves are untouched


def test_library_warnings_reach_stderr_as_ragchat_lines(capsys):
    import logging

    from ragchat.cli.main import show_library_notices

    show_library_notices()
    show_library_notices()  # once only
    logging.getLogger("ragchat.index").warning("the vector index is %s", "broken")
    logging.getLogger("ragchat.index").info("not shown")
    assert capsys.readouterr().err == "ragchat: the vector index is broken\n"
