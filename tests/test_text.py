"""Tokenizers and text files: exact round trips, padding and end ids, JSON round trip, every error message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aekit.errors import AekitError, DataError
from aekit.text import (
    END_ID,
    PAD_ID,
    ByteTokenizer,
    CharTokenizer,
    load_text,
    load_text_lines,
    make_tokenizer,
    tokenizer_from_dict,
)

LINES = ["First Citizen:", "Before we proceed any further, hear me speak.", "", "All:", "Speak, speak."]


@pytest.mark.parametrize("name", ["char", "byte"])
def test_encode_decode_round_trip(name: str) -> None:
    lines = [line for line in LINES if line]
    tokenizer = make_tokenizer(name).fit(lines)
    ids = tokenizer.encode(lines, max_len=64)
    assert ids.shape == (len(lines), 64) and ids.dtype == np.int64
    assert tokenizer.decode(ids) == lines
    assert tokenizer.decode(ids.astype(np.float32)) == lines  # model outputs are floats
    assert ids.max() < tokenizer.vocab_size


def test_rows_end_with_the_end_id_then_padding() -> None:
    tokenizer = CharTokenizer().fit(["abc"])
    assert tokenizer.vocab_size == 3 + 3
    ids = tokenizer.encode(["ab", "abc", "abcd"], max_len=3)
    a, b, c = 3, 4, 5  # sorted characters after pad, end and unknown
    np.testing.assert_array_equal(ids, [[a, b, END_ID], [a, b, c], [a, b, c]])  # full rows have no end id
    np.testing.assert_array_equal(tokenizer.encode(["a"], max_len=4), [[a, END_ID, PAD_ID, PAD_ID]])
    assert tokenizer.decode([[a, END_ID, b, c]]) == ["a"]  # reading stops at the end id
    assert tokenizer.decode([a, b, PAD_ID, c]) == ["ab"]  # one row, stops at padding


def test_long_lines_are_cut_with_a_logged_warning(caplog: pytest.LogCaptureFixture) -> None:
    tokenizer = CharTokenizer().fit(["abcdef"])
    with caplog.at_level("WARNING", logger="aekit.text"):
        ids = tokenizer.encode(["abcdef", "ab"], max_len=4)
    assert tokenizer.decode(ids) == ["abcd", "ab"]
    assert "1 of 2 lines are longer than max_len=4" in caplog.text


def test_unknown_characters_and_ids_decode_to_the_replacement_character() -> None:
    tokenizer = CharTokenizer().fit(["ab"])
    ids = tokenizer.encode(["axb"], max_len=4)
    assert ids[0, 1] == CharTokenizer.UNKNOWN_ID
    assert tokenizer.decode(ids) == ["a\ufffdb"]
    assert tokenizer.decode([[3, 99]]) == ["a\ufffd"]


def test_min_count_sends_rare_characters_to_unknown() -> None:
    tokenizer = CharTokenizer(min_count=2).fit(["aab"])
    assert tokenizer.chars_ == "a"
    assert tokenizer.decode(tokenizer.encode(["ab"], 3)) == ["a\ufffd"]


def test_byte_tokenizer_is_fixed_and_handles_any_unicode() -> None:
    tokenizer = ByteTokenizer()
    assert tokenizer.vocab_size == 258
    text = ["héllo wörld ✓", "\x00\xff"]
    ids = tokenizer.encode(text, max_len=32)
    assert ids.min() >= 0 and ids.max() < 258
    assert tokenizer.decode(ids) == text
    assert ids[0, 0] == ord("h") + 2


@pytest.mark.parametrize("tokenizer", [CharTokenizer().fit(LINES), ByteTokenizer()])
def test_tokenizer_round_trips_through_json(tokenizer) -> None:
    data = json.loads(json.dumps(tokenizer.to_dict()))
    restored = tokenizer_from_dict(data)
    assert type(restored) is type(tokenizer) and restored.vocab_size == tokenizer.vocab_size
    lines = ["Speak, hear!", "zq"]  # 'z', 'q' are unknown to the char vocabulary: both map the same way
    np.testing.assert_array_equal(restored.encode(lines, 20), tokenizer.encode(lines, 20))


def test_unknown_tokenizer_suggests_the_closest() -> None:
    with pytest.raises(AekitError, match="Unknown tokenizer 'chars'. Available: byte, char. Did you mean 'char'"):
        make_tokenizer("chars")
    with pytest.raises(AekitError, match="Unknown tokenizer 'bytes'.*Did you mean 'byte'"):
        tokenizer_from_dict({"name": "bytes"})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: CharTokenizer().encode(["a"], 4), "no vocabulary yet. Call fit"),
        (lambda: CharTokenizer().fit(["", ""]), "found no character seen at least min_count=1"),
        (lambda: CharTokenizer().fit("abc"), "expects a list of strings. Got a single string 'abc'"),
        (lambda: ByteTokenizer().encode("abc", 4), "expects a list of strings. Got a single string"),
        (lambda: ByteTokenizer().encode(["a"], 0), "'max_len' parameter of ByteTokenizer.encode.*Got 0"),
        (lambda: ByteTokenizer().decode(np.zeros((2, 2, 2))), r"shape \(n, length\).*\(2, 2, 2\)"),
        (lambda: tokenizer_from_dict({"chars": "ab"}), "mapping with a 'name'"),
        (lambda: tokenizer_from_dict({"name": "char", "chars": "aa"}), "string of distinct characters"),
    ],
)
def test_tokenizer_errors(call, message: str) -> None:
    with pytest.raises(AekitError, match=message):
        call()


# ------------------------------------------------------------------------------------------------ files
def test_lines_skip_blanks_strip_trailing_space_and_wrap(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("first line  \r\n\n   \nabcdefghij\nend", encoding="utf-8")
    assert load_text_lines(path, max_len=4) == ["firs", "t li", "ne", "abcd", "efgh", "ij", "end"]
    assert load_text_lines(path, max_len=80) == ["first line", "abcdefghij", "end"]


def test_chunks_keep_newlines(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("ab\ncd\n\nefg", encoding="utf-8")
    chunks = load_text_lines(path, max_len=4, split="chunks")
    assert chunks == ["ab\nc", "d\n\ne", "fg"]
    assert "".join(chunks) == path.read_text(encoding="utf-8")


def test_join_puts_wrapped_lines_and_chunks_back_together(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("first line  \n\nabcdefghij\nend", encoding="utf-8")
    data = load_text(path, max_len=4)
    assert data.lines == ["firs", "t li", "ne", "abcd", "efgh", "ij", "end"]
    assert data.join(data.tokenizer.decode(data.X)) == "first line\n\nabcdefghij\nend\n"  # the blank line stays
    chunks = load_text(path, max_len=4, split="chunks")
    assert chunks.join(chunks.tokenizer.decode(chunks.X)) == path.read_text(encoding="utf-8")
    with pytest.raises(AekitError, match="one string per sample"):
        data.join(["x"])


def test_load_text_encodes_with_a_fitted_or_given_tokenizer(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("to be\nor not\n", encoding="utf-8")
    data = load_text(path, max_len=8)
    assert data.X.shape == (2, 8) and data.X.dtype == np.float32 and data.max_len == 8
    assert data.tokenizer.decode(data.X) == ["to be", "or not"] == data.lines
    again = load_text(path, max_len=8, tokenizer=data.tokenizer)
    np.testing.assert_array_equal(again.X, data.X)
    assert load_text(path, max_len=8, tokenizer="byte").tokenizer.vocab_size == 258


@pytest.mark.parametrize(
    ("content", "options", "error", "message"),
    [
        ("", {}, DataError, "has no non-blank text \\(0 bytes\\)"),
        (" \n\n\t\n", {}, DataError, "has no non-blank text"),
        (" \n\n", {"split": "chunks"}, DataError, "has no non-blank text"),
        ("abc", {"split": "line"}, AekitError, "'split' parameter of load_text_lines.*Did you mean 'lines'"),
        ("abc", {"max_len": 0}, AekitError, "'max_len' parameter of load_text_lines.*Got 0"),
        ("abc", {"encoding": "utf-9"}, AekitError, "Unknown text encoding 'utf-9'"),
    ],
)
def test_text_file_errors(tmp_path: Path, content: str, options: dict, error: type, message: str) -> None:
    path = tmp_path / "t.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(error, match=message):
        load_text_lines(path, **{"max_len": 8, **options})


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="No such text file: '.*nope.txt'"):
        load_text_lines(tmp_path / "nope.txt", 8)
    path = tmp_path / "latin.txt"
    path.write_bytes("café".encode("latin-1"))
    with pytest.raises(DataError, match="as utf-8 text.*it is not text, or its encoding is another, e.g. 'latin-1'"):
        load_text_lines(path, 8)
    assert load_text_lines(path, 8, encoding="latin-1") == ["café"]


def test_load_text_rejects_a_bad_tokenizer(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("abc", encoding="utf-8")
    with pytest.raises(AekitError, match="'tokenizer' parameter of load_text.*Got 3"):
        load_text(path, tokenizer=3)


def test_a_text_model_given_numbers_or_a_folder_says_what_it_reads(tmp_path) -> None:
    np.save(tmp_path / "ids.npy", np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(DataError, match=r"ids.npy' is a .npy file; a text model reads text, a sample per line"):
        load_text_lines(tmp_path / "ids.npy", 8)
    with pytest.raises(DataError, match=r"is a folder; a text model reads one text file"):
        load_text_lines(tmp_path, 8)
