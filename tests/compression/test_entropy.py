"""Entropy coding: exact round trips, and a coded size within a few bytes of the model's prediction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import norm

from aekit.compression.entropy import (
    decode_codes,
    decode_integers,
    encode_codes,
    encode_integers,
    pack,
    unpack,
)
from aekit.errors import DataError


def _gaussian_pmf(scales: np.ndarray):
    def pmf(low: np.ndarray, high: np.ndarray) -> np.ndarray:
        width = int((high - low).max()) + 1
        values = low[:, None] + np.arange(width)[None, :]
        scale = scales[:, None]
        table = norm.cdf((values + 0.5) / scale) - norm.cdf((values - 0.5) / scale)
        return np.where(values <= high[:, None], table, 0.0)
    return pmf


def test_codes_round_trip_and_match_the_predicted_size() -> None:
    rng = np.random.default_rng(0)
    scales = np.array([0.3, 1.0, 4.0, 20.0])
    codes = np.rint(rng.normal(0, scales, size=(5000, 4))).astype(np.int32)
    block = encode_codes(codes, _gaussian_pmf(scales))
    assert np.array_equal(decode_codes(block.data, 5000, 4, _gaussian_pmf(scales)), codes)
    # the ANS coder's overhead is a few words, not a fraction of the payload
    assert abs(block.coded_bytes - block.predicted_bits / 8) <= 16
    # and the prediction is the Shannon code length under the model: close to the entropy of the source
    tables = [_gaussian_pmf(np.array([s]))(np.array([-200]), np.array([200]))[0] for s in scales]
    entropy = sum(-np.sum(p[p > 0] * np.log2(p[p > 0])) for p in tables)  # bits per row of 4 codes
    assert block.predicted_bits / 5000 == pytest.approx(entropy, rel=0.05)


def test_constant_units_cost_nothing() -> None:
    codes = np.zeros((100, 3), np.int32)
    codes[:, 1] = np.arange(100) % 3
    block = encode_codes(codes, _gaussian_pmf(np.ones(3)))
    assert np.array_equal(decode_codes(block.data, 100, 3, _gaussian_pmf(np.ones(3))), codes)


def test_empty_codes_round_trip() -> None:
    block = encode_codes(np.zeros((0, 2), np.int32), _gaussian_pmf(np.ones(2)))
    assert decode_codes(block.data, 0, 2, _gaussian_pmf(np.ones(2))).shape == (0, 2)


def test_codes_with_the_wrong_number_of_units_are_rejected() -> None:
    block = encode_codes(np.ones((10, 2), np.int32), _gaussian_pmf(np.ones(2)))
    with pytest.raises(DataError, match="stores ranges for 2 code units; the codec has 3"):
        decode_codes(block.data, 10, 3, _gaussian_pmf(np.ones(3)))


@settings(max_examples=50, deadline=None)
@given(arrays(np.int64, st.integers(0, 300), elements=st.integers(-(1 << 16), 1 << 16)))
def test_integers_round_trip(values: np.ndarray) -> None:
    assert np.array_equal(decode_integers(encode_integers(values), values.size), values)


def test_integers_cost_their_empirical_entropy() -> None:
    values = np.rint(np.random.default_rng(0).laplace(0, 0.7, 100_000)).astype(np.int64)
    counts = np.unique(values, return_counts=True)[1] / values.size
    entropy_bytes = -np.sum(counts * np.log2(counts)) * values.size / 8
    assert entropy_bytes < len(encode_integers(values)) < entropy_bytes + 200  # + the stored histogram


def test_pack_round_trips_and_rejects_a_wrong_count() -> None:
    assert unpack(pack([b"a", b"", b"xyz"]), 3) == [b"a", b"", b"xyz"]
    with pytest.raises(DataError, match="A block of the .aez file is malformed"):
        unpack(pack([b"a"]), 2)


def test_pack_rejects_trailing_bytes() -> None:
    with pytest.raises(DataError, match="has 14 bytes where its lengths say 13"):
        unpack(pack([b"a"]) + b"!", 1)


def test_code_ranges_take_the_narrowest_width_and_old_int32_ranges_still_decode() -> None:
    from aekit.compression.entropy import pack, unpack

    pmf = _gaussian_pmf(np.ones(3))
    codes = np.array([[-3, 0, 5], [2, 1, -120], [0, 0, 0]], np.int32)
    block = encode_codes(codes, pmf)
    low, high, words = unpack(block.data, 3)
    assert low[0] == 1 and len(low) == 1 + 3 and len(high) == 3  # int8 ranges after a width byte
    np.testing.assert_array_equal(decode_codes(block.data, 3, 3, pmf), codes)
    wide = codes * 1000  # int16
    np.testing.assert_array_equal(decode_codes(encode_codes(wide, pmf).data, 3, 3, pmf), wide)
    legacy = pack([codes.min(0).tobytes(), codes.max(0).tobytes(), words])  # as files were written before
    np.testing.assert_array_equal(decode_codes(legacy, 3, 3, pmf), codes)
