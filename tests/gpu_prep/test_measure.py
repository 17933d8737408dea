"""measure.py's command line and arithmetic (the measuring itself needs a CUDA GPU)."""

from __future__ import annotations

import pytest
from measure import compare_ngram, main, parse_args, strip_text


def test_defaults_and_skips():
    args = parse_args(["--model", "m"])
    assert (args.cache, args.max_seq_len, args.long_context, args.repeats) == ("Q8", 32768, 16384, 3)
    assert args.skip == set() and args.out is None and args.label is None
    args = parse_args(["--model", "m", "--skip", "ngram, batch,", "--label", "x"])
    assert args.skip == {"ngram", "batch"} and args.label == "x"


def runs(tps: list[float], accepted: int | None = None, rejected: int | None = None,
         text: str = "t") -> list[dict]:
    return [{"decode_tps": t, "accepted_draft_tokens": accepted,
             "rejected_draft_tokens": rejected, "text": text} for t in tps]


def test_ngram_comparison():
    base = {"quote": runs([100, 110, 90]), "free": runs([100, 100, 100])}
    drafted = {"quote": runs([250, 200, 300], 60, 20), "free": runs([95, 90, 100], 5, 45, "u")}
    out = compare_ngram(base, drafted)
    assert out["quote"]["speedup"] == 2.5 and out["quote"]["acceptance"] == 0.75
    assert out["quote"]["accepted_draft_tokens"] == 180 and out["quote"]["same_output"] is True
    assert out["free"]["speedup"] == 0.95 and out["free"]["acceptance"] == 0.1
    drafted["quote"] = runs([200], None, None, "different")
    out = compare_ngram(base, drafted)
    assert out["quote"]["acceptance"] is None and out["quote"]["same_output"] is False


def test_texts_are_left_out_of_the_results():
    assert strip_text(runs([1.0])) == [{"decode_tps": 1.0, "accepted_draft_tokens": None,
                                        "rejected_draft_tokens": None}]


def test_without_cuda_it_says_so(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["--model", "nowhere"]) == 2
    assert "CUDA" in capsys.readouterr().err
