"""The ``.aez`` container: a header, a stream of chunks, and a checksum over everything.

Layout (integers little-endian)::

    magic  b"\\x89AEZ\\r\\n\\x1a\\n"            8 bytes (PNG-style: catches text-mode and 7-bit transfers)
    format version                          u16: the oldest format that expresses this file (see FORMAT_VERSION)
    header length, header (UTF-8 JSON)      u32 + bytes: codec fingerprint, shape, dtype, scaler, ...
    chunk*                                  b"C" + u64 length + bytes
    end                                     b"E" + u64 number of chunks + sha256 of every byte before it

Chunks are written as they are produced and read one at a time, so an array larger than RAM streams through.
:class:`AezReader` verifies the structure and the checksum before anything is decoded: a truncated file, a
flipped byte or a foreign file fails with a one-line :class:`~aekit.errors.DataError`.

Each file records the oldest format version its chunks need, not the newest this aekit writes, so an older aekit
reads every file it can decode and says to upgrade for the rest: the caller names what each chunk needs
(``write_chunk(data, version=3)``), and the preamble is rewritten when the file is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO

from aekit.errors import AekitError, DataError
from aekit.io import atomic_path, write_error

__all__ = ["FORMAT_VERSION", "MAGIC", "AezReader", "AezWriter"]

MAGIC = b"\x89AEZ\r\n\x1a\n"
# The newest format this aekit writes and reads (it reads every older one). What each adds to the chunks:
# 1: codes with int32 ranges, residuals on the float grid 2E (on the integer grid for integer arrays);
# 2: code ranges in the narrowest integer width, after a byte naming it;
# 3: a chunk may hold its raw values (a block of one part) where coding would enlarge it;
# 4: a table's whole-number and bool columns on the integer grid (header "integer_grid"), so they come back as
#    whole numbers at bounds of 0.5 and above.
# An aekit that reads up to N says to upgrade for a file of N + 1 instead of misreading it.
FORMAT_VERSION = 4
_PREAMBLE = struct.Struct("<8sHI")  # magic, version, header length
_VERSION_OFFSET = len(MAGIC)
_RECORD = struct.Struct("<cQ")  # tag, length (chunks) or count (end)
_DIGEST = 32


class AezWriter:
    """Write an ``.aez`` file atomically: ``with AezWriter(path, header) as w: w.write_chunk(data)``.

    The file appears under ``path`` only when the ``with`` block ends without error. Its format ``version`` is
    the highest that the constructor and the chunks asked for (1 unless told).
    """

    def __init__(self, path: str | os.PathLike[str], header: dict[str, Any], version: int = 1) -> None:
        self.path = Path(path)
        self.header = header
        self.version = self._checked(version)
        self._written_version = self.version  # what the preamble says so far
        self.n_chunks = 0
        self.header_bytes = 0
        self._stack = ExitStack()
        self._file: BinaryIO | None = None
        self._digest = hashlib.sha256()

    def __enter__(self) -> AezWriter:  # noqa: PYI034 - a final class in practice
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._file = self._stack.enter_context(open(tmp, "w+b"))  # read back if the version changes
        text = json.dumps(self.header, separators=(",", ":")).encode("utf-8")
        self._write(_PREAMBLE.pack(MAGIC, self.version, len(text)) + text)
        self.header_bytes = _PREAMBLE.size + len(text)
        return self

    def _write(self, data: bytes) -> None:
        assert self._file is not None, "AezWriter is used outside its with block"
        try:
            self._file.write(data)
        except OSError as exc:  # a full disk: name the user's file (the error itself names none)
            raise self._cannot_write(exc) from None
        self._digest.update(data)

    def _cannot_write(self, exc: OSError) -> AekitError:
        return write_error(self.path, exc)

    @staticmethod
    def _checked(version: int) -> int:
        assert 1 <= version <= FORMAT_VERSION, f"format version {version} is not one this aekit writes"
        return version

    def write_chunk(self, data: bytes, version: int = 1) -> None:
        """Append one chunk; ``version``: the oldest format that can read it."""
        self.version = max(self.version, self._checked(version))
        self._write(_RECORD.pack(b"C", len(data)))
        self._write(data)
        self.n_chunks += 1

    def _restamp(self) -> bytes:
        """Write the final version into the preamble and hash the file again: the checksum covers the preamble.
        Only when a chunk needed a newer format than the file started with (a raw chunk, say): one more read."""
        assert self._file is not None
        self._file.seek(_VERSION_OFFSET)
        self._file.write(struct.pack("<H", self.version))
        self._file.seek(0)
        digest = hashlib.sha256()
        while block := self._file.read(1 << 24):
            digest.update(block)
        self._file.seek(0, os.SEEK_END)
        self._written_version = self.version
        return digest.digest()

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None:
            try:
                self._write(_RECORD.pack(b"E", self.n_chunks))
                assert self._file is not None
                try:
                    self._file.write(self._digest.digest() if self.version == self._written_version
                                     else self._restamp())
                    self._file.close()  # flushes: where a full disk often shows
                except OSError as exc:
                    raise self._cannot_write(exc) from None
            except AekitError as exc:
                if not self._stack.__exit__(type(exc), exc, exc.__traceback__):  # removes the temporary file
                    raise
                return
        self._stack.__exit__(*exc_info)


class AezReader:
    """Open and verify an ``.aez`` file: ``header`` is its parsed JSON header, ``version`` its format version,
    :meth:`chunks` yields the chunks.

    The constructor reads the file once (in blocks) to check the magic, version, structure and checksum.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise DataError(f"'{self.path}' is a folder; decompress reads one .aez file. Pass each .aez file in it in "
                            "turn (a shell loop: for f in DIR/*.aez; do ...; done).")
        if not self.path.is_file():
            raise DataError(f"No such file: '{self.path}'. Check the path.")
        self.size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            preamble = f.read(_PREAMBLE.size)
            if len(preamble) < _PREAMBLE.size or not preamble.startswith(MAGIC):
                if MAGIC.startswith(preamble[:8]) and preamble:
                    raise self._truncated()
                raise DataError(f"'{self.path}' is not an .aez file (wrong magic bytes). Pass a file written by "
                                "'aekit compress'.")
            _, version, header_length = _PREAMBLE.unpack(preamble)
            self.version: int = version
            if version > FORMAT_VERSION:
                raise DataError(f"'{self.path}' uses .aez format version {version}; this aekit reads up to version "
                                f"{FORMAT_VERSION}. Upgrade aekit.")
            digest = hashlib.sha256(preamble)
            text = self._read(f, header_length, digest)
            self.header_bytes = _PREAMBLE.size + header_length
            self._offsets: list[tuple[int, int]] = []
            while True:
                tag, value = _RECORD.unpack(self._read(f, _RECORD.size, digest))
                if tag == b"C":
                    start = f.tell()
                    self._read(f, value, digest)
                    self._offsets.append((start, value))
                elif tag == b"E":
                    break
                else:
                    raise self._corrupted()
            stored = f.read(_DIGEST + 1)
            if len(stored) < _DIGEST:
                raise self._truncated()
            if len(stored) > _DIGEST or value != len(self._offsets) or stored != digest.digest():
                raise self._corrupted()
        try:
            self.header: dict[str, Any] = json.loads(text.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._corrupted() from None

    def _read(self, f: BinaryIO, n: int, digest: Any) -> bytes:
        """Exactly ``n`` bytes, hashed; a short read means the file was cut off."""
        remaining, parts = n, []
        while remaining > 0:
            block = f.read(min(remaining, 1 << 24))
            if not block:
                raise self._truncated()
            parts.append(block)
            remaining -= len(block)
        data = b"".join(parts)
        digest.update(data)
        return data

    def _truncated(self) -> DataError:
        return DataError(f"'{self.path}' is truncated ({self.size} bytes; its end record is missing). The copy is "
                         "incomplete: copy or compress the file again.")

    def _corrupted(self) -> DataError:
        return DataError(f"'{self.path}' is corrupted (its sha256 checksum or structure does not match the "
                         "content). Copy or compress the file again.")

    @property
    def n_chunks(self) -> int:
        return len(self._offsets)

    def chunks(self) -> Iterator[bytes]:
        """The chunks in order, read one at a time."""
        with open(self.path, "rb") as f:
            for start, length in self._offsets:
                f.seek(start)
                yield f.read(length)
