"""The .aez container: header and chunks round-trip; truncated, flipped, foreign and newer files fail clearly."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from aekit.compression.aez import FORMAT_VERSION, MAGIC, AezReader, AezWriter
from aekit.errors import DataError


def _write(path: Path, chunks: list[bytes]) -> Path:
    with AezWriter(path, {"kind": "array", "shape": [3]}) as writer:
        for chunk in chunks:
            writer.write_chunk(chunk)
    return path


def test_header_and_chunks_round_trip(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.aez", [b"first", b"", b"x" * 100_000])
    reader = AezReader(path)
    assert reader.header == {"kind": "array", "shape": [3]}
    assert list(reader.chunks()) == [b"first", b"", b"x" * 100_000]
    assert reader.n_chunks == 3 and path.read_bytes().startswith(MAGIC)


def _version(path: Path) -> int:
    return struct.unpack_from("<H", path.read_bytes(), len(MAGIC))[0]


def test_the_version_is_the_oldest_that_reads_every_chunk(tmp_path: Path) -> None:
    assert _version(_write(tmp_path / "plain.aez", [b"a", b"b"])) == 1
    with AezWriter(tmp_path / "given.aez", {"kind": "array"}, version=2) as writer:
        writer.write_chunk(b"a")
    assert _version(tmp_path / "given.aez") == 2
    # a chunk that needs a newer format than the file started with: the preamble is rewritten on close, and the
    # checksum, which covers it, still holds
    with AezWriter(tmp_path / "raised.aez", {"kind": "array"}, version=2) as writer:
        writer.write_chunk(b"first" * 1000)
        writer.write_chunk(b"raw", version=3)
        writer.write_chunk(b"last", version=1)
    reader = AezReader(tmp_path / "raised.aez")
    assert reader.version == _version(tmp_path / "raised.aez") == 3
    assert list(reader.chunks()) == [b"first" * 1000, b"raw", b"last"] and reader.header == {"kind": "array"}


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), AezWriter(tmp_path / "a.aez", {}) as writer:
        writer.write_chunk(b"partial")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("keep", [5, 20, 60, -1, -33])
def test_truncated_file_is_reported(tmp_path: Path, keep: int) -> None:
    path = _write(tmp_path / "a.aez", [b"chunk" * 10])
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(DataError, match=r"is truncated \(\d+ bytes; its end record is missing\). The copy is "
                                        "incomplete"):
        AezReader(path)


@pytest.mark.parametrize("position", [40, 70, -40, -1])
def test_flipped_byte_is_reported(tmp_path: Path, position: int) -> None:
    path = _write(tmp_path / "a.aez", [b"chunk" * 10])
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"(is corrupted \(its sha256 checksum or structure)|(is truncated)"):
        AezReader(path)


def test_flipped_payload_byte_fails_the_checksum(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.aez", [b"chunk" * 10])
    data = bytearray(path.read_bytes())
    data[-45] ^= 0x10  # inside the chunk's payload
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="is corrupted .* Copy or compress the file again."):
        AezReader(path)


def test_foreign_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "notes.aez"
    path.write_text("hello, this is not compressed data")
    with pytest.raises(DataError, match=r"is not an .aez file \(wrong magic bytes\). Pass a file written by"):
        AezReader(path)


def test_newer_format_version_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.aez", [b"x"])
    data = bytearray(path.read_bytes())
    data[8:10] = struct.pack("<H", FORMAT_VERSION + 1)
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"uses .aez format version {FORMAT_VERSION + 1}; this aekit reads up to "
                                        f"version {FORMAT_VERSION}. Upgrade aekit."):
        AezReader(path)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="No such file: .*missing.aez'. Check the path."):
        AezReader(tmp_path / "missing.aez")
