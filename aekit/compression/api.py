"""``compress`` and ``decompress``: ``.npy`` arrays, CSV/Parquet tables and PNG/JPEG images to ``.aez`` and back.

Each chunk of rows (or the whole image) is coded in two layers:

1. the codec's integer code, entropy coded under its learned densities (absent without a codec);
2. with ``max_abs_error=E``, the residual between the data and the codec's reconstruction, quantized with
   step ``2E`` (integers: ``2 floor(E) + 1``) and entropy coded, so every element is within ``E`` of the original.
   A table travels as float64 with each column's own dtype in the header: its whole-number and bool columns are
   quantized like integers where ``E >= 0.5`` (below, the float grid rounded back is exact, and older aekits
   read it), and every column comes back in its dtype.
   Elements the float arithmetic would put beyond ``E`` (and residuals too large for the coder) are stored
   verbatim, so the bound holds for every element, not only on average.

A chunk whose two layers would take more bytes than its raw values (a bound far below the data's precision)
stores the raw values instead, so a file is never much larger than the data.

The decoder re-runs the codec with the same batches as the encoder; on the same machine and torch build the
reconstruction is bit-identical, which the residual layer relies on.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import struct
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aekit._version import __version__
from aekit.compression.aez import AezReader, AezWriter
from aekit.compression.codec import Codec, from_tiles, to_tiles
from aekit.compression.entropy import (
    MAX_INTEGER,
    decode_codes,
    decode_integers,
    encode_codes,
    encode_integers,
    pack,
    unpack,
)
from aekit.compression.pretrained import DEFAULT_QUALITY, available_qualities, load_pretrained
from aekit.data.sources import IMAGE_EXTENSIONS, TABLE_SUFFIXES, check_column_names
from aekit.errors import AekitError, DataError, ModelFileError, check_float, check_int, name_list
from aekit.io import atomic_path, check_output_path, writing

__all__ = ["IMAGE_SUFFIXES", "TABLE_SUFFIXES", "Summary", "compress", "decompress", "image_color", "input_kind",
           "read_array", "read_image", "read_numeric_table"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = IMAGE_EXTENSIONS  # what Pillow reads, as for training
# Rows per chunk aim at this many raw bytes: big enough to amortize the per-chunk side information, small
# enough that an array larger than RAM streams through in bounded memory.
CHUNK_BYTES = 16 << 20


def input_kind(path: str | os.PathLike[str], action: str = "compress") -> str:
    """"array" (.npy), "table" (CSV/TSV/TXT/Parquet) or "image" (PNG/JPEG/...), from the file name; ``action``
    words the error ("compress", "train a codec on")."""
    if Path(path).is_dir():
        raise DataError(f"'{path}' is a folder; {action} takes one file. Pass each file of it in turn (a shell loop: "
                        "for f in DIR/*; do ...; done).")
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return "array"
    if suffix in TABLE_SUFFIXES:
        return "table"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    raise DataError(f"Cannot {action} '{path}': unknown file type {suffix or '(none)'!r}. Pass a .npy array, a "
                    f"{'/'.join(TABLE_SUFFIXES)} table or an image ({'/'.join(IMAGE_SUFFIXES)}).")


@dataclass
class Summary:
    """What one ``compress`` or ``decompress`` did. Sizes in bytes; quality figures on the decoded data.

    raw_bytes : the data as an in-memory array (what the ratio divides).
    file_bytes : the ``.aez`` file; ``header_bytes`` of it is the JSON header.
    code_bytes / predicted_code_bytes : the entropy-coded codes as written, and as the model predicts them
        (the ideal code length); they differ by the coder's overhead, a few bytes per chunk and code unit.
    range_bytes : each chunk's code ranges, the side information the entropy coder needs besides the model.
    residual_bytes : the error-bounded layer.
    verbatim_bytes : chunks stored as their raw values, where coding them would have taken more bytes.
    """

    operation: str
    kind: str
    raw_bytes: int
    file_bytes: int
    seconds: float
    n_values: int
    n_pixels: int | None = None
    header_bytes: int = 0
    code_bytes: int = 0
    predicted_code_bytes: float = 0.0
    range_bytes: int = 0
    residual_bytes: int = 0
    verbatim_bytes: int = 0
    psnr: float | None = None
    nrmse: float | None = None
    max_abs_error: float | None = None
    error_bound: float | None = None
    codec: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.raw_bytes / max(self.file_bytes, 1)

    @property
    def bits_per_unit(self) -> float:
        """Bits per pixel for images, per value otherwise."""
        return 8 * self.file_bytes / max(self.n_pixels or self.n_values, 1)

    @property
    def mb_per_s(self) -> float:
        return self.raw_bytes / 1e6 / max(self.seconds, 1e-9)

    def lines(self) -> list[str]:
        unit = "bpp" if self.n_pixels else "bits/value"
        out = [(f"{self.operation}: {self.kind}, {self.raw_bytes:,} bytes raw <-> {self.file_bytes:,} bytes .aez "
               f"(ratio {self.ratio:.2f}:1, {self.bits_per_unit:.4f} {unit}), {self.mb_per_s:.2f} MB/s"),
               f"codec: {self.codec or 'none (quantization + entropy coding only)'}"]
        if self.operation == "compress":
            framing = (self.file_bytes - self.code_bytes - self.range_bytes - self.residual_bytes - self.verbatim_bytes
                       - self.header_bytes)
            verbatim = (f"; raw values (chunks that coding would enlarge): {self.verbatim_bytes:,} bytes"
                        if self.verbatim_bytes else "")
            out.append(f"code: {self.code_bytes:,} bytes written, {self.predicted_code_bytes:,.1f} predicted by the "
                       f"model, and {self.range_bytes:,} bytes of code ranges; residual: {self.residual_bytes:,} "
                       f"bytes{verbatim}; header: {self.header_bytes:,} bytes; framing: {framing:,} bytes")
        quality = []
        if self.psnr is not None:
            quality.append(f"PSNR {self.psnr:.2f} dB")
        if self.nrmse is not None:
            quality.append(f"NRMSE {self.nrmse:.4g}")
        if self.max_abs_error is not None:
            quality.append(f"max abs error {self.max_abs_error:.6g}")
        if self.error_bound is not None:
            quality.append(f"(bound {self.error_bound:g})" if quality
                           else f"every value within {self.error_bound:g} of the original (the file's bound)")
        if quality:
            out.append(" ".join(quality))
        return out


class _Errors:
    """Running distortion statistics over the chunks."""

    def __init__(self) -> None:
        self.sse, self.count, self.max_abs = 0.0, 0, 0.0
        self.low, self.high = math.inf, -math.inf

    def update(self, original: np.ndarray, decoded: np.ndarray) -> None:
        if original.size == 0:
            return
        diff = decoded.astype(np.float64) - original.astype(np.float64)
        self.sse += float(np.square(diff).sum())
        self.count += diff.size
        # np.maximum, not max(): a NaN (a decoding gone wrong) must show, and max(0.0, nan) is 0.0
        self.max_abs = float(np.maximum(self.max_abs, np.abs(diff).max()))
        self.low = float(np.minimum(self.low, original.min()))
        self.high = float(np.maximum(self.high, original.max()))

    def rmse(self) -> float:
        return math.sqrt(self.sse / max(self.count, 1))

    def nrmse(self) -> float:
        """RMSE over the data's range (0 for constant data reconstructed exactly)."""
        span = self.high - self.low
        return self.rmse() / span if span > 0 else self.rmse()

    def psnr(self, peak: float) -> float:
        mse = self.sse / max(self.count, 1)
        return math.inf if mse == 0 else 10 * math.log10(peak ** 2 / mse)


