"""A collection whose text is mostly in a language its embedding model does not cover (Korean
with the bundled English-only MiniLM) is told so once, after the ingest: what it means (found
by words only) and what to do (bge-m3, best on a GPU, or the setting)."""

import json
import shlex

from ragchat.ingest.language import count_scripts, english_only, most_common
from tests.helpers import cli

KOREAN = "# 설치 안내\n\n" + "이 문서는 플러그인을 설치하고 제거하는 방법을 설명합니다.\n\n" * 12
ENGLISH = "# Plugins\n\n" + "Install a plugin with the install command, remove it again.\n\n" * 12


def notices(err: str) -> list[str]:
    return [line for line in err.splitlines() if "embeds English only" in line]


def test_a_korean_collection_is_told_once(capsys, tmp_path):
    folder = tmp_path / "문서"
    folder.mkdir()
    (folder / "guide.md").write_text(KOREAN)
    (folder / "readme.md").write_text("# Readme\n\nA short English note.\n")
    code, out, err = cli(capsys, "ingest", str(folder), "--collection", "ko")
    assert code == 0
    [line] = notices(err)
    assert line.startswith("ragchat: collection 'ko': most of its text is Korean (")
    assert "all-MiniLM-L6-v2 embeds English only" in line
    assert "found by their words alone (BM25)" in line
    assert "RAGCHAT_EMBEDDING_MODEL=BAAI/bge-m3 ragchat ingest --rebuild " in line
    assert f"{shlex.quote(str(folder))} --collection ko" in line and "GPU" in line
    (folder / "more.md").write_text(KOREAN.replace("설치", "삭제"))
    code, out, err = cli(capsys, "ingest", str(folder), "--collection", "ko", "--json")
    assert code == 0 and json.loads(out)["notices"] == [] and not notices(err)  # once


def test_an_english_collection_hears_nothing_until_it_turns_korean(capsys, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "plugins.md").write_text(ENGLISH)
    (folder / "one.md").write_text("# 한 줄\n\n한국어 한 줄.\n")  # a little Korean
    code, _, err = cli(capsys, "ingest", str(folder))
    assert code == 0 and not notices(err)
    (folder / "plugins.md").unlink()  # now most of it is Korean
    for i in range(3):
        (folder / f"ko{i}.md").write_text(KOREAN)
    code, out, err = cli(capsys, "ingest", str(folder), "--json")
    [said] = json.loads(out)["notices"]
    assert "collection 'default': most of its text is Korean" in said
    assert "--collection" not in said.split("--rebuild")[1]  # the default collection


def test_counting_scripts():
    counts = count_scripts(["abc 가나다라", "Привет", "ひらがな漢字", "12 34 !!"])
    assert counts["letters"] == 3 + 4 + 6 + 6
    assert (counts["Korean"], counts["Cyrillic"], counts["Japanese"], counts["Chinese"]) == \
        (4, 6, 4, 2)
    assert most_common({"letters": 1000, "Korean": 700}) == ("Korean", 0.7)
    assert most_common({"letters": 1000, "Korean": 300}) is None
    assert most_common({"letters": 100, "Korean": 100}) is None  # too little to say
    assert most_common({"letters": 1000, "Chinese": 400, "Japanese": 300})[0] == "Japanese"
    assert english_only("sentence-transformers/all-MiniLM-L6-v2")
    assert english_only("BAAI/bge-small-en-v1.5")
    assert not english_only("BAAI/bge-m3") and not english_only("api:BAAI/bge-m3")
    assert not english_only("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2")
