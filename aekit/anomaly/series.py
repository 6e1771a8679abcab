"""Tables for anomaly detection that keep their timestamps (windowing itself is :mod:`aekit.data.windows`)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from aekit.errors import DataError

__all__ = ["TIME_COLUMNS", "read_table"]

TIME_COLUMNS = ("timestamp", "time", "datetime", "date", "ds")


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A CSV/TSV/Parquet table with its time column (``timestamp``, ``time``, ``date``...) as a DatetimeIndex.

    Tables without a time column come back as read; the caller keeps row numbers as ids.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"No such file: '{path}'. Check the path.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except (OSError, ValueError, ImportError) as exc:
        raise DataError(f"Cannot read file {path} ({exc}). Check that it is a valid {suffix} table.") from None
    for column in frame.columns:
        if str(column).strip().lower() in TIME_COLUMNS and not pd.api.types.is_numeric_dtype(frame[column]):
            try:
                index = pd.DatetimeIndex(pd.to_datetime(frame[column]), name=str(column))
            except (ValueError, TypeError) as exc:
                raise DataError(f"Column {column!r} of {path} looks like a time column but does not parse as "
                                f"dates ({exc}). Fix the values or rename the column.") from None
            return frame.drop(columns=[column]).set_index(index)
    return frame