# ------------------------------------------------------------------------------------------- values
def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float64 values to ``dtype``: integers rounded and clipped to the type's range."""
    if dtype.kind == "b":
        return values >= 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def _step(dtype: np.dtype, bound: float) -> float:
    """Quantization step of the residual: 2E, or for integers the odd integer 2 floor(E) + 1 (near-lossless)."""
    return float(2 * math.floor(bound) + 1) if dtype.kind in "iub" else 2.0 * bound


@dataclass(frozen=True)
class _Columns:
    """A table's columns as the coding layers see them: the values travel as float64 (rows, columns), and each
    decoded column is cast to ``dtypes`` (its own NumPy dtype: whole numbers rounded and clipped, bools
    thresholded, float32 rounded to float32). With ``integer_grid`` (.aez format 4), whole-number columns are
    quantized like integer arrays and bool columns exactly (:meth:`steps`); without, on the float grid ``2E``
    and then rounded, which is exact for ``E < 0.5`` and what format 1 to 3 readers decode."""

    dtypes: tuple[np.dtype, ...]
    integer_grid: bool = False

    @classmethod
    def named(cls, dtype_names: Sequence[str], integer_grid: bool = False) -> _Columns:
        """From the pandas dtype names of a header's ``column_dtypes`` (checked by :func:`_check_header`)."""
        dtypes = tuple(_column_dtype(name) for name in dtype_names)
        assert all(dtype is not None for dtype in dtypes), f"unchecked column dtypes {dtype_names}"
        return cls(dtypes, integer_grid)  # type: ignore[arg-type]

    @property
    def whole(self) -> np.ndarray:
        """(columns,) bool: the columns of whole numbers or bools."""
        return np.array([dtype.kind in "iub" for dtype in self.dtypes], dtype=bool)

    @property
    def integer(self) -> np.ndarray:
        """(columns,) bool: the columns of whole numbers (the header's ``integer_columns``), bools not."""
        return np.array([dtype.kind in "iu" for dtype in self.dtypes], dtype=bool)

    def steps(self, bound: float) -> np.ndarray:
        """(columns,) the integer grid's quantization step of each column: ``2 floor(E) + 1`` for whole numbers,
        ``2E`` for floats, and 1 for bools, which are kept exactly: a bound of 1 or more would let a bool
        column come back all False and still be within it."""
        return np.array([1.0 if dtype.kind == "b" else _step(dtype, bound) for dtype in self.dtypes])

    def cast(self, values: np.ndarray) -> np.ndarray:
        """``values`` (rows, columns) float64 with each column rounded to what its dtype holds, in place."""
        for j, dtype in enumerate(self.dtypes):
            if dtype != np.float64:
                values[:, j] = _cast(values[:, j], dtype)
        return values


def _grid(prediction: np.ndarray, dtype: np.dtype, bound: float,
          columns: _Columns | None) -> tuple[np.ndarray, np.ndarray | float]:
    """The residual layer's base (what a zero residual decodes to) and step, flat: integers on the odd-integer
    grid around the rounded prediction, the rest on the grid ``2E`` around the prediction itself."""
    flat = prediction.reshape(-1)
    if columns is None or not columns.integer_grid:
        return (np.rint(flat) if dtype.kind in "iub" else flat), _step(dtype, bound)
    whole = np.broadcast_to(columns.whole, prediction.shape).reshape(-1)
    return np.where(whole, np.rint(flat), flat), np.broadcast_to(columns.steps(bound), prediction.shape).reshape(-1)


def _decoded(values: np.ndarray, shape: tuple[int, ...], dtype: np.dtype, columns: _Columns | None) -> np.ndarray:
    """Float64 values (flat) cast to the block's dtype and, for a table, each column to its own; flat."""
    decoded = _cast(values, dtype)
    if columns is not None:
        columns.cast(decoded.reshape(shape))
    return decoded.reshape(-1)


def _encode_residual(original: np.ndarray, prediction: np.ndarray, bound: float,
                     columns: _Columns | None = None) -> tuple[bytes, np.ndarray]:
    """The residual layer of one block and the decoded block it gives (within ``bound`` everywhere)."""
    dtype = original.dtype
    values = original.astype(np.float64).reshape(-1)
    base, step = _grid(prediction, dtype, bound, columns)
    q = np.rint((values - base) / step)
    q = np.clip(q, -MAX_INTEGER, MAX_INTEGER)
    uncast = base + q * step
    decoded = _decoded(uncast, original.shape, dtype, columns)
    # float rounding (or a clipped residual) can leave an element beyond the bound: store those verbatim
    beyond = np.abs(decoded.astype(np.float64) - values) > bound
    if columns is not None and not columns.integer_grid:
        # a format 1-3 reader rounds a table's integer columns (below 0.5, exact) but keeps the others uncast
        uncast_kept = np.broadcast_to(~columns.integer, original.shape).reshape(-1)
        beyond |= uncast_kept & (np.abs(uncast - values) > bound)
    exact = np.flatnonzero(beyond)
    q[exact] = 0
    flat_original = original.reshape(-1)
    decoded[exact] = flat_original[exact]
    block = pack([encode_integers(q.astype(np.int64)), exact.astype(np.int64).tobytes(),
                  np.ascontiguousarray(flat_original[exact]).tobytes()])
    return block, decoded.reshape(original.shape)


