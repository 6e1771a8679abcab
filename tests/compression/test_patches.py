"""Training tiles for image codecs: crops at several scales, mirrored, turned and (RGB) with shuffled colours."""

from __future__ import annotations

import numpy as np
import pytest

from aekit.compression.codec import random_patches
from aekit.errors import AekitError, DataError


def _ramp(size: int = 48) -> np.ndarray:
    """Rows brighten downwards; channels hold the ramp scaled by 1, 2 and 3 (each channel is told apart)."""
    ramp = np.repeat(np.arange(size, dtype=np.float64)[:, None], size, axis=1)
    return np.stack([ramp, 2 * ramp, 3 * ramp], axis=-1).astype(np.uint8)


def test_crops_are_seeded_and_in_unit_range() -> None:
    a = random_patches([_ramp()], 64, 16, seed=3)
    np.testing.assert_array_equal(a, random_patches([_ramp()], 64, 16, seed=3))
    assert a.shape == (64, 3, 16, 16) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1


def test_crops_come_turned_as_well_as_upright() -> None:
    tiles = random_patches([_ramp()], 200, 16, seed=0)[:, 0]
    along_rows = np.abs(np.diff(tiles, axis=1)).mean(axis=(1, 2))  # an upright ramp changes down the rows
    along_cols = np.abs(np.diff(tiles, axis=2)).mean(axis=(1, 2))
    upright = along_rows > along_cols
    assert 0.3 < upright.mean() < 0.7


def test_channels_keep_their_order_unless_asked_to_shuffle() -> None:
    def channel_order(tiles: np.ndarray) -> set[tuple[int, ...]]:
        return {tuple(np.argsort(t.reshape(3, -1).sum(axis=1))) for t in tiles}

    assert channel_order(random_patches([_ramp()], 100, 16, seed=0)) == {(0, 1, 2)}
    assert len(channel_order(random_patches([_ramp()], 100, 16, seed=0, permute_channels=True))) == 6


def test_scales_add_shrunk_copies_and_skip_those_below_a_tile() -> None:
    image = _ramp(48)
    full = random_patches([image], 300, 16, seed=0)[:, 0]
    both = random_patches([image], 300, 16, seed=0, scales=(1, 2))[:, 0]
    # a shrunk ramp is twice as steep: half the crops change by about 2 levels a row instead of 1
    def change(tiles: np.ndarray) -> float:
        return float((np.abs(np.diff(tiles, axis=1)).sum() + np.abs(np.diff(tiles, axis=2)).sum()) / len(tiles))

    assert change(both) > 1.3 * change(full)
    only = random_patches([image], 50, 16, seed=0, scales=(1, 4))  # 48 / 4 = 12 < 16: skipped, not an error
    assert only.shape == (50, 3, 16, 16)


def test_bad_scales_are_one_clear_error() -> None:
    with pytest.raises(AekitError, match=r"The 'scales' parameter of random_patches must be an int in \[1, inf\]. "
                                         r"Got 0 instead."):
        random_patches([_ramp()], 10, 16, scales=(1, 0))
    with pytest.raises(DataError, match=r"No image is at least 16x16 pixels at any of the scales \(4,\)"):
        random_patches([_ramp(48)], 10, 16, scales=(4,))
