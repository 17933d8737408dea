"""What a new user meets first: empty folders and collections, typos, declined prompts,
piped output, and which errors leave a log."""

from ragchat.cli.layout import shorten, wrap
from tests.helpers import cli


def test_ingesting_an_empty_folder_says_so_and_makes_no_collection(capsys, tmp_path,
                                                                   ragchat_home):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = cli(capsys, "ingest", str(empty))
    assert code == 1
    assert "nothing was indexed" in err and "holds no files" in err and "hint:" in err
    assert "bge-m3" not in err  # no model was needed: no notice about one
    code, out, err = cli(capsys, "search", "anything")
    assert code == 3 and "has no index yet" in err and "ragchat ingest PATH" in err
    assert "broken" not in err
    assert not list(ragchat_home.rglob("last-error.log"))  # a user's error is not a bug


def test_a_collection_whose_files_are_all_gone_says_empty(capsys, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("# Bees\n\nHoney bees dance.\n")
    assert cli(capsys, "ingest", str(folder))[0] == 0
    (folder / "a.md").unlink()
    assert cli(capsys, "ingest", str(folder))[0] == 1  # it existed: kept, and empty now
    code, out, err = cli(capsys, "search", "anything")
    assert code == 3 and "is empty" in err and "ragchat ingest FOLDER" in err


def test_a_folder_of_unreadable_or_empty_files_names_the_reason(capsys, tmp_path):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "blob.bin").write_bytes(b"\x00\x01")
    code, _, err = cli(capsys, "ingest", str(folder), "--collection", "junk")
    assert code == 1 and "no file ragchat reads" in err and "1 unsupported type" in err
    (folder / "empty.txt").write_text("")
    code, _, err = cli(capsys, "ingest", str(folder), "--collection", "junk")
    assert code == 1 and "the 1 file found holds no text" in err
    code, _, err = cli(capsys, "search", "x", "--collection", "junk")
    assert code == 3 and "--collection junk" in err


def test_ask_after_an_ingest_of_an_empty_folder_says_to_ingest(run_cli, tmp_path):
    (tmp_path / "e").mkdir()
    run_cli("ingest", str(tmp_path / "e"))
    proc = run_cli("ask", "what is in my notes?")
    assert proc.returncode == 3 and "has no index yet" in proc.stderr
    assert "ragchat ingest PATH" in proc.stderr and "Traceback" not in proc.stderr


def test_a_typo_gets_a_suggestion(capsys):
    code, _, err = cli(capsys, "serch", "bees")
    assert code == 2 and "Did you mean 'search'?" in err
    code, _, err = cli(capsys, "colections")
    assert "Did you mean 'collections'?" in err


def test_declining_removal_exits_1_and_keeps_the_collection(run_cli, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.md").write_text("# Bees\n\nHoney bees dance.\n")
    assert run_cli("ingest", str(tmp_path / "d")).returncode == 0
    for answer in ("n\n", ""):  # "no", and no answer at all (end of input)
        proc = run_cli("collections", "rm", "default", input=answer)
        assert proc.returncode == 1 and "Nothing removed" in proc.stderr
    assert "default" in run_cli("collections").stdout


def test_piped_search_output_is_never_wrapped(run_cli, tmp_path):
    folder = tmp_path / "a-rather-long-folder-name-for-the-notes-of-a-new-user" / "sub"
    folder.mkdir(parents=True)
    (folder / "bees.md").write_text("# Bees and their dances\n\n" + "Honey bees dance. " * 30)
    run_cli("ingest", str(folder))
    proc = run_cli("search", "how do bees dance", "-k", "1")
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(" 1. ") and lines[0].endswith("(Bees and their dances)")
    assert str(folder / "bees.md") in lines[0]
    assert lines[1].startswith("    found by words #1 and meaning #1 (similarity 0.")
    assert lines[1].endswith("; its file #1 by words")
    assert len(lines) == 3 and len(lines[2]) > 200  # the snippet on one line


def test_wrap_breaks_between_words_with_indented_continuations():
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron"
    lines = wrap(text, 30, "    ").split("\n")
    assert len(lines) > 1 and all(len(line) <= 30 and line.startswith("    ") for line in lines)
    assert " ".join(line.strip() for line in lines) == text
    assert wrap(text, None, "    ") == "    " + text
    long_path = "/home/someone/" + "x" * 80 + "/file.md"
    assert wrap(long_path, 40, "  ") == "  " + long_path  # never split inside a word
    assert shorten("one two three four", 9) == "one two…"