def _decode_residual(block: bytes, prediction: np.ndarray, bound: float, dtype: np.dtype,
                     columns: _Columns | None = None) -> np.ndarray:
    q_block, index_bytes, exact_bytes = unpack(block, 3)
    base, step = _grid(prediction, dtype, bound, columns)
    q = decode_integers(q_block, base.size)
    decoded = _decoded(base + q * step, prediction.shape, dtype, columns)
    index = np.frombuffer(index_bytes, np.int64) if len(index_bytes) % 8 == 0 else None
    if (index is None or len(exact_bytes) != len(index) * dtype.itemsize
            or (len(index) and (index.min() < 0 or index.max() >= decoded.size))):
        raise _damaged()
    decoded[index] = np.frombuffer(exact_bytes, dtype)
    return decoded.reshape(prediction.shape)


# ------------------------------------------------------------------------------------------- readers
def image_color(path: Path) -> str:
    """"grayscale" for single-channel images (1-bit, 8-bit, 16-bit, float), "rgb" for the rest."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise DataError(f"No such file: '{path}'. Check the path.")
    try:
        with Image.open(path) as image:
            return "grayscale" if image.mode in ("1", "L", "LA", "I", "I;16", "F") else "rgb"
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"Cannot read the image '{path}' ({exc}). Pass a valid PNG or JPEG file.") from None


def _check_image_is_8_bit(path: Path) -> None:
    """Refuse (one line) an image the 8-bit grayscale / RGB codec would change beyond its error: more than 8 bits
    a pixel (16-bit PNG or TIFF, float) or an alpha channel."""
    from PIL import Image

    from aekit.data.sources import DEEP_IMAGE_MODES

    with Image.open(path) as image:
        mode = image.mode
        # 16 bits a channel: one-channel modes say so; Pillow opens 48-bit RGB PNGs as RGB, the raw mode says 16
        raw = str(image.tile[0][3][0] if image.tile and isinstance(image.tile[0][3], tuple)
                  else image.tile[0][3] if image.tile else "")
        if mode in DEEP_IMAGE_MODES or mode == "F" or ";16" in raw:
            raise DataError(f"'{path}' has more than 8 bits a pixel (mode {mode}{f', {raw}' if raw else ''}); the "
                            "image codecs store 8. To keep every bit, compress its pixels as an array: save "
                            "np.asarray(Image.open(path)) as .npy and pass --max-abs-error.")
        # transparency the codecs would drop; fully opaque images lose nothing by it
        alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode == "P" and "transparency" in image.info)
        if alpha and image.convert("RGBA").getchannel("A").getextrema() != (255, 255):
            raise DataError(f"'{path}' has transparent pixels (mode {mode}), which the image codecs do not store. "
                            "Flatten it onto a background first (Pillow: image.convert('RGB')), or compress its "
                            "pixels as an array (.npy).")


def read_image(path: Path, color: str | None = None) -> np.ndarray:
    """Pixels (H, W, C) uint8 of an image, in its own colour mode or in ``color`` ("grayscale" or "rgb")."""
    from aekit.data.sources import _read_image

    return _read_image(path, None, color or image_color(path))


def read_array(path: Path) -> np.ndarray:
    """A numeric .npy array, memory-mapped (so a file larger than RAM is read chunk by chunk)."""
    if not path.is_file():
        raise DataError(f"No such file: '{path}'. Check the path.")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"Cannot read the array '{path}' ({exc}). Pass a .npy file of numbers.") from None
    if array.dtype.kind not in "biuf" or array.ndim == 0:
        raise DataError(f"The array in '{path}' has dtype {array.dtype} and shape {array.shape}; aekit compresses "
                        "numeric arrays with at least one axis. Convert it to numbers first.")
    return array


# A table's values travel as float64, which holds every whole number below 2**53 exactly
_LARGEST_EXACT_INTEGER = 2 ** 53


def read_numeric_table(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """The values (n, columns) float64 of a CSV/TSV/TXT/Parquet table and ``{"columns": [...], "column_dtypes":
    [...], "integer_columns": [...]}``: each column's pandas dtype (numbers written as text: the dtype they read as),
    which decompress writes back, and the whole-number columns (what aekit before column dtypes rounds)."""
    import pandas as pd

    from aekit.anomaly.series import read_numeric_frame

    frame = read_numeric_frame(path, keep_time=False, purpose=" before compressing", as_float=False)
    if frame.index.name is not None or not frame.index.equals(pd.RangeIndex(len(frame))):  # ids: an id column, or
        # an unnamed first column other than 0..n-1 (0..n-1 is DataFrame.to_csv's default index: "row_index" in the
        # header, written back by decompress to a text table)
        column = f"column {frame.index.name!r}" if frame.index.name is not None else "first column, which has no name,"
        raise DataError(f"The {column} of {path} holds row ids, and compress does not store row ids. Drop the "
                        "column, or rename it to compress it as values.")
    frame = frame.apply(_as_numbers)
    described: dict[str, Any] = {"columns": [str(c) for c in frame.columns],
                                 "column_dtypes": [str(frame[c].dtype) for c in frame.columns],
                                 "integer_columns": [str(c) for c in frame.columns if frame[c].dtype.kind in "iu"]}
    if _has_unnamed_first_column(path):
        described["row_index"] = True
    if _has_no_header_row(path, described["columns"]):
        described["header_row"] = False
    return frame.to_numpy(np.float64), described


def _check_table_values(values: np.ndarray, described: dict[str, Any], source: Path) -> None:
    """Refuse (one line naming the columns) what a table's float64 values cannot carry back: NaN and infinities,
    and whole numbers from 2**53 on, which float64 rounds."""
    columns = described["columns"]
    holes = ~np.isfinite(values).all(axis=0)
    if holes.any():
        raise DataError(f"Column(s) {name_list(np.asarray(columns)[holes])} of {source} hold missing (NaN) or "
                        "infinite values, which compress cannot store. Fill them (for example with 0 or the column "
                        "mean) or drop those rows before compressing.")
    whole = np.isin(columns, described["integer_columns"])
    huge = whole & (np.abs(values).max(axis=0, initial=0.0) >= _LARGEST_EXACT_INTEGER)
    if huge.any():
        raise DataError(f"Column(s) {name_list(np.asarray(columns)[huge])} of {source} hold whole numbers of 2**53 or "
                        "more, which a table's float64 values cannot keep exactly. Save those columns as an integer "
                        ".npy array and compress that instead.")


def _as_numbers(column: Any) -> Any:
    """A column of a numeric dtype as it is; numbers stored as text or categories as the numbers they are."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column.dtype) and not isinstance(column.dtype, pd.CategoricalDtype):
        return column
    values = column.astype(object) if isinstance(column.dtype, pd.CategoricalDtype) else column
    return pd.to_numeric(values)


