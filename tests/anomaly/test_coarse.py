"""The coarse time scale of series scores: a second detector on block means, its terms added exactly, saved."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from aekit import AnomalyDetector
from aekit.data.windows import block_means
from aekit.errors import AekitError, DataError

from .conftest import FAST

WINDOW = {"window_size": 16, "window_stride": 2}


@pytest.fixture(scope="module")
def drifting() -> np.ndarray:
    """Two noisy sines, 801 steps (not a multiple of 4, so the last block is short); channel 0 drifts up
    slowly over steps 500..699."""
    rng = np.random.default_rng(3)
    t = np.arange(801)
    X = np.c_[np.sin(2 * np.pi * t / 30), np.cos(2 * np.pi * t / 45)] + 0.05 * rng.normal(size=(801, 2))
    X[500:700, 0] += np.linspace(0.0, 1.5, 200)
    return X


@pytest.fixture(scope="module")
def fitted(drifting) -> tuple[AnomalyDetector, AnomalyDetector]:
    """The same detector with and without the coarse scale (same seed: identical fine members)."""
    return (AnomalyDetector(**WINDOW, **FAST).fit(drifting),
            AnomalyDetector(coarse_factor=1, **WINDOW, **FAST).fit(drifting))


def test_coarse_scores_are_the_coarse_detector_on_block_means_repeated(drifting, fitted) -> None:
    coarse, fine = fitted
    assert coarse.coarse_factor_ == 4 and fine.coarse_factor_ == 1 and fine.coarse_ is None
    inner = coarse.coarse_
    assert inner.window_size == 16 and inner.coarse_factor_ == 1 and inner.n_train_samples_ == 201
    block_scores = inner.decision_function(block_means(drifting, 4))
    expected = fine.decision_function(drifting) + np.repeat(block_scores, 4)[:801]
    np.testing.assert_allclose(coarse.decision_function(drifting), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(coarse.decision_scores_, expected, rtol=1e-9, atol=1e-9)


def test_the_explanation_adds_up_and_the_drift_scores_high(drifting, fitted) -> None:
    coarse, _ = fitted
    explanation = coarse.explain(drifting)
    np.testing.assert_allclose(explanation.scores,
                               explanation.offset + explanation.latent + explanation.contributions.sum(axis=1))
    assert explanation.feature_names == ["x0", "x1"]
    assert explanation.scores[600:700].mean() > np.percentile(explanation.scores, 90)
    assert [name for name, _ in explanation.top(1)[650]] == ["x0"]


def test_the_coarse_detector_is_saved_and_a_format_3_file_loads_without_it(drifting, fitted, tmp_path) -> None:
    coarse, fine = fitted
    path = coarse.save(tmp_path / "detector")
    assert (path / "coarse" / "detector.json").is_file()
    loaded = AnomalyDetector.load(path)
    assert loaded.coarse_factor_ == 4 and loaded.coarse_.coarse_factor_ == 1
    np.testing.assert_allclose(loaded.decision_function(drifting), coarse.decision_function(drifting), rtol=1e-9)

    # format 3 (before the coarse scale): the same file without it scores as the fine detector alone
    config = json.loads((path / "detector.json").read_text())
    config["format_version"] = 3
    del config["coarse_factor"], config["params"]["coarse_factor"]
    (path / "detector.json").write_text(json.dumps(config))
    shutil.rmtree(path / "coarse")
    old = AnomalyDetector.load(path)
    assert old.coarse_factor_ == 1 and old.coarse_ is None
    np.testing.assert_allclose(old.decision_function(drifting), fine.decision_function(drifting), rtol=1e-9)


def test_auto_is_for_series_long_enough(planted_data) -> None:
    X, _ = planted_data
    assert AnomalyDetector(**FAST).fit(X).coarse_ is None
    # 4 * 16 + 1 = 65 steps is the least that gives the coarse detector two windows to fit on
    assert AnomalyDetector(**WINDOW, **FAST).fit(np.sin(np.arange(65) / 3.0)).coarse_factor_ == 4
    assert AnomalyDetector(**WINDOW, **FAST).fit(np.sin(np.arange(64) / 3.0)).coarse_factor_ == 1


def test_a_series_too_short_for_the_coarse_scale_is_one_clear_error(fitted) -> None:
    coarse, _ = fitted
    message = ("The series has 60 time steps; scoring it also at the coarse scale (coarse_factor=4, windows of 16 "
               "blocks of 4 steps) needs at least 61. Pass a longer series, or fit with coarse_factor=1.")
    with pytest.raises(DataError) as info:
        coarse.decision_function(np.zeros((60, 2)))
    assert str(info.value) == message
    with pytest.raises(DataError) as info:  # an explicit factor: refused before any training
        AnomalyDetector(coarse_factor=4, **WINDOW, **FAST).fit(np.sin(np.arange(64) / 3.0))
    assert str(info.value) == ("The series has 64 time steps; fitting it also at the coarse scale (coarse_factor=4, "
                               "windows of 16 blocks of 4 steps) needs at least 65. Pass a longer series, or set "
                               "coarse_factor=1.")


@pytest.mark.parametrize(("factor", "window", "message"), [
    (0, 16, "The 'coarse_factor' parameter of AnomalyDetector must be an int in [1, inf]. Got 0 instead."),
    (2.5, 16, "The 'coarse_factor' parameter of AnomalyDetector must be an int in [1, inf]. Got 2.5 instead."),
    ("big", 16, "The 'coarse_factor' parameter of AnomalyDetector must be an int in [1, inf]. Got 'big' instead."),
    (4, None, "The 'coarse_factor' parameter of AnomalyDetector sets a second time scale for series windows, but "
              "window_size is None (got coarse_factor=4)."),
])
def test_a_bad_coarse_factor_says_what_is_allowed(factor, window, message) -> None:
    with pytest.raises(AekitError) as info:
        AnomalyDetector(coarse_factor=factor, window_size=window, **FAST).fit(np.sin(np.arange(200) / 3.0))
    assert str(info.value).startswith(message)


def test_a_series_whose_block_means_are_constant_has_no_coarse_scale() -> None:
    # it repeats every 4 steps: the means over blocks of 4 never move, nothing to see at that scale
    periodic = np.tile([0.0, 1.0, 2.0, 3.0], 150)
    detector = AnomalyDetector(window_size=16, **FAST).fit(periodic)
    assert detector.coarse_factor_ == 1 and detector.coarse_ is None
    assert np.isfinite(detector.decision_function(periodic)).all()
    with pytest.raises(DataError, match=r"^At the coarse scale \(coarse_factor=4\) the series is constant: its means "
                                        r"over blocks of 4 steps do not vary .* Pass another coarse_factor, or 1"):
        AnomalyDetector(window_size=16, coarse_factor=4, **FAST).fit(periodic)


def test_window_stride_without_windows_is_refused() -> None:
    with pytest.raises(AekitError, match=r"'window_stride' parameter of AnomalyDetector sets the steps between series "
                                         r"windows, but window_size is None \(got window_stride=5\)"):
        AnomalyDetector(window_stride=5, **FAST).fit(np.random.default_rng(0).random((50, 3)))


def test_the_largest_seed_fits_a_series_of_several_channels() -> None:
    t = np.arange(300)
    X = np.c_[np.sin(t / 7.0), np.cos(t / 5.0)]
    AnomalyDetector(window_size=16, coarse_factor=1, **{**FAST, "random_state": 2**32 - 1}).fit(X)  # level seeds wrap
