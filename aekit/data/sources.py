"""Turn whatever the user points at (an array, a table, a file, a folder of images, a name) into a :class:`Dataset`.

Every source goes through the same two steps: a reader turns it into a ``pandas.DataFrame`` or a
:class:`Dataset`, then :func:`load_dataset` converts tables and checks the result with :func:`validate_finite`.
Adding a file format is one reader function and one entry in ``_READERS`` (``_TABLE_READERS`` for a table
format, which :func:`read_table_file` then reads too); nothing else changes.

``.npy`` files are memory-mapped and every check here reads them chunk by chunk, so a file larger than RAM
can be validated, scaled and trained on.
"""

from __future__ import annotations

import logging
import math
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, DTypeLike

from aekit.errors import AekitError, DataError, check_choice, check_int, did_you_mean, name_list, warn
from aekit.registry import Registry

__all__ = [
    "BUILTIN_DATASETS",
    "COLOR_MODES",
    "IMAGE_EXTENSIONS",
    "TABLE_SUFFIXES",
    "Dataset",
    "check_features",
    "check_numeric_columns",
    "load_dataset",
    "read_labels",
    "read_table_file",
    "validate_finite",
]

logger = logging.getLogger(__name__)

BUILTIN_DATASETS: Registry[Callable[[], "Dataset"]] = Registry("built-in dataset")

COLOR_MODES = {"grayscale": "L", "rgb": "RGB"}
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
# A chunk is at most this many bytes whatever ``chunk_size`` says: 65536 rows of 3x224x224 images would
# otherwise be a 39 GB "chunk" and defeat the point of streaming a memory-mapped file.
_MAX_CHUNK_BYTES = 256 * 2**20
_KIND_BY_NDIM = {2: "tabular", 3: "sequence", 4: "image"}


