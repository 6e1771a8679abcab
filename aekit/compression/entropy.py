"""Entropy coding with ``constriction``'s ANS coder: codes under a model's learned densities, and integers under
their own histogram (stored zlib-compressed; the residuals of the error-bounded mode).

Blocks are packed with :func:`pack` (a count, the lengths, then the parts), so every block is self-delimiting.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import constriction
except ImportError:  # an optional dependency: the error names the extra that installs it
    constriction = None

from aekit.errors import AekitError, DataError

__all__ = [
    "MAX_INTEGER",
    "CodedBlock",
    "decode_codes",
    "decode_integers",
    "encode_codes",
    "encode_integers",
    "pack",
    "unpack",
]

# Residual symbols beyond +-MAX_INTEGER are stored verbatim instead: it bounds the histogram at 2**17 entries.
MAX_INTEGER = 1 << 16

PmfFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _coder(words: np.ndarray | None = None) -> Any:
    """A constriction ANS coder (empty, or reading ``words``)."""
    if constriction is None:
        raise AekitError("Entropy coding needs the 'constriction' package, which is not installed. Install it with "
                         "pip install 'aekit[codec]'.")
    return constriction.stream.stack.AnsCoder() if words is None else constriction.stream.stack.AnsCoder(words)


def _categorical(probabilities: np.ndarray) -> Any:
    return constriction.stream.model.Categorical(probabilities, perfect=False)


def pack(parts: list[bytes]) -> bytes:
    """``parts`` as one self-delimiting block: u32 count, u64 length of each, then the bytes."""
    return struct.pack(f"<I{len(parts)}Q", len(parts), *(len(p) for p in parts)) + b"".join(parts)


def unpack(block: bytes, expected: int | tuple[int, ...]) -> list[bytes]:
    """Inverse of :func:`pack`; ``expected`` parts (or any of several counts), or a :class:`DataError` on a
    malformed block."""
    counts = (expected,) if isinstance(expected, int) else expected
    try:
        (count,) = struct.unpack_from("<I", block, 0)
        if count not in counts:
            raise struct.error(f"{count} parts instead of {' or '.join(map(str, counts))}")
        lengths = struct.unpack_from(f"<{count}Q", block, 4)
    except struct.error as exc:
        raise DataError(f"A block of the .aez file is malformed ({exc}). The file is corrupted; compress the "
                        "original again.") from None
    offset, parts = 4 + 8 * count, []
    for length in lengths:
        parts.append(block[offset:offset + length])
        offset += length
    if offset != len(block):
        raise DataError(f"A block of the .aez file has {len(block)} bytes where its lengths say {offset}. The file is "
                        "corrupted; compress the original again.")
    return parts


@dataclass
class CodedBlock:
    """Entropy-coded codes: ``data`` (side information + ANS words), ``coded_bytes`` (the ANS words alone) and
    ``predicted_bits``, what the entropy model says the codes cost (the ideal code length), and ``range_bytes``,
    the side information: each unit's range of values."""

    data: bytes
    coded_bytes: int
    predicted_bits: float
    range_bytes: int = 0


# Each code unit's range is stored in the narrowest of these that holds it, after one byte naming its width: an
# image's 192 units cost 385 bytes as int8 pairs, 1,536 as int32. Files written before had int32 ranges and no
# width byte (4 * units bytes, a length the tagged form never has).
_RANGE_DTYPES = {1: np.int8, 2: np.int16, 4: np.int32}