def _column_dtype(name: Any) -> np.dtype | None:
    """The NumPy dtype a table column's stored pandas dtype name ("int32", "Int64", "bool", "boolean", "float32")
    decodes to, or None for a name that is not a numeric dtype."""
    import pandas as pd

    try:
        dtype = pd.api.types.pandas_dtype(name) if isinstance(name, str) else None
    except (TypeError, ValueError):
        return None
    if dtype is None or not pd.api.types.is_numeric_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return None
    dtype = np.dtype(getattr(dtype, "numpy_dtype", dtype))
    return dtype if dtype.kind in "biuf" else None


def _first_line(path: Path) -> str | None:
    """A text table's first line that is neither blank nor a comment (None for Parquet)."""
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return None
    with path.open(encoding="utf-8", errors="replace") as f:
        return next((line for line in f if line.strip() and not line.startswith("#")), "")


def _has_unnamed_first_column(path: Path) -> bool:
    """Whether a text table's header starts with an empty name: the row numbers ``DataFrame.to_csv`` writes."""
    line = _first_line(path)
    return line is not None and line.lstrip(" ")[:1] in (",", "\t", ";", "|")


def _has_no_header_row(path: Path, columns: list[str]) -> bool:
    """Whether a text table starts with its data (the reader then names the columns x0, x1, ...): decompress
    writes it back without a header row too."""
    line = _first_line(path)
    return (line is not None and columns == [f"x{j}" for j in range(len(columns))]
            and not line.lstrip(" ").startswith("x0"))


def _check_finite(block: np.ndarray, source: Path) -> None:
    if block.dtype.kind == "f" and not np.isfinite(block).all():
        raise DataError(f"'{source}' contains NaN or infinite values, which the codec cannot encode. Replace them "
                        "(for example with 0 or the column mean) before compressing.")


def _damaged(source: Path | None = None, detail: str = "") -> DataError:
    """The one line for a file whose checksum holds but whose contents do not fit together."""
    name = f"'{source}'" if source is not None else "The .aez file"
    return DataError(f"{name} is damaged or was written by another program{f' ({detail})' if detail else ''}; its "
                     "checksum matches but its contents do not fit together. Compress the original again.")


def _check_output_file(output: Path, protect: list[Path]) -> None:
    check_output_path(output, option="output", protect=protect)
    if output.is_dir():  # before the work, not after it
        raise AekitError(f"output {output} is a folder. Pass a file path (for example {output / 'name'}).")


# --------------------------------------------------------------------------------------------- codecs
def _resolve_codec(codec: str | os.PathLike[str] | Codec | None, kind: str, channels: int | None,
                   quality: int | None) -> Codec | None:
    if isinstance(codec, Codec):
        return codec
    if codec is not None:
        return Codec.load(codec)
    if kind == "image":
        color = "grayscale" if channels == 1 else "rgb"
        return load_pretrained(color, DEFAULT_QUALITY if quality is None else quality)
    return None


def _codec_header(codec: Codec | None) -> dict[str, Any] | None:
    if codec is None:
        return None
    pretrained = codec.source[len("pretrained:"):] if codec.source.startswith("pretrained:") else None
    return {"sha256": codec.fingerprint, "pretrained": pretrained,
            "path": None if pretrained else str(Path(codec.source).resolve())}


def _codec_for_file(header: dict[str, Any], codec: str | os.PathLike[str] | Codec | None, path: Path) -> Codec | None:
    stored = header.get("codec")
    if stored is None:
        if codec is not None:
            raise AekitError(f"'{path}' was compressed without a codec, so the codec {getattr(codec, 'source', codec)} "
                             "would not be used. Drop the codec.")
        return None
    if isinstance(codec, Codec):
        loaded = codec
    elif codec is not None:
        loaded = Codec.load(codec)
    elif stored.get("pretrained"):
        color, _, level = stored["pretrained"].rpartition("-q")
        if color not in ("grayscale", "rgb") or not level.isdigit() or int(level) not in available_qualities(color):
            raise _damaged(path, f"shipped codec {stored['pretrained']!r}, which this aekit does not have")
        loaded = load_pretrained(color, int(level))
    elif stored.get("path") and Path(stored["path"]).is_dir():
        loaded = Codec.load(stored["path"])
    else:
        raise ModelFileError(f"'{path}' was compressed with the codec at '{stored.get('path')}', which is not there. "
                             "Pass that codec directory with --codec.")
    if loaded.fingerprint != stored["sha256"]:
        raise ModelFileError(f"'{path}' was compressed with codec sha256 {stored['sha256'][:12]}...; {loaded.source} "
                             f"has sha256 {loaded.fingerprint[:12]}... . Pass the codec the file was compressed with.")
    return loaded


def _check_codec(codec: Codec, kind: str, sample_shape: tuple[int, ...], path: Path) -> None:
    spec = codec.spec
    if kind == "image":
        if spec.kind != "image":
            raise DataError(f"The codec {codec.source} compresses arrays, but '{path}' is an image. Pass an image "
                            "codec (or none, for the shipped one).")
        if spec.channels != sample_shape[-1]:
            raise DataError(f"The codec {codec.source} expects {spec.channels}-channel images; '{path}' has "
                            f"{sample_shape[-1]}. Pass a codec trained on images of that colour mode.")
        return
    if spec.kind != "array":
        raise DataError(f"The codec {codec.source} compresses images, but '{path}' holds an array. Pass a codec "
                        "trained with 'aekit train-codec' on arrays like it.")
    n_features = int(np.prod(sample_shape))
    if spec.n_features != n_features:
        raise DataError(f"The codec {codec.source} expects {spec.n_features} values per row; '{path}' has "
                        f"{n_features} (row shape {sample_shape}). Pass a codec trained on this kind of data.")


