"""aekit.data.Scaler: statistics against numpy, streaming, round trips, serialization, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aekit.data import Dataset, Scaler, load_dataset
from aekit.errors import AekitError, DataError

KINDS = ["minmax", "standard", "none"]


@pytest.fixture
def X() -> np.ndarray:
    return np.random.default_rng(0).normal(3.0, 2.0, size=(40, 2, 3))


def test_minmax_and_standard_match_numpy(X: np.ndarray) -> None:
    minmax = Scaler("minmax").fit(X)
    np.testing.assert_allclose(minmax.offset_, X.min(0))
    np.testing.assert_allclose(minmax.scale_, X.max(0) - X.min(0))
    scaled = minmax.transform(X)
    np.testing.assert_allclose(scaled.min(0), 0, atol=1e-12)
    np.testing.assert_allclose(scaled.max(0), 1)
    standard = Scaler("standard", per_feature=False).fit(X)
    assert standard.offset_.shape == () and standard.scale_.shape == ()
    np.testing.assert_allclose([standard.offset_, standard.scale_], [X.mean(), X.std()])


def test_fit_reads_only_the_training_rows(X: np.ndarray) -> None:
    train = np.array([30, 2, 5, 11, 7])
    poisoned = X.copy()
    poisoned[np.setdiff1d(np.arange(len(X)), train)] = 1e6
    for kind in KINDS:
        on_split = Scaler(kind).fit(poisoned, indices=train)
        on_rows = Scaler(kind).fit(X[train])
        np.testing.assert_allclose(on_split.offset_, on_rows.offset_, rtol=1e-12)
        np.testing.assert_allclose(on_split.scale_, on_rows.scale_, rtol=1e-12)
        assert on_split.n_samples_seen_ == 5


@pytest.mark.parametrize("kind", KINDS)
def test_transform_without_copy_scales_in_place(X: np.ndarray, kind: str) -> None:
    scaler = Scaler(kind).fit(X)
    expected = scaler.transform(X)
    for data in (X.copy(), torch.as_tensor(X.copy())):
        out = scaler.transform(data, copy=False)
        assert out is data  # the same buffer, scaled in place (the identity scaler does not touch it)
        np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-12)
    read_only = X.copy()
    read_only.flags.writeable = False
    np.testing.assert_allclose(scaler.transform(read_only, copy=False), expected, rtol=1e-12)
    np.testing.assert_array_equal(read_only, X)  # a read-only input is never written


def test_minmax_is_exact_in_the_stored_dtype() -> None:
    rng = np.random.default_rng(1)
    for X in (rng.normal(size=(50, 4)).astype(np.float32), rng.integers(0, 256, size=(50, 4), dtype=np.uint8)):
        scaler = Scaler("minmax").fit(X, chunk_size=7)
        np.testing.assert_array_equal(scaler.offset_, X.min(0).astype(np.float64))
        np.testing.assert_array_equal(scaler.scale_, X.max(0).astype(np.float64) - X.min(0))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("per_feature", [True, False])
def test_streaming_fit_on_memmap_equals_in_memory_fit(
    tmp_path: Path, X: np.ndarray, kind: str, per_feature: bool
) -> None:
    np.save(tmp_path / "x.npy", X)
    data = load_dataset(tmp_path / "x.npy")
    assert isinstance(data.X, np.memmap)
    streamed = Scaler(kind, per_feature).fit(data, indices=np.arange(1, 40), chunk_size=7)
    in_memory = Scaler(kind, per_feature).fit(X[1:])
    np.testing.assert_allclose(streamed.offset_, in_memory.offset_, rtol=1e-12)
    np.testing.assert_allclose(streamed.scale_, in_memory.scale_, rtol=1e-12)


@settings(max_examples=25, deadline=None, database=None)
@given(n=st.integers(1, 30), chunk_size=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_chunked_statistics_do_not_depend_on_chunk_size(n: int, chunk_size: int, seed: int) -> None:
    X = np.random.default_rng(seed).normal(1e4, 1.0, size=(n, 3))  # large mean: sum of squares would cancel
    scaler = Scaler("standard").fit(X, chunk_size=chunk_size)
    np.testing.assert_allclose(scaler.offset_, X.mean(0), rtol=1e-12)
    np.testing.assert_allclose(scaler.scale_[X.std(0) > 0], X.std(0)[X.std(0) > 0], rtol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_numpy_and_torch(X: np.ndarray, kind: str) -> None:
    scaler = Scaler(kind).fit(X)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-12)
    for dtype in (torch.float32, torch.float64):
        x = torch.as_tensor(X, dtype=dtype)
        scaled = scaler.transform(x)
        assert isinstance(scaled, torch.Tensor) and scaled.dtype == dtype and scaled.device == x.device
        np.testing.assert_allclose(scaled.numpy(), scaler.transform(X), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(scaler.inverse_transform(scaled), x)
    assert scaler.transform(X.astype(np.float32)).dtype == np.float32
    assert scaler.transform(np.ones((2, 2, 3), dtype=np.int64)).dtype == np.float32


@pytest.mark.parametrize("per_feature", [True, False])
def test_dict_round_trip_through_json(X: np.ndarray, per_feature: bool) -> None:
    scaler = Scaler("standard", per_feature).fit(X / 3)  # values with long decimal expansions
    restored = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert (restored.kind, restored.per_feature, restored.sample_shape_) == ("standard", per_feature, (2, 3))
    np.testing.assert_array_equal(restored.offset_, scaler.offset_)
    np.testing.assert_array_equal(restored.scale_, scaler.scale_)
    np.testing.assert_array_equal(restored.transform(X), scaler.transform(X))
    assert Scaler.from_dict(Scaler("none").to_dict()).to_dict() == Scaler("none").to_dict()


@pytest.mark.parametrize("kind", KINDS)
def test_constant_features_give_no_nan(kind: str) -> None:
    X = np.column_stack([np.full(10, 0.1), np.zeros(10), np.arange(10.0)])
    scaler = Scaler(kind).fit(Dataset(X))
    scaled = scaler.transform(X)
    # a constant feature takes the other features' median scale, so an unseen value lands on the usual scale
    expected = 1.0 if kind == "none" else scaler.scale_[2]
    assert np.isfinite(scaled).all() and scaler.scale_[0] == scaler.scale_[1] == expected
    assert np.allclose(scaled[:, :2], 0.0, atol=1e-12) or kind == "none"
    np.testing.assert_allclose(scaler.inverse_transform(scaled), X)
    only_constant = Scaler(kind).fit(Dataset(np.ones((10, 2))))
    assert (only_constant.scale_ == 1.0).all()


def test_bad_kind_suggests_the_closest() -> None:
    with pytest.raises(AekitError, match="must be one of minmax, standard, none. Got 'standart'.*'standard'"):
        Scaler("standart")


def test_transform_before_fit() -> None:
    with pytest.raises(AekitError, match=r"not fitted yet\. Call fit\(X\) first"):
        Scaler().transform(np.zeros((2, 3)))


def test_transform_with_other_features(X: np.ndarray) -> None:
    with pytest.raises(DataError, match=r"fitted on samples of shape \(2, 3\); got samples of shape \(6,\)"):
        Scaler().fit(X).transform(X.reshape(40, 6))


def test_fit_on_no_rows(X: np.ndarray) -> None:
    with pytest.raises(DataError, match="Scaler.fit got 0 samples"):
        Scaler().fit(X, indices=np.array([], dtype=int))


def test_unknown_dict_key() -> None:
    with pytest.raises(AekitError, match="Unknown key 'scales'.*Did you mean 'scale'"):
        Scaler.from_dict({"kind": "minmax", "scales": [1.0]})


@pytest.mark.parametrize("X", [np.array([[3e38, -3e38], [-3e38, 3e38], [0.0, 1.0]], np.float32),
                               np.array([[1e-300, 2e-300], [3e-300, 1e-300], [0.0, 5e-300]])])
def test_a_range_float32_cannot_scale_is_refused(X: np.ndarray) -> None:
    with pytest.raises(DataError, match="spans a range that cannot be scaled in float32"):
        Scaler("minmax").fit(X)