@dataclass
class Dataset:
    """Samples (and labels when known) plus what is needed to describe them in messages.

    Attributes
    ----------
    X : ndarray of shape (n_samples, *sample_shape)
        The samples, numeric. A read-only ``np.memmap`` for ``.npy`` files: use :meth:`batches` and
        :meth:`iter_chunks` rather than ``np.asarray(X)`` to keep it out of memory.
    y : ndarray of shape (n_samples,) or None
        Labels, if the source has them (a label column, a ``y`` array, class subfolders).
    kind : str
        ``"tabular"`` (n_samples, n_features), ``"sequence"`` (n_samples, channels, length), the layout the
        sequence backbones read (as :func:`aekit.data.windows.make_windows` cuts series), or
        ``"image"`` (n_samples, channels, height, width).
    feature_names : list of str or None
        Column names for tables.
    class_names : list of str or None
        Name of each label value ``0 .. n_classes - 1``, when labels are class indices.
    source : str
        Where the data came from, for messages: ``"file digits_bad.csv"``, ``"built-in dataset digits"``.
    """

    X: np.ndarray = field(repr=False)
    y: np.ndarray | None = field(default=None, repr=False)
    kind: str = "tabular"
    feature_names: list[str] | None = None
    class_names: list[str] | None = None
    source: str = "array"

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.X.shape[1:])

    @property
    def n_features(self) -> int:
        return math.prod(self.sample_shape)

    def batches(self, indices: ArrayLike, dtype: DTypeLike | None = np.float32) -> np.ndarray:
        """Rows ``X[indices]`` as a new array, in the order of ``indices``.

        Rows are read in sorted order (sequential disk access for memory-mapped files), then put back in
        the requested order.

        Parameters
        ----------
        indices : array-like of int, shape (batch_size,)
        dtype : dtype or None, default float32
            Type of the result; ``None`` keeps the stored type.

        Returns
        -------
        ndarray of shape (batch_size, *sample_shape)
        """
        indices = np.asarray(indices, dtype=np.intp).ravel()
        order = np.argsort(indices, kind="stable")
        out = np.empty((indices.size, *self.sample_shape), dtype=self.X.dtype if dtype is None else dtype)
        out[order] = self.X[indices[order]]
        return out

    def iter_chunks(
        self,
        chunk_size: int = 65536,
        *,
        indices: ArrayLike | None = None,
        dtype: DTypeLike | None = np.float32,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, rows)`` over all rows (or over ``indices``) without loading everything.

        Parameters
        ----------
        chunk_size : int, default 65536
            Largest number of rows per chunk; chunks are also kept under 256 MiB.
        indices : array-like of int or None
            Rows to visit instead of all rows; ``start`` is then a position in ``indices``.
        dtype : dtype or None, default float32
            Type of each chunk; ``None`` keeps the stored type (a read-only view for memmaps).

        Yields
        ------
        start : int
            Position of the chunk's first row.
        rows : ndarray of shape (rows_in_chunk, *sample_shape)
        """
        check_int(chunk_size, name="chunk_size", owner="Dataset.iter_chunks", low=1)
        itemsize = np.dtype(self.X.dtype if dtype is None else dtype).itemsize
        step = max(1, min(chunk_size, _MAX_CHUNK_BYTES // max(1, self.n_features * itemsize)))
        if indices is not None:
            indices = np.asarray(indices, dtype=np.intp).ravel()
        total = self.n_samples if indices is None else indices.size
        for start in range(0, total, step):
            stop = min(start + step, total)
            if indices is None:
                yield start, np.asarray(self.X[start:stop], dtype=dtype)
            else:
                yield start, self.batches(indices[start:stop], dtype=dtype)


def load_dataset(
    source: Any,
    *,
    image_size: tuple[int, int] | int | None = None,
    color_mode: str = "grayscale",
    columns: list[str] | None = None,
    label_column: str | None = None,
) -> Dataset:
    """Load samples from an array, a table, a file, a folder of images or a built-in dataset name.

    Parameters
    ----------
    source : array-like, DataFrame, Dataset, str or path
        An array of shape (n_samples, ...); a ``DataFrame`` of numeric columns; a path to a ``.npy``
        (memory-mapped), ``.npz``, ``.csv``, ``.tsv``, ``.txt`` or ``.parquet``/``.pq`` file or to a folder
        of images (class subfolders give labels); or the name of a built-in dataset (``"digits"``).
    image_size : int or (height, width) or None
        Resize images to this size (bilinear). ``None`` requires all images to have the same size.
    color_mode : {"grayscale", "rgb"}
        Channels of images read from a folder: 1 or 3.
    columns : list of str or None
        Table columns to use as features; default all columns except ``label_column``.
    label_column : str or None
        Table column to take out as labels ``y``; non-numeric labels become class indices.

    Returns
    -------
    Dataset
        Checked: at least one sample, numeric, no NaN or Inf.
    """
    check_choice(color_mode, COLOR_MODES, name="color_mode", owner="load_dataset")
    size = _check_image_size(image_size)
    if isinstance(source, (str, os.PathLike)):
        data, origin = _load_path(source, size, color_mode), _describe(source)
    else:
        data, origin = source, f"in-memory {type(source).__name__}"
    origin = data.source if isinstance(data, Dataset) else origin
    if isinstance(data, pd.DataFrame):
        dataset = _from_frame(data, columns, label_column, origin)
    elif columns is not None or label_column is not None:
        raise DataError(
            f"The options columns={columns!r} and label_column={label_column!r} apply only to tables, "
            f"but {origin} is not a table. Remove them, or pass a CSV, TSV, Parquet file or a DataFrame."
        )
    elif isinstance(data, Dataset):
        dataset = data
    else:
        dataset = _from_array(np.asarray(data), None, origin)
    validate_finite(dataset)
    logger.info(
        "Loaded %d %s samples of shape %s from %s.",
        dataset.n_samples, dataset.kind, dataset.sample_shape, dataset.source,
    )
    return dataset


def validate_finite(dataset: Dataset) -> Dataset:
    """Check that ``dataset.X`` has samples, a numeric dtype and no NaN/Inf; return it unchanged.

    The scan reads memory-mapped data chunk by chunk. Labels are not checked.

    Raises
    ------
    DataError
        With the number of bad values and the (0-based) row of the first one.
    """
    X, source = dataset.X, dataset.source
    if dataset.n_samples == 0:
        raise _empty_error(source)
    if X.dtype.kind not in "biuf":
        raise DataError(
            f"The data from {source} has dtype {X.dtype}, which is not numeric. "
            "Convert it to numbers (bool, int or float) first."
        )
    if X.dtype.kind != "f":  # bool and int values are always finite
        return dataset
    n_bad, first_row = 0, None
    for start, chunk in dataset.iter_chunks(dtype=None):
        bad_rows = ~np.isfinite(chunk).reshape(len(chunk), -1).all(axis=1)
        if bad_rows.any():
            n_bad += int((~np.isfinite(chunk)).sum())
            first_row = start + int(np.argmax(bad_rows)) if first_row is None else first_row
    if n_bad:
        raise DataError(
            f"The data has {n_bad} NaN/Inf value(s), first in row {first_row} (counting from 0; {source}). "
            "Remove or impute them first."
        )
    return dataset


def check_features(
    data: Dataset | ArrayLike, expected_shape: tuple[int, ...], source: str | None = None
) -> np.ndarray:
    """Check that samples are laid out as a model expects; return them shaped as it expects.

    Accepted: samples of the model's shape, flat rows of as many values, the shape with size-1 axes added or
    left out (28 x 28 images for a (1, 28, 28) model), and any layout for a model of flat rows. For a shaped
    model the same number of values in another layout, e.g. (16, 2) for (2, 16), is refused: reshaping would
    silently mix the values up.

    Parameters
    ----------
    data : Dataset or array-like of shape (n_samples, ...)
    expected_shape : tuple of int
        The model's sample shape, e.g. ``(64,)`` or ``(1, 8, 8)``.
    source : str or None
        Where the data came from, for the message; default ``data.source`` (or ``"array"``).

    Returns
    -------
    ndarray of shape (n_samples, *expected_shape)
        A view when possible (memmaps stay memory-mapped).
    """
    if isinstance(data, Dataset):
        X, source = data.X, source or data.source
    else:
        X = data if isinstance(data, np.ndarray) else np.asarray(data)
    source = source or "array"
    expected, got = math.prod(expected_shape), math.prod(X.shape[1:])
    if X.ndim == 0 or got != expected:
        raise DataError(
            f"This model expects {expected} features per sample; the data has {got if X.ndim else 0} ({source}). "
            "Use data with the same columns as the training data."
        )
    shape, wanted = tuple(X.shape[1:]), tuple(expected_shape)
    if len(wanted) > 1 and shape not in (wanted, (expected,)) and _without_ones(shape) != _without_ones(wanted):
        raise DataError(f"This model expects samples of shape {wanted} (or rows of {expected} values); the data's "
                        f"samples have shape {shape} ({source}). Pass them in the layout the model was trained on.")
    return X.reshape((X.shape[0], *expected_shape))


def _without_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(size for size in shape if size != 1)


def check_column_names(names: list[str] | None, expected: list[str] | None, source: str) -> None:
    """Raise a one-line :class:`DataError` when a table's column names are not the ones a model was fitted on,
    in the same order (a model reads columns by position, so reordered columns would be scored silently
    wrong). Nothing to compare when either side has no names (arrays)."""
    if names is None or expected is None:
        return
    names, expected = [str(n) for n in names], [str(n) for n in expected]
    if names == expected:
        return
    if source.startswith("file ") and names == [f"x{j}" for j in range(len(expected))]:
        # the names _read_delimited gives a table whose first row is numbers: np.savetxt writes no header
        raise DataError(f"The data ({source}) has no header row (its first row holds numbers), and the model reads "
                        f"a table's columns by name. Add a first row of the model's column names: "
                        f"{name_list(expected)}.")
    missing = [n for n in expected if n not in names]
    unseen = [n for n in names if n not in expected]
    if not missing and not unseen:
        problem = f"has the model's columns in another order ({name_list(names)})"
    else:
        counts = f"has {len(names)} columns, the model {len(expected)}: it " if len(names) != len(expected) else ""
        problem = counts + "; ".join(part for part in (
            f"lacks {name_list(missing)}" if missing else "",
            f"has columns the model never saw ({name_list(unseen)})" if unseen else "") if part)
    ids = [n for n in missing if n.strip().lower() == "id"]
    hint = (f" A column named {ids[0]!r} is read as the rows' ids, not as a feature: rename it in the file for a "
            "model that was fitted on it as one." if ids else "")
    raise DataError(f"The data ({source}) {problem}. Pass a table with the model's columns in its order: "
                    f"{name_list(expected)}.{hint}")


# ----------------------------------------------------------------------------------------------- readers


def _read_npy(path: Path) -> Dataset:
    return _from_array(np.load(path, mmap_mode="r", allow_pickle=False), None, _describe(path))


def _read_npz(path: Path) -> Dataset:
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.files)
        key = next((k for k in ("X", "x", "data") if k in keys), None)
        candidates = [k for k in keys if k != "y"]
        if key is None and len(candidates) == 1:
            key = candidates[0]
        if key is None:
            raise DataError(
                f"Cannot tell which array of {_describe(path)} holds the samples: it has {', '.join(keys) or 'none'}. "
                "Save the samples under the key 'X' (and labels under 'y')."
            )
        y = archive["y"] if "y" in keys else None
        return _from_array(archive[key], y, _describe(path))


_DECIMAL_COMMA = r"\s*[-+]?(?:\d+|\d*,\d+)(?:[eE][-+]?\d+)?\s*"
_THREE_AFTER_COMMA = r"[-+]?\d*,\d{3}(?:[eE][-+]?\d+)?"  # 1,234: a thousand, or one and a bit? (not guessed)


def _decimal_commas(frame: pd.DataFrame) -> pd.DataFrame:
    """In a ``;``-separated table, text columns whose every value is a number written with a decimal comma
    (``3,14``: Excel in many locales) as numbers. Thousands separators are not guessed: a column with ``1.234,5``,
    or whose every comma has three digits after it (``1,234``: a thousand, or one and a bit?), stays text and is
    refused by name."""
    for column in frame.columns:
        if _comma_numbers(frame[column]) == "decimal":
            frame[column] = pd.to_numeric(frame[column].astype(str).str.replace(",", ".", regex=False))
    return frame


def _comma_numbers(column: pd.Series) -> str | None:
    """How a text column of numbers with commas reads: "decimal" (``3,14``), "ambiguous" (every comma has three
    digits after it: ``1,234``, a thousand or one and a bit?), or None (numbers already, or not such a column)."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return None
    values = column.dropna().astype(str).str.strip()
    with_comma = values[values.str.contains(",")]
    if not len(with_comma) or not values.str.fullmatch(_DECIMAL_COMMA).all():
        return None
    return "ambiguous" if with_comma.str.fullmatch(_THREE_AFTER_COMMA).all() else "decimal"


