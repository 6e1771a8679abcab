"""Time series <-> windows: cut a series into (channels, size) samples, and fold window values back onto points.

    >>> windows, starts = make_windows(series, size=64, stride=8)      # series (T, C) -> (n, C, 64)
    >>> x_hat = estimator.reconstruct(windows)                          # any per-window, per-point values
    >>> point_values = overlap_average(x_hat, starts, len(series))      # (T, C): each point averaged over windows
    >>> point_scores = spread_window_values(scores, starts, 64, len(series))  # one score per window -> (T,)
    >>> coarse = block_means(series, 4)                                 # (T, C) -> (ceil(T / 4), C)

The last window is aligned to the end of the series by default, so every point lies in at least one window and
:func:`overlap_average` gives a value for every point (what a per-point anomaly score needs).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from aekit.errors import AekitError, DataError, check_int

__all__ = ["block_means", "make_windows", "overlap_average", "spread_window_values", "window_starts"]


def window_starts(length: int, size: int, stride: int = 1, *, cover_end: bool = True) -> np.ndarray:
    """Start index of each window of ``size`` points over a series of ``length`` points.

    Parameters
    ----------
    length : number of points of the series.
    size : points per window.
    stride : distance between consecutive window starts.
    cover_end : add one window ending at the last point when the stride would otherwise skip the tail.

    Returns
    -------
    ndarray of int64, shape (n_windows,), increasing.
    """
    check_int(size, name="size", owner="make_windows", low=1)
    check_int(stride, name="stride", owner="make_windows", low=1)
    if length < size:
        raise DataError(
            f"The series has {length} points, fewer than one window of size={size}. Use a window size of at most "
            f"{length} or a longer series."
        )
    starts = np.arange(0, length - size + 1, stride, dtype=np.int64)
    if cover_end and starts[-1] != length - size:
        starts = np.append(starts, length - size)
    return starts


def make_windows(series: ArrayLike, size: int, stride: int = 1, *,
                 cover_end: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping windows of a (multivariate) time series, shaped for the conv and transformer backbones.

    Parameters
    ----------
    series : array-like of shape (length,) or (length, channels)
        Points in time order; a 1-D series has one channel.
    size : int
        Points per window.
    stride : int, default 1
        Distance between consecutive window starts (``size`` gives non-overlapping windows).
    cover_end : bool, default True
        Add a last window ending at the last point when ``stride`` does not reach it, so every point is in a
        window.

    Returns
    -------
    windows : ndarray of shape (n_windows, channels, size), the series' dtype (float32 for integers)
    starts : ndarray of int64, shape (n_windows,)
        Index of each window's first point: ``windows[i] == series[starts[i]:starts[i] + size].T``.
    """
    values = np.asarray(series)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise DataError(
            f"make_windows expects a series of shape (length,) or (length, channels). Got shape {values.shape} "
            "instead. Put time on the first axis and channels on the second."
        )
    if values.dtype.kind not in "biuf":
        raise DataError(f"The series has dtype {values.dtype}, which is not numeric. Convert it to numbers first.")
    if values.dtype.kind != "f":
        values = values.astype(np.float32)
    if not np.isfinite(values).all():
        bad = ~np.isfinite(values).all(axis=1)
        raise DataError(
            f"The series has {int((~np.isfinite(values)).sum())} NaN/Inf value(s), first at point "
            f"{int(np.argmax(bad))}. Remove or interpolate them before windowing."
        )
    starts = window_starts(len(values), size, stride, cover_end=cover_end)
    index = starts[:, None] + np.arange(size)  # (n_windows, size)
    windows = values[index].transpose(0, 2, 1)  # (n_windows, size, C) -> (n_windows, C, size)
    return np.ascontiguousarray(windows), starts


