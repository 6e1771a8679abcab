"""Tables for anomaly detection that keep their timestamps (windowing itself is :mod:`aekit.data.windows`)."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd

from aekit.data import check_numeric_columns
from aekit.data.sources import read_table_file
from aekit.errors import DataError

__all__ = ["TIME_COLUMNS", "read_numeric_frame", "read_table"]

TIME_COLUMNS = ("timestamp", "time", "datetime", "date", "ds")


def read_table(path: str | os.PathLike[str], *, numeric_time: bool = True) -> pd.DataFrame:
    """A table file (:func:`aekit.data.sources.read_table_file`) with its time column (``timestamp``, ``time``,
    ``date``...) as its index: a DatetimeIndex for dates and, with ``numeric_time``, the numbers themselves for a
    numeric time (epoch seconds, seconds since the start), which says when a row was taken, not what it holds.

    Tables without a time column come back as read; the caller keeps row numbers as ids.
    """
    frame = read_table_file(path)
    for column in frame.columns:
        values = frame[column]
        if str(column).strip().lower() in TIME_COLUMNS and (numeric_time or not pd.api.types.is_numeric_dtype(values)):
            index = (pd.Index(values, name=str(column)) if pd.api.types.is_numeric_dtype(values)
                     else pd.DatetimeIndex(_parse_dates(values, column, path), name=str(column)))
            return frame.drop(columns=[column]).set_index(index)
    return frame


def _parse_dates(values: pd.Series, column: object, path: str | os.PathLike[str]) -> pd.Series:
    """Dates as pandas reads them; else as UTC (offsets that change, at a daylight-saving switch), else day first
    (13/01/2024); else one line naming the column."""
    error = None
    for options in ({}, {"utc": True}, {"dayfirst": True}):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # pandas' "could not infer format" / "dayfirst"
                return pd.to_datetime(values, **options)
        except (ValueError, TypeError) as exc:
            error = error or exc
    detail = str(error).split(". You might")[0].splitlines()[0]  # pandas adds ways out, over several lines
    raise DataError(f"Column {column!r} of {path} looks like a time column but does not parse as dates "
                    f"({detail}). Fix the values or rename the column.")


def read_numeric_frame(path: str | os.PathLike[str], *, keep_time: bool = True, purpose: str = "") -> pd.DataFrame:
    """:func:`read_table` as float64, refusing (one line each) a table without rows or value columns and
    non-numeric columns. ``keep_time=False``: a time column is refused too (the caller has no use for it);
    ``purpose`` ends the advice (" before compressing")."""
    frame = read_table(path, numeric_time=keep_time)  # compress keeps a numeric time as values
    if len(frame) == 0:
        raise DataError(f"The table {path} is empty (0 rows). Pass a table with at least one row.")
    time = [str(frame.index.name)] if not keep_time and isinstance(frame.index, pd.DatetimeIndex) else []
    hint = "" if not keep_time else f" (a time column must be named {', '.join(TIME_COLUMNS[:-1])} or ds)"
    check_numeric_columns(frame, str(path), also=time, advice=f"{purpose}{hint}")
    if frame.shape[1] == 0:
        raise DataError(f"The table {path} has no value columns, only its time column. Pass a table with at least "
                        "one numeric column.")
    return frame.astype(np.float64)