def _id_column_as_index(frame: pd.DataFrame) -> pd.DataFrame:
    """A column named ``id`` (any case) that holds one distinct value per row names the rows: it becomes the
    index, as an unnamed first column does, when the table has no other ids. An id is not a feature: as one, new
    ids (higher numbers) would look unusual."""
    if frame.shape[1] < 2 or not frame.index.equals(pd.RangeIndex(len(frame))):
        return frame
    ids = [c for c in frame.columns if str(c).strip().lower() == "id"]
    if len(ids) == 1 and frame[ids[0]].notna().all() and frame[ids[0]].is_unique:
        return frame.set_index(ids[0])
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return _id_column_as_index(pd.read_parquet(path))
    except ImportError:
        raise DataError(
            f"Reading {_describe(path)} needs pyarrow, which is not installed. Run: pip install 'aekit[parquet]'."
        ) from None


def image_files(folder: Path) -> list[Path]:
    """The images in ``folder`` and its subfolders (class folders), sorted; hidden files and folders
    (.DS_Store, ._x.png, .ipynb_checkpoints/) are skipped."""
    return sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _read_image_folder(folder: Path, size: tuple[int, int] | None, color_mode: str) -> Dataset:
    files = image_files(folder)
    if not files:
        raise DataError(
            f"The directory '{folder}' has no images ({', '.join(IMAGE_EXTENSIONS)}). "
            "Check the path, or pass a data file instead."
        )
    parts = [p.relative_to(folder).parts for p in files]
    if all(len(part) > 1 for part in parts):
        class_names = sorted({part[0] for part in parts})
        index = {name: i for i, name in enumerate(class_names)}
        y = np.array([index[part[0]] for part in parts], dtype=np.int64)
    else:
        if any(len(part) > 1 for part in parts):
            logger.warning("%s has images both at its top level and in subfolders; not using folders as labels.",
                           folder)
        class_names, y = None, None
    first = _read_image(files[0], size, color_mode)
    X = np.empty((len(files), first.shape[2], *first.shape[:2]), dtype=np.float32)  # (n, C, H, W)
    for i, path in enumerate(files):
        pixels = first if i == 0 else _read_image(path, size, color_mode)  # (H, W, C)
        if pixels.shape != first.shape:
            raise DataError(
                f"Image '{path}' is {pixels.shape[0]}x{pixels.shape[1]} pixels but '{files[0]}' is "
                f"{first.shape[0]}x{first.shape[1]}. "
                "Resize them all to one size: image_size=(height, width), or image_size=N for N x N."
            )
        X[i] = pixels.transpose(2, 0, 1) / np.float32(255)
    return Dataset(X, y, kind="image", class_names=class_names, source=f"image folder {folder}")


