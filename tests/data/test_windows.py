"""Windows of a time series and their overlap average: exact slices, full coverage, exact round trip, errors."""

from __future__ import annotations

import numpy as np
import pytest

from aekit.data.windows import block_means, make_windows, overlap_average, spread_window_values, window_starts
from aekit.errors import AekitError, DataError


def test_windows_are_the_slices_of_the_series() -> None:
    series = np.random.default_rng(0).normal(size=(50, 3))
    windows, starts = make_windows(series, size=8, stride=5)
    assert windows.shape == (len(starts), 3, 8)
    for window, start in zip(windows, starts):
        np.testing.assert_array_equal(window, series[start:start + 8].T)


def test_one_dimensional_series_has_one_channel() -> None:
    windows, starts = make_windows(np.arange(10), size=4, stride=3)
    assert windows.shape == (3, 1, 4) and windows.dtype == np.float32
    np.testing.assert_array_equal(starts, [0, 3, 6])
    np.testing.assert_array_equal(windows[-1, 0], [6, 7, 8, 9])


def test_last_window_is_aligned_to_the_end_unless_disabled() -> None:
    np.testing.assert_array_equal(window_starts(10, 4, 4), [0, 4, 6])  # the stride would miss points 8 and 9
    np.testing.assert_array_equal(window_starts(10, 4, 4, cover_end=False), [0, 4])
    np.testing.assert_array_equal(window_starts(12, 4, 4), [0, 4, 8])  # already covered: no extra window
    np.testing.assert_array_equal(window_starts(4, 4, 1), [0])


@pytest.mark.parametrize(("length", "size", "stride"), [(50, 8, 5), (17, 17, 3), (30, 4, 1), (23, 6, 6)])
def test_overlap_average_of_windows_gives_back_the_series(length: int, size: int, stride: int) -> None:
    series = np.random.default_rng(1).normal(size=(length, 2))
    windows, starts = make_windows(series, size, stride)
    np.testing.assert_allclose(overlap_average(windows, starts, length), series, rtol=0, atol=1e-12)
    np.testing.assert_allclose(overlap_average(windows[:, 0], starts, length), series[:, 0], rtol=0, atol=1e-12)


def test_overlap_average_is_the_mean_over_covering_windows() -> None:
    values = np.array([[1.0, 1.0, 1.0], [4.0, 4.0, 4.0]])  # windows at 0 and 2 overlap at point 2
    np.testing.assert_array_equal(overlap_average(values, [0, 2], 6), [1.0, 1.0, 2.5, 4.0, 4.0, np.nan])


def test_one_value_per_window_is_spread_over_its_points() -> None:
    # windows of 3 at 0 and 2: point 2 is in both, point 5 in none
    np.testing.assert_array_equal(spread_window_values([1.0, 4.0], [0, 2], 3, 6), [1.0, 1.0, 2.5, 4.0, 4.0, np.nan])
    per_channel = spread_window_values([[1.0, 10.0], [4.0, 40.0]], [0, 2], 3, 5)  # (n_windows, channels)
    np.testing.assert_array_equal(per_channel, [[1, 10], [1, 10], [2.5, 25], [4, 40], [4, 40]])


def test_series_shorter_than_a_window_is_an_error() -> None:
    with pytest.raises(DataError, match="has 5 points, fewer than one window of size=8.*at most 5"):
        make_windows(np.zeros(5), size=8)


@pytest.mark.parametrize(
    ("series", "options", "error", "message"),
    [
        (np.zeros(10), {"size": 0}, AekitError, "'size' parameter of make_windows.*Got 0"),
        (np.zeros(10), {"size": 2, "stride": 0}, AekitError, "'stride' parameter of make_windows.*Got 0"),
        (np.zeros((2, 3, 4)), {"size": 2}, DataError, r"shape \(length,\) or \(length, channels\).*\(2, 3, 4\)"),
        (np.array([0.0, np.nan, 1.0]), {"size": 2}, DataError, "1 NaN/Inf value.*point 1"),
        (np.array(["a", "b"]), {"size": 1}, DataError, "not numeric"),
    ],
)
def test_bad_windowing_input(series: np.ndarray, options: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make_windows(series, **options)


@pytest.mark.parametrize(
    ("values", "starts", "length", "message"),
    [
        (np.zeros((2, 3)), [0], 5, "one integer start per window \\(2\\)"),
        (np.zeros((2, 3)), [0.0, 1.0], 5, "one integer start per window"),
        (np.zeros((2, 3)), [0, 3], 5, "do not fit in a series of length=5"),
        (np.zeros(3), [0], 5, "shape \\(n_windows, channels, size\\)"),
    ],
)
def test_bad_overlap_average_input(values: np.ndarray, starts: list, length: int, message: str) -> None:
    with pytest.raises(AekitError, match=message):
        overlap_average(values, np.asarray(starts), length)


def test_block_means_average_each_block_and_the_short_last_one() -> None:
    series = np.arange(10.0).reshape(-1, 1) * [1.0, -2.0]  # (10, 2)
    coarse = block_means(series, 4)
    np.testing.assert_allclose(coarse, [[1.5, -3.0], [5.5, -11.0], [8.5, -17.0]])  # blocks 0-3, 4-7, 8-9
    np.testing.assert_allclose(block_means(series[:, 0], 1), series[:, 0])
    assert block_means(series[:, 0], 4).shape == (3,)


@pytest.mark.parametrize(("series", "factor", "message"), [
    (np.zeros(5), 0, "The 'factor' parameter of block_means must be an int in [1, inf]"),
    (np.zeros(0), 2, "block_means needs a non-empty series of shape (T,) or (T, C). Got shape (0,)."),
    (np.zeros((4, 2, 2)), 2, "block_means needs a non-empty series"),
])
def test_bad_block_means_input(series: np.ndarray, factor: int, message: str) -> None:
    with pytest.raises(AekitError) as info:
        block_means(series, factor)
    assert str(info.value).startswith(message)