# ------------------------------------------------------------------------------------------- blocks
def _predict_rows(codec: Codec | None, rows: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Codes and the float64 prediction (n, n_features) of array rows (zeros without a codec)."""
    flat = rows.reshape(len(rows), -1).astype(np.float64)
    if codec is None:
        return None, np.zeros_like(flat)
    scaled = codec.scaler.transform(flat) if codec.scaler is not None else flat
    codes = codec.analyze(scaled.astype(np.float32))
    return codes, _rows_from_codes(codec, codes)


def _rows_from_codes(codec: Codec, codes: np.ndarray) -> np.ndarray:
    decoded = codec.synthesize(codes).reshape(len(codes), -1).astype(np.float64)
    return codec.scaler.inverse_transform(decoded) if codec.scaler is not None else decoded


def _image_codes(codec: Codec, image: np.ndarray) -> np.ndarray:
    tiles, _ = to_tiles(image.astype(np.float32) / 255.0, codec.spec.tile or 16)
    return codec.analyze(tiles)


def _image_from_codes(codec: Codec, codes: np.ndarray, height: int, width: int) -> np.ndarray:
    tile = codec.spec.tile or 16
    grid = (math.ceil(height / tile), math.ceil(width / tile))
    return from_tiles(codec.synthesize(codes), grid, height, width).astype(np.float64) * 255.0


def _encode_block(original: np.ndarray, codes: np.ndarray | None, prediction: np.ndarray, codec: Codec | None,
                  bound: float | None, summary: Summary,
                  columns: _Columns | None = None) -> tuple[bytes, np.ndarray, int]:
    """One chunk: its code and residual layers packed (two parts), or its raw values (one part) where those are
    smaller; the decoded values; and the oldest .aez format version that reads the chunk."""
    code_block, coded = b"", None
    if codes is not None and codec is not None:
        coded = encode_codes(codes, codec.pmf)
        code_block = coded.data
    prediction = prediction.reshape(original.shape)
    if bound is None:
        residual, decoded = b"", _decoded(prediction.reshape(-1), original.shape, original.dtype, columns)
        decoded = decoded.reshape(original.shape)
    else:
        residual, decoded = _encode_residual(original, prediction, bound, columns)
    block = pack([code_block, residual])
    raw = np.ascontiguousarray(original).tobytes()
    if len(raw) < len(block):
        # a bound far below the data's precision makes residuals too large for the coder, each stored verbatim
        # with its index: float32 normal data at 1e-6 took 2.8 times its raw size before this fallback
        summary.verbatim_bytes += len(raw)
        return pack([raw]), np.array(original), 3
    if coded is not None:
        summary.code_bytes += coded.coded_bytes
        summary.range_bytes += coded.range_bytes
        summary.predicted_code_bytes += coded.predicted_bits / 8
    summary.residual_bytes += len(residual)
    ranges = coded is not None and len(codes) > 0  # with a byte naming their width (format 2); none for no rows
    integer_grid = bound is not None and columns is not None and columns.integer_grid
    return block, decoded, 4 if integer_grid else 2 if ranges else 1


def _decode_block(block: bytes, prediction_of: Any, shape: tuple[int, ...], dtype: np.dtype,
                  bound: float | None, columns: _Columns | None = None) -> np.ndarray:
    parts = unpack(block, (1, 2))
    if len(parts) == 1:  # the raw values
        if len(parts[0]) != math.prod(shape) * dtype.itemsize:
            raise _damaged()
        return np.frombuffer(parts[0], dtype).reshape(shape)
    code_block, residual = parts
    prediction = prediction_of(code_block).reshape(shape)
    if bound is None:
        return _decoded(prediction.reshape(-1), shape, dtype, columns).reshape(shape)
    return _decode_residual(residual, prediction, bound, dtype, columns)


def _row_chunks(n_rows: int, row_bytes: int, chunk_rows: int | None) -> Iterator[tuple[int, int]]:
    size = chunk_rows or max(1, CHUNK_BYTES // max(row_bytes, 1))
    for start in range(0, n_rows, size):
        yield start, min(n_rows, start + size)


# ------------------------------------------------------------------------------------------ compress
def _codec_paths(codec: str | os.PathLike[str] | Codec | None) -> list[Path]:
    """A codec directory given by path, which compress and decompress must not write into."""
    return [Path(codec)] if isinstance(codec, (str, os.PathLike)) else []


def compress(source: str | os.PathLike[str], output: str | os.PathLike[str], *,
             codec: str | os.PathLike[str] | Codec | None = None, quality: int | None = None,
             max_abs_error: float | None = None, chunk_rows: int | None = None) -> Summary:
    """Compress ``source`` (.npy, CSV/TSV/TXT/Parquet, PNG/JPEG...) into the ``.aez`` file ``output``.

    Parameters
    ----------
    codec : a codec directory from ``aekit train-codec`` (or a loaded :class:`Codec`). Images default to the
        shipped codec for their colour mode; arrays and tables without a codec need ``max_abs_error``.
    quality : level of the shipped image codec (see ``available_qualities``); images only, without ``codec``.
    max_abs_error : every decoded element is within this of the original (in the data's units).
    chunk_rows : rows per chunk for arrays and tables (default: about 16 MB of raw data per chunk).
    """
    source, output = Path(source), Path(output)
    if output.suffix.lower() != ".aez":
        raise AekitError(f"The compressed file is an .aez file; its name must end in .aez, not {output.name!r}.")
    _check_output_file(output, [source, *_codec_paths(codec)])
    kind = input_kind(source)
    if max_abs_error is not None:
        if isinstance(max_abs_error, (int, float)) and not math.isfinite(max_abs_error):
            raise AekitError(f"The 'max_abs_error' parameter of compress must be a finite number; {max_abs_error!r} "
                             "bounds nothing. Pass the largest error you accept, e.g. 0.01, or no bound.")
        if max_abs_error == 0 and not isinstance(max_abs_error, bool):
            raise AekitError("max_abs_error=0 cannot be guaranteed for real numbers. For whole numbers (pixels, "
                             "counts) max_abs_error=0.49 restores every value exactly; for real numbers pass the "
                             "largest error you accept, e.g. 1e-6.")
        max_abs_error = check_float(max_abs_error, name="max_abs_error", owner="compress", low=0.0,
                                    low_inclusive=False)
    if quality is not None:
        check_int(quality, name="quality", owner="compress", low=1)
    if chunk_rows is not None:
        check_int(chunk_rows, name="chunk_rows", owner="compress", low=1)
    # options that would do nothing here are refused, not ignored
    if quality is not None and (codec is not None or kind != "image"):
        raise AekitError(f"quality={quality} picks a shipped image codec; " + (
            "a codec is given, and its quality is the one it was trained for. Drop it." if codec is not None
            else f"'{source}' is {'a table' if kind == 'table' else 'an array'}. Drop it."))
    if chunk_rows is not None and kind == "image":
        raise AekitError(f"chunk_rows splits arrays and tables; '{source}' is an image, coded whole. Drop chunk_rows.")
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    if kind == "image":
        data = read_image(source)  # first: a missing or broken file is its one line
        _check_image_is_8_bit(source)
        sample_shape: tuple[int, ...] = tuple(data.shape)
    elif kind == "table":
        data, extra = read_numeric_table(source)
        _check_table_values(data, extra, source)
        sample_shape = tuple(data.shape[1:])
    else:
        data = read_array(source)
        sample_shape = tuple(data.shape[1:])
    loaded = _resolve_codec(codec, kind, sample_shape[-1] if kind == "image" else None, quality)
    if loaded is None and max_abs_error is None:
        raise AekitError(f"Compressing the {kind} '{source}' needs a codec or an error bound. Pass --codec DIR (train "
                         "one with 'aekit train-codec') or --max-abs-error E.")
    if loaded is not None:
        _check_codec(loaded, kind, sample_shape, source)
        if kind == "table":  # a codec reads columns by position, as a model does
            check_column_names(extra["columns"], loaded.columns, f"file {source}")
    scaler = ({"kind": "pixels", "offset": 0.0, "scale": 255.0} if kind == "image"
              else loaded.scaler.to_dict() if loaded is not None and loaded.scaler is not None else None)
    if data.dtype == np.bool_ and max_abs_error is not None and max_abs_error > _EXACT_BOOL_BOUND:
        # a bound of 1 or more would let a bool array come back all False; 0.5 codes it exactly (step 1), and
        # every format version decodes it
        max_abs_error = _EXACT_BOOL_BOUND
    columns = _table_columns(extra, max_abs_error) if kind == "table" else None
    if columns is not None and columns.integer_grid:
        extra["integer_grid"] = True
    header = {"aekit_version": __version__, "kind": kind, "codec": _codec_header(loaded),
              "shape": list(data.shape), "dtype": data.dtype.str, "scaler": scaler, "max_abs_error": max_abs_error,
              "source_name": source.name, **extra}
    summary = Summary("compress", kind, raw_bytes=int(data.size * data.dtype.itemsize), file_bytes=0, seconds=0.0,
                      n_values=int(data.size), n_pixels=int(data.shape[0] * data.shape[1]) if kind == "image" else None,
                      error_bound=max_abs_error, codec=loaded.source if loaded else None)
    errors = _Errors()
    # the version the file will need as far as known now (a codec's code ranges: 2; the integer grid: 4), so that
    # only a raw chunk (3) makes the writer stamp the preamble again and re-read the file for its checksum
    known = 4 if columns is not None and columns.integer_grid else 2 if loaded is not None else 1
    with AezWriter(output, header, version=known) as writer:
        if kind == "image":
            codes = _image_codes(loaded, data) if loaded is not None else None
            prediction = (_image_from_codes(loaded, codes, *data.shape[:2]) if loaded is not None
                          else np.zeros(data.shape))
            block, decoded, version = _encode_block(data, codes, prediction, loaded, max_abs_error, summary)
            writer.write_chunk(block, version)
            errors.update(data, decoded)
        else:
            row_bytes = int(np.prod(sample_shape, dtype=np.int64)) * data.dtype.itemsize
            for start, stop in _row_chunks(len(data), row_bytes, chunk_rows):
                rows = np.asarray(data[start:stop])
                _check_finite(rows, source)
                codes, prediction = _predict_rows(loaded, rows)
                block, decoded, version = _encode_block(rows, codes, prediction, loaded, max_abs_error, summary,
                                                        columns)
                writer.write_chunk(pack([json.dumps({"rows": stop - start}).encode(), block]), version)
                errors.update(rows, decoded)
        summary.header_bytes = writer.header_bytes
    summary.seconds = time.perf_counter() - started
    summary.file_bytes = output.stat().st_size
    _fill_quality(summary, errors)
    logger.info("compressed %s -> %s: ratio %.2f", source, output, summary.ratio)
    return summary


# The bound at which a bool array is coded exactly: its odd-integer step 2 floor(E) + 1 is 1 below E = 1
_EXACT_BOOL_BOUND = 0.5


def _table_columns(described: dict[str, Any], bound: float | None) -> _Columns:
    """How compress codes the columns :func:`read_numeric_table` described: whole-number and bool columns on the
    integer grid where the bound is 0.5 or more (below it, the float grid rounded back is exact, in format 1-3)."""
    columns = _Columns.named(described["column_dtypes"])
    return _Columns(columns.dtypes, integer_grid=bound is not None and bound >= 0.5 and bool(columns.whole.any()))


def _fill_quality(summary: Summary, errors: _Errors) -> None:
    summary.max_abs_error = errors.max_abs
    if summary.kind == "image":
        summary.psnr = errors.psnr(255.0)
    else:
        summary.nrmse = errors.nrmse()


# ---------------------------------------------------------------------------------------- decompress
_OUTPUTS = {"array": (".npy",), "table": TABLE_SUFFIXES, "image": (".png", ".bmp", ".tif", ".tiff", ".webp")}


@dataclass
class _Header:
    """The fields of an .aez header that decoding relies on, checked."""

    kind: str
    shape: tuple[int, ...]
    dtype: np.dtype
    bound: float | None
    column_dtypes: list[str] | None = None  # a table's, as pandas names them ("int32", "bool", "Int64")
    integer_grid: bool = False


def _check_header(header: Any, source: Path) -> _Header:
    """The header's kind, shape, dtype and bound, each of the type and range compress writes; a header that a
    checksum vouches for but that does not fit together is one line, not a crash deep in decoding."""
    if not isinstance(header, dict):
        raise _damaged(source, "its header is not a mapping")
    kind = header.get("kind")
    if not isinstance(kind, str):
        raise _damaged(source, f"kind {kind!r}")
    if kind not in _OUTPUTS:
        raise DataError(f"'{source}' holds data of unknown kind {kind!r}. Upgrade aekit.")
    shape = header.get("shape")
    dims = {"image": 3, "table": 2}.get(kind)
    if (not isinstance(shape, list) or not shape or (dims is not None and len(shape) != dims)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise _damaged(source, f"shape {shape!r} for {'an' if kind in ('array', 'image') else 'a'} {kind}")
    if kind == "image" and shape[2] not in (1, 3):
        raise _damaged(source, f"an image of {shape[2]} channels")
    try:
        dtype = np.dtype(header.get("dtype"))
    except (TypeError, ValueError):
        raise _damaged(source, f"dtype {header.get('dtype')!r}") from None
    if dtype.kind not in "biuf" or header.get("dtype") is None or (kind == "image" and dtype != np.uint8):
        raise _damaged(source, f"dtype {header.get('dtype')!r} for {'an' if kind in ('array', 'image') else 'a'} "
                       f"{kind}")
    bound = header.get("max_abs_error")
    if bound is not None and (not isinstance(bound, (int, float)) or isinstance(bound, bool)
                              or not math.isfinite(bound) or bound <= 0):
        raise _damaged(source, f"max_abs_error {bound!r}")
    codec = header.get("codec")
    if codec is not None and (not isinstance(codec, dict) or not isinstance(codec.get("sha256"), str)
                              or not all(isinstance(codec.get(k), (str, type(None))) for k in ("pretrained", "path"))):
        raise _damaged(source, f"codec {codec!r:.80}")
    if kind == "table":
        columns, integers = header.get("columns"), header.get("integer_columns", [])
        if columns is not None and (not isinstance(columns, list) or len(columns) != shape[1]
                                    or not all(isinstance(c, str) for c in columns)):
            raise _damaged(source, f"{len(columns) if isinstance(columns, list) else columns!r} column names for "
                           f"{shape[1]} columns")
        if columns is not None and len(set(columns)) < len(columns):
            raise _damaged(source, "column names " + name_list(sorted({c for c in columns if columns.count(c) > 1})) +
                           " given twice")
        if not isinstance(integers, list) or not all(isinstance(c, str) for c in integers):
            raise _damaged(source, f"integer_columns {integers!r:.80}")
        if dtype != np.float64:
            raise _damaged(source, f"dtype {header.get('dtype')!r} for a table (its values are float64)")
        dtypes, integer_grid = header.get("column_dtypes"), header.get("integer_grid", False)
        if dtypes is not None and (not isinstance(dtypes, list) or len(dtypes) != shape[1]
                                   or any(_column_dtype(name) is None for name in dtypes)):
            raise _damaged(source, f"column_dtypes {dtypes!r:.80} for {shape[1]} columns")
        if not isinstance(integer_grid, bool):
            raise _damaged(source, f"integer_grid {integer_grid!r:.80}")
        return _Header(kind, tuple(shape), dtype, None if bound is None else float(bound), dtypes, integer_grid)
    return _Header(kind, tuple(shape), dtype, None if bound is None else float(bound))


def decompress(source: str | os.PathLike[str], output: str | os.PathLike[str], *,
               codec: str | os.PathLike[str] | Codec | None = None, original: str | os.PathLike[str] | None = None,
               ) -> Summary:
    """Decode the ``.aez`` file ``source`` into ``output`` (.npy for arrays, CSV/Parquet for tables, PNG (or
    lossless BMP/TIFF/WebP) for images).

    ``codec`` is needed only when the file's codec is neither shipped nor at the path it was trained to; it
    must be the same model (checked by its sha256). With ``original``, the summary reports the errors
    against it.
    """
    source, output = Path(source), Path(output)
    _check_output_file(output, [source, *_codec_paths(codec), *([original] if original is not None else [])])
    started = time.perf_counter()
    reader = AezReader(source)
    checked = _check_header(reader.header, source)
    header, kind, shape, dtype, bound = reader.header, checked.kind, checked.shape, checked.dtype, checked.bound
    if output.suffix.lower() not in _OUTPUTS[kind]:
        raise DataError(f"'{source}' holds {'an' if kind in ('array', 'image') else 'a'} {kind}; write it to a "
                        f"{'/'.join(_OUTPUTS[kind])} file, not {output.name!r}.")
    if kind == "image" and shape[2] == 1 and output.suffix.lower() == ".webp":
        raise DataError(f"'{source}' holds a grayscale image, and WebP stores no grayscale: it would come back as "
                        f"RGB. Write a .png, .bmp or .tif file instead of {output.name!r}.")
    loaded = _codec_for_file(header, codec, source)
    reference = None if original is None else _read_original(Path(original), kind, shape, source)
    summary = Summary("decompress", kind, raw_bytes=int(np.prod(shape, dtype=np.int64)) * dtype.itemsize,
                      file_bytes=reader.size, seconds=0.0, n_values=int(np.prod(shape, dtype=np.int64)),
                      n_pixels=shape[0] * shape[1] if kind == "image" else None, error_bound=bound,
                      codec=loaded.source if loaded else None, header_bytes=reader.header_bytes)
    if kind == "image":
        if reader.n_chunks != 1:
            raise _damaged(source, f"{reader.n_chunks} chunks for one image")
        (block,) = list(reader.chunks())

        def image_prediction(code_block: bytes) -> np.ndarray:
            if loaded is None:
                return np.zeros(shape)
            tile = loaded.spec.tile or 16
            n_tiles = math.ceil(shape[0] / tile) * math.ceil(shape[1] / tile)
            codes = decode_codes(code_block, n_tiles, loaded.latent_dim, loaded.pmf)
            return _image_from_codes(loaded, codes, shape[0], shape[1])

        with _decoding(source):
            decoded = _decode_block(block, image_prediction, shape, dtype, bound)
        _write_image(output, decoded)
    else:
        decoded = _decode_rows(reader, loaded, checked, output, header)
    summary.seconds = time.perf_counter() - started
    if reference is not None:
        errors = _Errors()
        errors.update(np.asarray(reference), np.asarray(decoded))
        _fill_quality(summary, errors)
    return summary


@contextmanager
def _decoding(source: Path) -> Iterator[None]:
    """A block that does not decode to what the header says (the checksum vouches only for the bytes): one line."""
    try:
        yield
    except AekitError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, OverflowError, zlib.error, struct.error) as exc:
        raise _damaged(source, f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}") from None


def _read_original(path: Path, kind: str, shape: tuple[int, ...], source: Path) -> np.ndarray:
    """decompress's ``original``, read and checked against the file's shape before anything is decoded or
    written."""
    suffixes = {"array": (".npy",), "image": IMAGE_SUFFIXES, "table": TABLE_SUFFIXES}[kind]
    if path.suffix.lower() not in suffixes:
        raise DataError(f"--original {path}: '{source}' holds {'an' if kind in ('array', 'image') else 'a'} {kind}, "
                        f"so the original is a {'/'.join(suffixes)} file. Pass the file it was compressed from.")
    if kind == "image":
        reference = read_image(path)
    else:
        reference = read_numeric_table(path)[0] if kind == "table" else read_array(path)
    if tuple(reference.shape) != shape:
        raise DataError(f"--original {path} has shape {tuple(reference.shape)}, but '{source}' holds {kind} data of "
                        f"shape {shape}. Pass the file it was compressed from.")
    return reference


def _chunk_rows(meta: bytes, source: Path) -> int:
    try:
        rows = json.loads(meta)["rows"]
    except (ValueError, KeyError, TypeError):
        raise _damaged(source, "a chunk without its row count") from None
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        raise _damaged(source, f"a chunk of {rows!r} rows")
    return rows


def _decode_rows(reader: AezReader, codec: Codec | None, checked: _Header, output: Path,
                 header: dict[str, Any]) -> np.ndarray:
    """Decode the chunks of an array or table into ``output`` (a memory-mapped .npy for arrays)."""
    shape, dtype, bound = checked.shape, checked.dtype, checked.bound
    row_shape = shape[1:]
    source = reader.path
    names: list[str] = []
    dtypes: list[str] = []
    columns = None
    if checked.kind == "table":
        names = header.get("columns") or [f"x{i}" for i in range(shape[1])]
        dtypes = checked.column_dtypes or _dtypes_before_column_dtypes(header, names, bound)
        columns = _Columns.named(dtypes, checked.integer_grid)

    def row_prediction(n: int) -> Any:
        def predict(code_block: bytes) -> np.ndarray:
            if codec is None:
                return np.zeros((n, *row_shape))
            return _rows_from_codes(codec, decode_codes(code_block, n, codec.latent_dim, codec.pmf))
        return predict

    def decoded_chunks() -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows) of each chunk; the row counts must add up to the header's shape."""
        start = 0
        for chunk in reader.chunks():
            meta, block = unpack(chunk, 2)
            n = _chunk_rows(meta, source)
            if start + n > shape[0]:
                raise _damaged(source, f"chunks of more than the {shape[0]} rows of its shape")
            with _decoding(source):
                rows = _decode_block(block, row_prediction(n), (n, *row_shape), dtype, bound, columns)
            yield start, rows
            start += n
        if start != shape[0]:
            raise _damaged(source, f"chunks of {start} rows where its shape says {shape[0]}")

    if header["kind"] == "array":
        with atomic_path(output) as tmp:
            with writing(output):  # only the writes: an OSError reading the .aez is not a full disk
                result = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
                _reserve(tmp)
            for start, rows in decoded_chunks():
                result[start:start + len(rows)] = rows
            with writing(output):
                result.flush()
            del result
        return np.load(output, mmap_mode="r")
    parts = [rows for _, rows in decoded_chunks()]
    values = np.concatenate(parts) if parts else np.zeros(shape, dtype)
    _write_table(output, values, names, dtypes, row_index=header.get("row_index") is True,
                 header_row=header.get("header_row") is not False)
    return values


def _dtypes_before_column_dtypes(header: dict[str, Any], names: list[str], bound: float | None) -> list[str]:
    """The column dtypes of a table compressed before .aez headers named them: its whole-number columns are int64
    where the bound makes rounding exact (below 0.5) or there is no bound to keep; the rest float64."""
    whole = set(header.get("integer_columns", []))
    exact = bound is None or bound < 0.5
    return ["int64" if name in whole and exact else "float64" for name in names]


def _reserve(path: Path) -> None:
    """Allocate the disk blocks of a memory-mapped file now: a full disk is then an OSError here, not a SIGBUS
    when a page of the map is written."""
    if not hasattr(os, "posix_fallocate"):
        return
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise
            # a file system without fallocate: the map is written as before


def _write_image(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    # WebP is lossy by default, and decompress writes what the bound promised
    options = {"lossless": True, "quality": 100, "method": 6} if path.suffix.lower() == ".webp" else {}
    with atomic_path(path) as tmp, writing(path):
        image.save(tmp, format=Image.registered_extensions()[path.suffix.lower()], **options)


def _write_table(path: Path, values: np.ndarray, columns: list[str], dtypes: Sequence[str], *,
                 row_index: bool = False, header_row: bool = True) -> None:
    """``values`` (rows, columns) float64, each column already rounded to what its pandas dtype holds, as a table
    of those dtypes; a text table without its names where the original had none (``header_row=False``)."""
    import pandas as pd

    frame = pd.DataFrame({name: pd.Series(values[:, j]).astype(dtype)
                          for j, (name, dtype) in enumerate(zip(columns, dtypes, strict=True))})
    with atomic_path(path) as tmp, writing(path):
        if path.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        else:
            # pandas writes each float's shortest exact form (0.64, not %.17g's 0.64000000000000001); the row
            # numbers 0..n-1 of a table that had them (DataFrame.to_csv's default index) as its unnamed first column;
            # no header row where the original had none
            frame.to_csv(tmp, index=row_index, header=header_row, sep="\t" if path.suffix.lower() == ".tsv" else ",")