# Pillow's modes of one channel deeper than 8 bits -> the divisor to 0..255: 16-bit PNGs and TIFFs open as I;16*,
# or as I (32-bit) in some Pillow versions, still holding 0..65535
DEEP_IMAGE_MODES = {"I;16": 257.0, "I;16B": 257.0, "I;16L": 257.0, "I;16N": 257.0, "I": 257.0}


def _read_image(path: Path, size: tuple[int, int] | None, color_mode: str) -> np.ndarray:
    """Pixels of one image as a uint8 array of shape (height, width, channels), upright: turned as its EXIF
    orientation says (phones store photos sideways with a tag), as image viewers show it."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            if image.mode == "F":  # Pillow's convert would truncate to 0..255: values in [0, 1] all become 0
                raise DataError(f"The image file '{path}' stores floating-point pixels (Pillow mode F), whose range "
                                "is not known. Save it as an 8- or 16-bit image, or read it into an array and pass "
                                "a .npy file.")
            if image.mode in DEEP_IMAGE_MODES:  # 16 bits a pixel: Pillow's convert would clip at 255, not scale
                deep = np.asarray(image, dtype=np.float64) / DEEP_IMAGE_MODES[image.mode]
                image = Image.fromarray(np.rint(deep.clip(0, 255)).astype(np.uint8), "L")
            image = image.convert(COLOR_MODES[color_mode])
            if size is not None:
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)  # Pillow wants (W, H)
            return np.atleast_3d(np.asarray(image, dtype=np.uint8))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(
            f"Cannot read image file '{path}' ({exc}). Remove it or replace it with a valid image."
        ) from None


def _read_delimited(path: Path, sep: str | None) -> pd.DataFrame:
    """A CSV/TSV/TXT table (``sep=None``: commas, tabs or spaces, sniffed). A first row of numbers only is data,
    not column names: ``np.savetxt`` and many loggers write no header, and reading its first row as names would
    drop a sample. Such a table's columns are named x0, x1, ... as arrays' features are; an empty cell in it, after
    the first, is a missing value. The exception is the header 0, 1, ..., n-1 (after an unnamed index column, or
    n >= 3 in a file not split by runs of spaces) that pandas writes for a frame without column names, which
    stays a header. A first
    column without a name is the row index that ``DataFrame.to_csv`` writes by default: it becomes the frame's
    index, not a feature (a row number as a feature would make late rows look unusual). A ``.csv`` whose first
    line has no comma but a semicolon, tab or bar (Excel writes ``;`` in many locales) is sniffed like a ``.txt``."""
    sniff = _text_table_options(path)
    options: dict[str, Any] = {"sep": sep} if sep is not None else sniff
    first_line = partial(pd.read_csv, path, header=None, nrows=1, dtype=str, keep_default_na=False)
    first = first_line(**options)
    if sep == "," and first.shape[1] == 1 and any(d in str(first.iloc[0, 0]) for d in ";\t|"):
        options = sniff
        first = first_line(**options)
    cells = first.iloc[0].str.strip() if len(first) else pd.Series(dtype=str)
    if options.get("sep") == r"\s+" and _header_is_short(path, len(cells), options.get("comment")):
        # split by spaces, the empty name of to_csv's index column leaves no cell: the header row is shorter
        cells = pd.concat([pd.Series([""]), cells], ignore_index=True)
    # an empty first cell is the name of to_csv's index column (the names after it may be numbers: wavelengths);
    # an empty cell after the first, among numbers, is a missing value
    indexed = len(cells) > 1 and cells.iloc[0] == ""
    named = cells.iloc[1:] if indexed else cells
    numbers = len(named) > 0 and bool(pd.to_numeric(named[named != ""], errors="coerce").notna().all())
    # pandas' names for unnamed columns, with any one-character separator it writes; as data, a row 0, 1 (a binary
    # table) is too common to read as names, and runs of spaces are np.savetxt's, not pandas'
    pandas_names = (named.tolist() == [str(j) for j in range(len(named))]
                    and (indexed or len(named) >= 3 and options.get("sep") != r"\s+"))
    if len(first) == 0 or not numbers or indexed or pandas_names:
        index = 0 if indexed else None
        names = [c for c in cells if c != ""]
        repeated = sorted({c for c in names if names.count(c) > 1})
        if repeated:  # pandas would rename the second 'a' to 'a.1', and a model's columns would not be the file's
            hint = text_hint(str(path))  # words read as names: 'to be or not to be' names 'to' twice
            raise DataError(f"{_describe(path)} has more than one column named {name_list(repeated)}. Give every "
                            "column its own name." + (f" {hint}." if hint else ""))
        frame = pd.read_csv(path, index_col=index, **options).rename_axis(None)
        with path.open(encoding="utf-8", errors="replace") as f:
            semicolons = ";" in f.readline() and options.get("sep") != ","
        return _id_column_as_index(_decimal_commas(frame) if semicolons else frame)
    warn(logger, f"The first row of {_describe(path)} holds only numbers, so it is read as data, not as column "
         "names; its columns are named x0, x1, ... Add a header row of names to name them.", stacklevel=4)
    frame = pd.read_csv(path, header=None, **options)
    return frame.set_axis([f"x{j}" for j in range(frame.shape[1])], axis=1)


def _header_is_short(path: Path, n_cells: int, comment: str | None) -> bool:
    """Whether the second data line of a space-split table has one field more than the first's ``n_cells``."""
    with path.open(encoding="utf-8", errors="replace") as f:
        lines = (line for line in f if line.strip() and not (comment and line.startswith(comment)))
        next(lines, None)
        second = next(lines, None)
    return second is not None and len(second.split()) == n_cells + 1