def _tables(pmf: PmfFunction, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per-unit probability tables, each renormalized over its own range ``low[j]..high[j]``."""
    table = pmf(low, high)  # (d, width)
    widths = (high - low + 1)[:, None]
    inside = np.arange(table.shape[1])[None, :] < widths
    table = np.where(inside, np.maximum(table, 1e-12), 0.0)
    return table / table.sum(1, keepdims=True)


def encode_codes(codes: np.ndarray, pmf: PmfFunction) -> CodedBlock:
    """Entropy code integer codes (n, d) with the densities ``pmf(low, high)`` gives for each unit's range."""
    n, d = codes.shape
    if n == 0:
        return CodedBlock(pack([b"", b"", b""]), 0, 0.0)
    low, high = codes.min(0).astype(np.int32), codes.max(0).astype(np.int32)
    table = _tables(pmf, low, high)
    symbols = (codes - low).astype(np.int32)  # (n, d), column j in [0, high[j] - low[j]]
    predicted = float(-np.log2(np.take_along_axis(table, symbols.T, axis=1)).sum())
    coder = _coder()
    for j in reversed(range(d)):  # a stack: the last unit encoded is the first decoded
        if high[j] == low[j]:
            continue  # a single possible value costs nothing (and constriction rejects one-symbol models)
        model = _categorical(table[j, :high[j] - low[j] + 1])
        coder.encode_reverse(np.ascontiguousarray(symbols[:, j]), model)
    words = coder.get_compressed().tobytes()
    width, ranges = next((w, t) for w, t in _RANGE_DTYPES.items()
                         if np.iinfo(t).min <= low.min() and high.max() <= np.iinfo(t).max)
    bounds = [bytes([width]) + low.astype(ranges).tobytes(), high.astype(ranges).tobytes()]
    return CodedBlock(pack([*bounds, words]), len(words), predicted, sum(map(len, bounds)))


def decode_codes(data: bytes, n: int, d: int, pmf: PmfFunction) -> np.ndarray:
    """Inverse of :func:`encode_codes`: integer codes (n, d) int32."""
    low_bytes, high_bytes, words = unpack(data, 3)
    if n == 0:
        return np.zeros((0, d), np.int32)
    if len(low_bytes) == 4 * d:  # written before the width byte: int32
        width = 4
    else:
        width, low_bytes = (low_bytes[0], low_bytes[1:]) if low_bytes else (0, b"")
    ranges = _RANGE_DTYPES.get(width)
    if ranges is None or len(low_bytes) != width * d or len(high_bytes) != len(low_bytes):
        units = len(high_bytes) // width if ranges is not None else "an unknown number of"
        raise DataError(f"The .aez file stores ranges for {units} code units; the codec has {d}. The file does not "
                        "belong to this codec or is corrupted.")
    low = np.frombuffer(low_bytes, ranges).astype(np.int32)
    high = np.frombuffer(high_bytes, ranges).astype(np.int32)
    table = _tables(pmf, low, high)
    coder = _coder(np.frombuffer(words, np.uint32).copy())
    codes = np.empty((n, d), np.int32)
    for j in range(d):
        if high[j] == low[j]:
            codes[:, j] = low[j]
            continue
        model = _categorical(table[j, :high[j] - low[j] + 1])
        codes[:, j] = coder.decode(model, n) + low[j]
    _check_all_read(coder)
    return codes


def _check_all_read(coder: Any) -> None:
    """Words left over after decoding: the block holds more symbols than the file's shape says."""
    if not coder.is_empty():
        raise DataError("A block of the .aez file holds more values than its header's shape says. The file is "
                        "damaged or was written by another program; compress the original again.")


def encode_integers(values: np.ndarray) -> bytes:
    """Entropy code integers in [-MAX_INTEGER, MAX_INTEGER] under their own histogram (stored zlib-compressed)."""
    values = values.reshape(-1).astype(np.int64)
    if values.size == 0:
        return pack([b"", b""])
    low = int(values.min())
    counts = np.bincount(values - low).astype(np.uint32)  # (width,)
    coder = _coder()
    if len(counts) > 1:  # a constant needs no coded bits
        coder.encode_reverse((values - low).astype(np.int32), _categorical(counts / counts.sum()))
    header = struct.pack("<q", low) + zlib.compress(counts.tobytes(), 9)
    return pack([header, coder.get_compressed().tobytes()])


def decode_integers(data: bytes, n: int) -> np.ndarray:
    """Inverse of :func:`encode_integers`: ``n`` integers (int64)."""
    header, words = unpack(data, 2)
    if n == 0:
        return np.zeros(0, np.int64)
    (low,) = struct.unpack_from("<q", header, 0)
    counts = np.frombuffer(zlib.decompress(header[8:]), np.uint32)
    if len(counts) == 1:
        return np.full(n, low, np.int64)
    coder = _coder(np.frombuffer(words, np.uint32).copy())
    values = coder.decode(_categorical(counts / counts.sum()), n).astype(np.int64) + low
    _check_all_read(coder)
    return values