def overlap_average(window_values: ArrayLike, starts: ArrayLike, length: int) -> np.ndarray:
    """Per-point values from per-window values: each point gets the mean over the windows that contain it.

    Parameters
    ----------
    window_values : array-like of shape (n_windows, channels, size) or (n_windows, size)
        One value per point of each window (a reconstruction, a squared error...).
    starts : array-like of int, shape (n_windows,)
        Start of each window, as returned by :func:`make_windows`.
    length : int
        Number of points of the series.

    Returns
    -------
    ndarray of float64, shape (length, channels), or (length,) for 2-D ``window_values``
        NaN at points no window covers.
    """
    values = np.asarray(window_values, dtype=np.float64)
    starts = np.asarray(starts)
    squeeze = values.ndim == 2
    if squeeze:
        values = values[:, None, :]
    if values.ndim != 3:
        raise AekitError(
            "overlap_average expects window values of shape (n_windows, channels, size) or (n_windows, size). "
            f"Got shape {values.shape} instead."
        )
    n_windows, channels, size = values.shape
    check_int(length, name="length", owner="overlap_average", low=1)
    if starts.ndim != 1 or len(starts) != n_windows or (starts.size and starts.dtype.kind not in "iu"):
        raise AekitError(
            f"overlap_average needs one integer start per window ({n_windows}). Got starts of shape {starts.shape} "
            f"and dtype {starts.dtype} instead. Pass the starts returned by make_windows."
        )
    if n_windows and (starts.min() < 0 or starts.max() + size > length):
        raise AekitError(
            f"Windows of size {size} starting at {int(starts.min())}..{int(starts.max())} do not fit in a series of "
            f"length={length}. Pass the length of the series the windows were cut from."
        )
    index = (starts[:, None] + np.arange(size)).ravel()  # (n_windows * size,) point of every window value
    counts = np.bincount(index, minlength=length).astype(np.float64)  # (length,)
    sums = np.stack([np.bincount(index, weights=values[:, c, :].ravel(), minlength=length)
                     for c in range(channels)], axis=1)  # (length, channels)
    with np.errstate(invalid="ignore", divide="ignore"):
        points = sums / counts[:, None]  # uncovered points: 0 / 0 = NaN
    return points[:, 0] if squeeze else points


def spread_window_values(window_values: ArrayLike, starts: ArrayLike, size: int, length: int) -> np.ndarray:
    """Per-point values from one value per window (a window's anomaly score): each point gets the mean over the
    windows that contain it, as :func:`overlap_average` with that value at every point of the window.

    Parameters
    ----------
    window_values : array-like of shape (n_windows,) or (n_windows, channels)
    starts : array-like of int, shape (n_windows,), as returned by :func:`make_windows`.
    size : int, points per window.
    length : int, number of points of the series.

    Returns
    -------
    ndarray of float64, shape (length,) or (length, channels), like ``window_values`` without its window axis.
    """
    values = np.asarray(window_values, dtype=np.float64)
    check_int(size, name="size", owner="spread_window_values", low=1)
    return overlap_average(np.repeat(values[..., None], size, axis=-1), starts, length)


def block_means(series: ArrayLike, factor: int) -> np.ndarray:
    """The series at a coarser time scale: the mean of each block of ``factor`` consecutive points.

    Blocks start at the first point; a last, shorter block (when ``factor`` does not divide the length) is the
    mean of the points it has. ``np.repeat(coarse, factor, axis=0)[:len(series)]`` maps block values back onto
    the points.

    Parameters
    ----------
    series : array of shape (T,) or (T, C).
    factor : points per block, >= 1.

    Returns
    -------
    ndarray of float64, shape (ceil(T / factor),) or (ceil(T / factor), C).
    """
    factor = check_int(factor, name="factor", owner="block_means", low=1)
    values = np.asarray(series, dtype=np.float64)
    if values.ndim not in (1, 2) or len(values) == 0:
        raise DataError(f"block_means needs a non-empty series of shape (T,) or (T, C). Got shape {values.shape}.")
    starts = np.arange(0, len(values), factor)
    sums = np.add.reduceat(values, starts, axis=0)
    counts = np.diff(np.append(starts, len(values))).reshape((-1,) + (1,) * (values.ndim - 1))
    return sums / counts