def _text_table_options(path: Path) -> dict[str, Any]:
    """How to split a text table whose delimiter is not known: by the first of ``,`` tab ``;`` ``|`` in its
    first line, else by runs of spaces (``np.savetxt``'s default, aligned columns, leading spaces included).
    Lines starting with ``#`` are comments when the file's first line is one (``np.savetxt(header=...)``)."""
    with path.open(encoding="utf-8", errors="replace") as f:
        line = f.readline()
        comment = line.startswith("#")
        while line and (line.startswith("#") and comment or not line.strip()):
            line = f.readline()
    sep = next((d for d in (",", "\t", ";", "|") if d in line), r"\s+")
    return {"sep": sep, "comment": "#" if comment else None, "skipinitialspace": True}


_TABLE_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": partial(_read_delimited, sep=","),
    ".tsv": partial(_read_delimited, sep="\t"),
    ".txt": partial(_read_delimited, sep=None),
    ".parquet": _read_parquet,
    ".pq": _read_parquet,
}
TABLE_SUFFIXES = tuple(_TABLE_READERS)  # what every command that reads a table file accepts
_READERS: dict[str, Callable[[Path], pd.DataFrame | Dataset]] = {".npy": _read_npy, ".npz": _read_npz, **_TABLE_READERS}


# ----------------------------------------------------------------------------------------------- built-ins


def _sklearn_dataset(loader_name: str, name: str, kind: str) -> Dataset:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader_name)()
    X = bunch.images[:, None] if kind == "image" else bunch.data  # digits: (n, 1, 8, 8) raw values 0..16
    return Dataset(
        X=np.ascontiguousarray(X, dtype=np.float32),
        y=np.asarray(bunch.target),
        kind=kind,
        feature_names=None if kind == "image" else [str(f) for f in bunch.feature_names],
        class_names=[str(c) for c in bunch.target_names],
        source=f"built-in dataset {name}",
    )


