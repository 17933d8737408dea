"""Which scripts a collection's text is written in, and a notice, once per collection, when
most of it is in a language its embedding model does not cover.

The bundled all-MiniLM-L6-v2 embeds English only: Korean (or Russian, or Japanese) passages
then get vectors that carry next to no meaning, and only the lexical search (BM25) finds
them. Ingest says so for the collection, with what to do about it, once, after the ingest that
makes such text the larger part of the collection.

Counting is cheap: letters by script, with C-speed pattern substitutions over the chunks
added (and removed) by an ingest, kept as running totals in the collection's meta table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ragchat.index import store

META_COUNTS = "script_counts"  # {"letters": n, "Korean": n, ...} of the chunks in the index
META_SAID = "language_notice"  # the language the notice named (said once per collection)
MOST = 0.5  # share of the letters that makes a language "most of what the collection holds"
ENOUGH = 200  # letters below which nothing is said (a file name's worth of text)

_ASCII = re.compile(r"[\x00-\x7f]+")
_ASCII_LETTER = re.compile(r"[A-Za-z]+")
_LETTER = re.compile(r"[^\W\d_]+")
# scripts an English-only model does not cover, by the name of the language shown
SCRIPTS = {
    "Korean": re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]+"),
    "Japanese": re.compile(r"[\u3040-\u30ff]+"),  # kana; Japanese kanji count as Chinese
    "Chinese": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+"),
    "Cyrillic": re.compile(r"[\u0400-\u04ff]+"),
    "Greek": re.compile(r"[\u0370-\u03ff]+"),
    "Arabic": re.compile(r"[\u0600-\u06ff]+"),
    "Hebrew": re.compile(r"[\u0590-\u05ff]+"),
    "Thai": re.compile(r"[\u0e00-\u0e7f]+"),
    "Devanagari": re.compile(r"[\u0900-\u097f]+"),
}


def _count(pattern: re.Pattern[str], text: str) -> int:
    return len(text) - len(pattern.sub("", text))


def count_scripts(texts: Iterable[str]) -> dict[str, int]:
    """Letters in `texts` (every script), and how many of them each script of SCRIPTS has."""
    counts = dict.fromkeys(["letters", *SCRIPTS], 0)
    for text in texts:
        wide = _ASCII.sub("", text)  # English text leaves next to nothing to look at
        counts["letters"] += _count(_ASCII_LETTER, text) + _count(_LETTER, wide)
        if wide:
            for name, pattern in SCRIPTS.items():
                counts[name] += _count(pattern, wide)
    return counts


def english_only(model: str) -> bool:
    """An embedding model known to cover English only (the bundled MiniLM and its kin)."""
    name = model.removeprefix("api:").lower()
    return "multilingual" not in name and (
        "all-minilm" in name or "all-mpnet" in name or "-en-" in name or name.endswith("-en"))


def totals_after(conn, meta: dict, gone_file_ids: Sequence[int],
                 added: Iterable[str]) -> dict[str, int]:
    """The collection's counts once the chunks of `gone_file_ids` are replaced by `added`
    (read before the commit that removes them); the first time, counted from the index."""
    try:
        totals = {k: int(v) for k, v in json.loads(meta[META_COUNTS]).items()}
    except (KeyError, ValueError, TypeError, AttributeError):
        totals = count_scripts(text for (text,) in conn.execute("SELECT text FROM chunks"))
    else:
        ids = list(gone_file_ids)
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            rows = conn.execute("SELECT text FROM chunks WHERE file_id IN "
                                f"({','.join('?' * len(batch))})", batch)
            for key, n in count_scripts(text for (text,) in rows).items():
                totals[key] = totals.get(key, 0) - n
    for key, n in count_scripts(added).items():
        totals[key] = max(0, totals.get(key, 0) + n)
    return totals


def most_common(totals: dict[str, int]) -> tuple[str, float] | None:
    """The language of SCRIPTS that most of the letters are in, and its share; None if none."""
    letters = totals.get("letters", 0)
    if letters < ENOUGH:
        return None
    name = max(SCRIPTS, key=lambda s: totals.get(s, 0))
    share = totals.get(name, 0) / letters
    if name == "Chinese" and totals.get("Japanese", 0):  # kanji with kana: Japanese
        name, share = "Japanese", (totals["Chinese"] + totals["Japanese"]) / letters
    return (name, share) if share >= MOST else None


def record(conn, collection: str, model: str, totals: dict[str, int], meta: dict,
           roots: Sequence[Path]) -> str | None:
    """Keep the totals; the notice, when it is due (and remember that it was said)."""
    said = meta.get(META_SAID, "")
    found = most_common(totals) if english_only(model) else None
    values: dict[str, object] = {META_COUNTS: json.dumps(totals)}
    if found and not said:
        values[META_SAID] = found[0]
    store.set_meta(conn, **values)
    return notice(collection, model, found, roots) if found and not said else None


def notice(collection: str, model: str, found: tuple[str, float],
           roots: Sequence[Path]) -> str:
    """What it means for the collection, and what to do about it."""
    import shlex

    from ragchat.embeddings import BUNDLED, CPU_CHUNKS_PER_S, PREFERRED, PREFERRED_DOWNLOAD_GB

    language, share = found
    shown = model.removeprefix("api:").rsplit("/", 1)[-1]
    paths = " ".join(shlex.quote(str(r)) for r in roots) or "PATH"
    again = f"ragchat ingest --rebuild {paths}" + (
        "" if collection == "default" else f" --collection {collection}")
    fast, slow = CPU_CHUNKS_PER_S.get(BUNDLED, 0.0), CPU_CHUNKS_PER_S.get(PREFERRED, 0.0)
    slower = round(fast / slow) if fast and slow else 0
    return (f"collection '{collection}': most of its text is {language} ({share:.0%} of the "
            f"letters), and {shown} embeds English only, so these passages are found by "
            f"their words alone (BM25), not by their meaning. For search by meaning, embed "
            f"them with the multilingual {PREFERRED} ({PREFERRED_DOWNLOAD_GB} GB, once), best "
            f"on a GPU: RAGCHAT_EMBEDDING_MODEL={PREFERRED} {again} (or embedding_model = "
            f"\"{PREFERRED}\" in the config file)"
            + (f"; on a CPU it ingests about {slower} times slower." if slower else "."))

