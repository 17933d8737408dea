"""Decoding text files: Korean legacy encodings, UTF-16 with a byte order mark, binary."""

import pytest

from ragchat.ingest.document import decode, looks_binary


def test_short_cp949_text_is_not_mistaken_for_another_encoding():
    text, encoding = decode("서울".encode("cp949"))
    assert text == "서울"
    assert encoding == "cp949"


def test_latin1_text_decodes_without_error():
    text, _ = decode("café crème brûlée, naïve résumé".encode("latin-1"))
    assert "caf" in text and "r" in text


def test_binary_detection():
    assert looks_binary(b"abc\x00def")
    assert not looks_binary(b"plain text\n")
    assert not looks_binary("한국어".encode("utf-16"))


def test_a_latin1_file_that_starts_with_ff_fe_is_not_read_as_utf16():
    text = "ÿþ" + "Le café au lait est servi chaque matin; le dessert préféré des élèves.\n" * 3
    decoded, encoding = decode(text.encode("latin-1"))
    assert encoding != "utf-16"
    assert "café au lait est servi chaque matin" in decoded and "préféré" in decoded


@pytest.mark.parametrize("data", [
    "한국어 문서입니다.\nsecond line\n".encode("utf-16"),
    "hello world\n".encode("utf-16-le").join([b"\xff\xfe", b""]),
    b"\xfe\xff" + "hello world\n".encode("utf-16-be"),
    "hello world\n".encode("utf-16") + b"x",  # a last odd byte
])
def test_utf16_with_a_byte_order_mark_is_still_read(data):
    decoded, encoding = decode(data)
    assert encoding == "utf-16"
    assert "hello world" in decoded or "한국어 문서입니다." in decoded