for _name, _loader, _kind in [
    ("digits", "load_digits", "image"),
    ("iris", "load_iris", "tabular"),
    ("breast_cancer", "load_breast_cancer", "tabular"),
]:
    BUILTIN_DATASETS.register(_name)(partial(_sklearn_dataset, _loader, _name, _kind))


# ----------------------------------------------------------------------------------------------- helpers


def _describe(path: str | os.PathLike) -> str:
    return f"file {os.fspath(path)}"


def _empty_error(source: str) -> DataError:
    return DataError(f"The data from {source} is empty (0 samples). Pass data with at least one sample.")


# Images are resized whole into memory as float32: one 4096 x 4096 RGB image is 200 MB, and a side of 100000 (a
# typo) would ask for 120 GB and get the process killed, not an error
_MAX_IMAGE_SIDE = 4096


def parse_image_size(text: str | int) -> int | tuple[int, int]:
    """The command line's ``--image-size``: ``"64"`` -> 64 (64 x 64), ``"64,48"`` -> (64, 48) (height, width).
    The sides' range is checked where the images are read."""
    if isinstance(text, int):
        return text
    try:
        sides = [int(part) for part in str(text).split(",")]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2):
        raise ValueError(f"{text!r} is neither a side N nor a height,width pair. Pass e.g. 64 or 64,48.")
    return sides[0] if len(sides) == 1 else (sides[0], sides[1])


