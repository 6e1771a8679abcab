"""Tables for anomaly detection that keep their timestamps (windowing itself is :mod:`aekit.data.windows`)."""

from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import pandas as pd

from aekit.data import check_numeric_columns
from aekit.data.sources import read_table_file, text_hint
from aekit.errors import DataError, warn

__all__ = ["TIME_COLUMNS", "read_numeric_frame", "read_table"]

logger = logging.getLogger(__name__)

TIME_COLUMNS = ("timestamp", "time", "datetime", "date", "ds")


def read_table(path: str | os.PathLike[str], *, numeric_time: bool = False) -> pd.DataFrame:
    """A table file (:func:`aekit.data.sources.read_table_file`) with its time column (``timestamp``, ``time``,
    ``date``...) as its index: a DatetimeIndex for dates and, with ``numeric_time`` (series), the numbers
    themselves for a numeric time (epoch seconds), which says when a step was taken, not what it holds. In a
    table of rows a numeric 'time' may be a feature (time spent), so it stays one.

    Tables without a time column come back as read; the caller keeps row numbers as ids. With ``numeric_time``
    (a series), a time that repeats is said in one warning: each row is scored, in the order given.
    """
    frame = read_table_file(path)
    for column in frame.columns:
        values = frame[column]
        numeric = pd.api.types.is_numeric_dtype(values)
        if str(column).strip().lower() in TIME_COLUMNS and (numeric_time or not numeric):
            index = (pd.Index(values, name=str(column)) if numeric
                     else pd.DatetimeIndex(_parse_dates(values, column, path), name=str(column)))
            if frame.index.name is not None:  # an id column: the time names the rows now
                warn(logger, f"{path} has an id column ({frame.index.name!r}) and a time column ({column!r}); its "
                     "rows are named by their time, and the ids are not kept.", stacklevel=3)
            if numeric_time:
                _warn_repeated_times(index, path)
            return frame.drop(columns=[column]).set_index(index)
    return frame


def _warn_repeated_times(index: pd.Index, path: str | os.PathLike[str]) -> None:
    """One warning when a series' time repeats (a row recorded twice, a clock that stood still), as for a clock
    that goes back (:meth:`AnomalyDetector._validate <aekit.anomaly.AnomalyDetector>`): the rows are windowed as
    given, each scored, and the user hears which time repeats first and how many rows repeat one."""
    repeats = index.duplicated() & ~pd.isna(index)  # NaT is no time, repeated or not
    if not repeats.any():
        return
    step = int(np.flatnonzero(repeats)[0])
    first = int(np.flatnonzero(index == index[step])[0])
    warn(logger, f"The series' timestamps repeat at step {step} ({index[step]}, as at step {first}; "
         f"{int(repeats.sum())} step(s) in all repeat an earlier time); it is windowed in row order, as given. If "
         "rows were recorded twice, drop the repeats first (pandas: X[~X.index.duplicated()]).", stacklevel=4)


def _parse_dates(values: pd.Series, column: object, path: str | os.PathLike[str]) -> pd.Series:
    """Dates as pandas reads them; else as UTC (offsets that change, at a daylight-saving switch), else day first
    (13/01/2024); else one line naming the column."""
    error: Exception | None = None
    for options in ({}, {"utc": True}, {"dayfirst": True}):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # pandas' "could not infer format" / "dayfirst"
                warnings.simplefilter("ignore", FutureWarning)  # pandas 2: mixed offsets give objects, and warn
                dates = pd.to_datetime(values, **options)
            if pd.api.types.is_datetime64_any_dtype(dates):
                return dates
            error = error or ValueError("the offsets from UTC differ between rows")
        except (ValueError, TypeError) as exc:
            error = error or exc
    detail = str(error).split(". You might")[0].splitlines()[0]  # pandas adds ways out, over several lines
    raise DataError(f"Column {column!r} of {path} looks like a time column but does not parse as dates "
                    f"({detail}). Fix the values or rename the column.")


def read_numeric_frame(path: str | os.PathLike[str], *, keep_time: bool = True, numeric_time: bool = False,
                       purpose: str = "", as_float: bool = True) -> pd.DataFrame:
    """:func:`read_table` as float64, refusing (one line each) a table without rows or value columns and
    non-numeric columns. ``keep_time=False``: a time column of dates is refused too (the caller has no use for
    it); ``numeric_time``: as in :func:`read_table`; ``purpose`` ends the advice (" before compressing");
    ``as_float=False`` keeps each column's own numeric dtype."""
    frame = read_table(path, numeric_time=numeric_time)
    if len(frame) == 0:
        raise DataError(f"The table {path} is empty (0 rows). Pass a table with at least one row.")
    time = [str(frame.index.name)] if not keep_time and isinstance(frame.index, pd.DatetimeIndex) else []
    hint = "" if not keep_time else f" (a time column must be named {', '.join(TIME_COLUMNS[:-1])} or ds)"
    text = text_hint(os.fspath(path))  # prose in a .txt reads as a table of words
    check_numeric_columns(frame, str(path), also=time, advice=f"{purpose}{hint}" + (f". {text}" if text else ""))
    if frame.shape[1] == 0:
        raise DataError(f"The table {path} has no value columns, only its time column. Pass a table with at least "
                        "one numeric column.")
    return frame.astype(np.float64) if as_float else frame