def _check_image_size(image_size: tuple[int, int] | int | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    pair = (image_size, image_size) if isinstance(image_size, Integral) else image_size
    if not (
        isinstance(pair, Sequence)
        and len(pair) == 2
        and all(isinstance(s, Integral) and not isinstance(s, bool) and 1 <= s <= _MAX_IMAGE_SIDE for s in pair)
    ):
        raise AekitError(
            f"The 'image_size' parameter of load_dataset must be an int in [1, {_MAX_IMAGE_SIDE}] or a (height, "
            f"width) pair of them. Got {image_size!r} instead."
        )
    return int(pair[0]), int(pair[1])


def _load_path(source: str | os.PathLike, size: tuple[int, int] | None, color_mode: str) -> pd.DataFrame | Dataset:
    path = Path(source).expanduser()
    if not path.exists():
        if str(source) in BUILTIN_DATASETS:
            return BUILTIN_DATASETS.get(str(source))()
        raise DataError(
            f"No such file or directory: '{source}'. Check the path, or use a built-in dataset: "
            f"{', '.join(BUILTIN_DATASETS.names())}.{did_you_mean(str(source), BUILTIN_DATASETS.names())}"
        )
    if path.is_dir():
        return _read_image_folder(path, size, color_mode)
    return _read_file(path, source, _READERS, " or a directory of images")


def read_table_file(source: str | os.PathLike) -> pd.DataFrame:
    """A CSV, TSV, TXT (delimiter sniffed) or Parquet file as read, every failure one :class:`DataError` line.

    The table readers of :func:`load_dataset`, for callers that need the frame itself (its time column, say).
    """
    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError(f"No such file: '{source}'. Check the path.")
    return _read_file(path, source, _TABLE_READERS, "")


def read_labels(source: str | os.PathLike, n_samples: int) -> np.ndarray:
    """One label per sample from a file of its own, row ``i`` labelling sample ``i``: a 1-D ``.npy`` array, a
    Parquet table of one column, or a text file of a label per line, words or numbers (``.txt``: each line whole;
    ``.csv``/``.tsv``: one column, quoted as pandas writes it, ``Series.to_csv``'s unnamed index column dropped).
    A text file may start with a header line, told apart from a label: with ``n_samples + 1`` lines, a first line
    that is a word above numbers, or a word no other line holds (a number never is one). Every failure is one
    :class:`DataError` line."""
    path = Path(source).expanduser()
    if path.suffix.lower() not in _LABEL_SUFFIXES:
        raise DataError(f"Unsupported file type '{path.suffix}' for labels '{source}'. Use "
                        f"{', '.join(_LABEL_SUFFIXES)}.")
    if not path.is_file():
        raise DataError(f"No such file: '{source}'. Check the path.")
    read = partial(_labels_of, source=source, n_samples=n_samples)
    labels = _read_file(path, source, dict.fromkeys(_LABEL_SUFFIXES, read), "")  # its checks and messages
    if labels.ndim != 1:
        raise DataError(f"{_describe(source)} holds an array of shape {labels.shape}; a labels file holds one "
                        "column, a label per sample. Keep only the labels.")
    if len(labels) != n_samples:
        raise DataError(f"{_describe(source)} has {len(labels)} labels, but the data has {n_samples} samples. Give "
                        "one label per sample, in the data's order.")
    missing = np.flatnonzero(pd.isna(pd.Series(labels)).to_numpy() | (pd.Series(labels).astype(str) == ""))
    if len(missing):
        raise DataError(f"{_describe(source)} has no label for sample {int(missing[0])}. Give every sample a "
                        "label, or drop the samples without one.")
    return labels


_LABEL_SUFFIXES = (".npy", *TABLE_SUFFIXES)


def _labels_of(path: Path, *, source: str | os.PathLike, n_samples: int) -> np.ndarray:
    """A labels file as read, by its suffix (the reader :func:`read_labels` hands to :func:`_read_file`)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            labels = np.load(path, allow_pickle=False)
        except ValueError as exc:
            if "allow_pickle" not in str(exc):
                raise
            # strings saved from pandas are an object array: the advice differs from that for samples
            raise DataError(f"{_describe(source)} holds Python objects (an array of dtype object), which aekit never "
                            "unpickles: unpickling can run code. Save string labels as text: np.save(path, "
                            "y.astype(str)), or a .txt file with a label per line.") from None
        return labels[:, 0] if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if suffix in (".parquet", ".pq"):
        return _one_column(_read_parquet(path), source).to_numpy()
    return _text_labels(path, source, n_samples)


def _text_labels(path: Path, source: str | os.PathLike, n_samples: int) -> np.ndarray:
    """The labels of a text file (see :func:`read_labels`): strings, or numbers when every label is one. Blank
    lines at the end are ignored; one elsewhere is a sample without a label, refused, as it would shift the rest."""
    if path.suffix.lower() == ".txt":
        cells = pd.Series(path.read_text(encoding="utf-8").splitlines(), dtype=object)
    else:
        frame = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, skip_blank_lines=False,
                            sep="\t" if path.suffix.lower() == ".tsv" else ",")
        if frame.shape[1] == 2 and str(frame.iloc[0, 0]).strip() == "":  # Series.to_csv: ",name" then "0,a"
            frame = frame.iloc[:, 1:]
        cells = _one_column(frame, source)
    cells = cells.astype(str).str.strip()
    filled = np.flatnonzero(cells.to_numpy() != "")
    cells = cells.iloc[: filled[-1] + 1 if len(filled) else 0].reset_index(drop=True)  # trailing blank lines
    numeric = pd.to_numeric(cells, errors="coerce").notna()
    if len(cells) == n_samples + 1 and len(cells) > 1 and not numeric[0] and (
            numeric[1:].all() or cells[0] not in set(cells[1:])):
        cells, numeric = cells[1:].reset_index(drop=True), numeric[1:].reset_index(drop=True)  # a header line
    blank = np.flatnonzero(cells.to_numpy() == "")
    if len(blank):
        raise DataError(f"{_describe(source)} has no label for sample {int(blank[0])} (a blank line). Give every "
                        "sample a label, or drop the samples without one.")
    return pd.to_numeric(cells).to_numpy() if len(cells) and numeric.all() else cells.to_numpy(dtype=object)


def _one_column(frame: pd.DataFrame, source: str | os.PathLike) -> pd.Series:
    """A labels table's one column; a wider table is refused in one line (a DataError, not a ValueError)."""
    if frame.shape[1] != 1:
        raise DataError(f"{_describe(source)} has {frame.shape[1]} columns; a labels file holds one column, a label "
                        "per sample. Keep only the labels.")
    return frame.iloc[:, 0]


def _read_file(path: Path, source: str | os.PathLike, readers: dict[str, Callable[[Path], Any]],
               alternative: str) -> Any:
    """One file by the reader of its suffix; ``alternative`` ends the list of suffixes in the refusal."""
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"Unsupported file type '{path.suffix}' for '{source}'. "
            f"Use one of {', '.join(sorted(readers))}{alternative}."
        )
    if path.stat().st_size == 0:
        raise _empty_error(_describe(source))
    refusal = _numpy_refusal(path, source)
    if refusal is not None:
        raise refusal
    try:
        return reader(path)
    except AekitError:
        raise
    except UnicodeDecodeError as exc:
        raise DataError(f"Cannot read {_describe(source)}: it is not UTF-8 text ({exc.reason} at byte {exc.start}). "
                        "Save it as UTF-8 (Excel: 'CSV UTF-8').") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # pandas/pyarrow parse errors are ValueErrors
        refusal = _numpy_refusal(path, source, exc)
        if refusal is not None:
            raise refusal from None
        detail = " ".join(str(exc).split())  # pandas' tokenizer errors end with a newline: keep one line
        hint = text_hint(str(path))
        raise DataError(f"Cannot read {_describe(source)} ({detail}). Check that it is a valid {path.suffix} file."
                        + (f" {hint}." if hint else "")) from None


def text_hint(source: str) -> str:
    """For a .txt that does not read as numbers, the advice to train a text model on it (else nothing). It names
    the command: the file may have been given to another one (evaluate, cluster, detect), which reads numbers."""
    if not source.lower().endswith(".txt"):
        return ""
    path = source.removeprefix("file ")  # a description ("file lines.txt") or the path itself
    return (f"If it is text (a sample per line), train a text model on it: aekit train "
            f"{path if path.split() == [path] else 'FILE'} --model recurrent")


_NUMPY_HEADERS = {".npy": b"\x93NUMPY", ".npz": b"PK"}  # np.save's magic string; np.savez writes a zip archive


def _numpy_refusal(path: Path, source: str | os.PathLike, exc: Exception | None = None) -> DataError | None:
    """One line for a .npy / .npz file that NumPy would read only by unpickling, which aekit never does (a pickle
    can run any code): a file that is not NumPy's at all (NumPy tries those as pickles and says to load them
    "unsafely"), or, given the error ``exc`` that reading raised, one that holds Python objects. None otherwise."""
    suffix = path.suffix.lower()
    if suffix not in _NUMPY_HEADERS:
        return None
    if exc is None:
        with path.open("rb") as f:
            head = f.read(len(_NUMPY_HEADERS[suffix]))
        if head == _NUMPY_HEADERS[suffix]:
            return None
        how = "numpy.save" if suffix == ".npy" else "numpy.savez"
        return DataError(f"{_describe(source)} is not a NumPy {suffix} file (it lacks the header that {how} writes). "
                         f"Save the array with {how}, or give the file the suffix of its format (.csv, .txt).")
    if "allow_pickle" in str(exc) or "Python objects" in str(exc):
        return DataError(f"{_describe(source)} holds Python objects (an array of dtype object), which aekit never "
                         "unpickles: unpickling can run code. Save the data as numbers, e.g. X.astype(np.float32).")
    return None


def _from_array(X: np.ndarray, y: np.ndarray | None, source: str) -> Dataset:
    if X.ndim == 1:
        X = X.reshape(-1, 1)  # a view, so memmaps stay memmaps
    if X.ndim not in _KIND_BY_NDIM:
        raise DataError(
            f"The data from {source} has shape {X.shape}, but arrays must have 1 to 4 dimensions. "
            "Reshape it to (n_samples, n_features), (n_samples, channels, length) or (n_samples, C, H, W)."
        )
    return Dataset(X, y, kind=_KIND_BY_NDIM[X.ndim], source=source)


def _holds_numbers(column: pd.Series) -> bool:
    """A numeric or bool column, or text / categories that are all numbers ("1.5"), as NumPy would convert."""
    if pd.api.types.is_numeric_dtype(column.dtype):
        return True
    if pd.api.types.is_datetime64_any_dtype(column.dtype) or pd.api.types.is_timedelta64_dtype(column.dtype):
        return False
    values = column.astype(object) if isinstance(column.dtype, pd.CategoricalDtype) else column
    return bool(pd.to_numeric(values, errors="coerce").notna().sum() == column.notna().sum())


def check_numeric_columns(frame: pd.DataFrame, where: str, *, also: Sequence[str] = (), advice: str = "") -> None:
    """Refuse, in one line naming them, the columns of ``frame`` that are not numbers (bool ones are), plus the
    names in ``also`` (a caller's own refusals, a time column say). ``where`` names the data ("X", "file t.csv");
    ``advice`` ends the sentence (" before training"). Repeated column names are refused first: a model's
    columns are matched by name."""
    repeated = frame.columns[frame.columns.duplicated()].unique()
    if len(repeated):
        raise DataError(f"{where} has more than one column named {name_list([str(c) for c in repeated])}. Give "
                        "every column its own name.")
    bad = [*also, *(str(c) for c in frame.columns if not _holds_numbers(frame[c]))]
    if bad:
        ambiguous = [str(c) for c in frame.columns if str(c) in bad and _comma_numbers(frame[c]) == "ambiguous"]
        if ambiguous:  # 0,126: a decimal comma with three decimals, or 126 thousandths written as 126 with a separator?
            raise DataError(f"Column(s) {name_list(ambiguous)} of {where} hold numbers whose every comma has three "
                            "digits after it (such as 0,126 or 1,234), which read as decimals or as thousands: aekit "
                            "does not guess. Write them with a decimal point (0.126), or without the thousands "
                            f"separator{advice}.")
        raise DataError(f"Column(s) {name_list(bad)} of {where} are not numeric. Drop them or encode them as numbers "
                        f"(categories: pandas.get_dummies){advice}.")


def _from_frame(frame: pd.DataFrame, columns: list[str] | None, label_column: str | None, source: str) -> Dataset:
    if frame.empty:  # before the dtype check: columns of a header-only CSV are read as text
        raise _empty_error(source)
    for name in [*(columns or []), *([label_column] if label_column is not None else [])]:
        if name not in frame.columns:
            available = [str(c) for c in frame.columns]
            raise DataError(
                f"Column {name!r} is not in the table ({source}). "
                f"Use one of: {', '.join(available)}.{did_you_mean(str(name), available)}"
            )
    features = [c for c in (columns or frame.columns) if c != label_column]
    hint = text_hint(source)  # no "before training": evaluate, encode and report read tables here too
    check_numeric_columns(frame[features], source, advice=f". {hint}" if hint else "")
    y, class_names = None, None
    if label_column is not None:
        labels = frame[label_column]
        if pd.api.types.is_numeric_dtype(labels):
            y = labels.to_numpy()
        else:
            y, uniques = pd.factorize(labels, sort=True)
            class_names = [str(u) for u in uniques]
    X = frame[features].to_numpy(dtype=np.float32, na_value=np.nan)
    names = [str(c) for c in features]
    return Dataset(X, y, kind="tabular", feature_names=names, class_names=class_names, source=source)
