"""The level term of series scores: an isolation forest on each channel's window means, exact and saved."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from aekit import AnomalyDetector
from aekit.anomaly.latent import IsolationScore
from aekit.data.windows import make_windows, overlap_average
from aekit.errors import AekitError
from aekit.io import load_state, save_state

from .conftest import FAST

WINDOW = {"window_size": 20, "window_stride": 5}


@pytest.fixture(scope="module")
def two_channels() -> np.ndarray:
    """Two noisy sines; channel "b" sits 1.5 higher for steps 300..339 with its shape unchanged."""
    rng = np.random.default_rng(1)
    t = np.arange(500)
    X = np.c_[np.sin(2 * np.pi * t / 40), np.cos(2 * np.pi * t / 25)] + 0.05 * rng.normal(size=(500, 2))
    X[300:340, 1] += 1.5
    return X


def test_the_level_term_is_an_isolation_forest_on_window_means(two_channels) -> None:
    X = two_channels
    # trim=0: the members train the same with or without the level term, so the scores differ by it alone
    # (coarse_factor=1: a coarse detector would have a level term of its own)
    without = AnomalyDetector(level_weight=0, trim=0, coarse_factor=1, **WINDOW, **FAST).fit(X)
    weighted = AnomalyDetector(level_weight=2.0, trim=0, coarse_factor=1, **WINDOW, **FAST).fit(X)
    assert without.level_models_ == [] and len(weighted.level_models_) == 2
    windows, starts = make_windows(weighted.scaler_.transform(X), 20, 5)
    means = windows.mean(axis=-1)  # (n_windows, 2)
    expected = np.zeros(len(X))
    for j in range(2):
        forest = IsolationForest(n_estimators=IsolationScore.n_trees, random_state=FAST["random_state"] + j)
        window_level = -forest.fit(means[:, j:j + 1]).score_samples(means[:, j:j + 1])
        level = overlap_average(np.repeat(window_level[:, None], 20, axis=1), starts, len(X))
        q25, median, q75 = np.percentile(level, [25, 50, 75])
        expected += 2.0 * (level - median) / ((q75 - q25) / 1.3489795) / 2
    np.testing.assert_allclose(weighted.decision_function(X) - without.decision_function(X), expected, atol=1e-9)


def test_a_shifted_channel_is_named_and_the_explanation_adds_up(two_channels) -> None:
    X = two_channels
    detector = AnomalyDetector(**WINDOW, **FAST).fit(X)
    assert detector.level_weight_ > 0
    explanation = detector.explain(X)
    np.testing.assert_allclose(explanation.scores,
                               explanation.offset + explanation.latent + explanation.contributions.sum(axis=1))
    assert [name for name, _ in explanation.top(1)[320]] == ["x1"]
    assert explanation.scores[300:340].mean() > np.percentile(explanation.scores, 90)


def test_the_level_term_is_saved_and_a_format_2_file_loads_without_it(two_channels, tmp_path) -> None:
    X = two_channels
    detector = AnomalyDetector(**WINDOW, **FAST).fit(X)
    loaded = AnomalyDetector.load(detector.save(tmp_path / "detector"))
    np.testing.assert_allclose(loaded.decision_function(X), detector.decision_function(X), rtol=1e-9)
    assert loaded.level_weight_ == detector.level_weight_ and len(loaded.level_models_) == 2

    # format 2 (before the level term): the same file without it scores as a detector with level_weight=0
    path = tmp_path / "detector"
    config = json.loads((path / "detector.json").read_text())
    config["format_version"] = 2
    for key in ("level_weight", "level_centers", "level_spreads"):
        del config[key]
    del config["params"]["level_weight"]
    (path / "detector.json").write_text(json.dumps(config))
    state = load_state(path / "detector.safetensors")
    del state["levels"]
    save_state(path / "detector.safetensors", state)
    old = AnomalyDetector.load(path)
    assert old.level_weight_ == 0.0 and old.level_models_ == []
    detector.level_models_ = []  # the same detector without its level term
    np.testing.assert_allclose(old.decision_function(X), detector.decision_function(X), rtol=1e-9)


def test_auto_level_weight_is_for_series_only(planted_data) -> None:
    X, _ = planted_data
    table = AnomalyDetector(**FAST).fit(X)
    assert table.level_weight_ == 0.0 and table.level_models_ == []
    series = AnomalyDetector(**WINDOW, **FAST).fit(np.sin(np.arange(300) / 5.0))
    assert series.level_weight_ > 0 and len(series.level_models_) == 1


@pytest.mark.parametrize("weight", ["heavy", -1.0, float("inf"), False])
def test_a_bad_level_weight_says_what_is_allowed(weight) -> None:
    with pytest.raises(AekitError, match="'level_weight' .* must be a float >= 0 or 'auto'.*leave the level term"):
        AnomalyDetector(level_weight=weight, **WINDOW, **FAST).fit(np.sin(np.arange(300) / 5.0))


def test_a_level_weight_for_a_table_is_refused(planted_data) -> None:
    X, _ = planted_data
    with pytest.raises(AekitError, match="'level_weight' .* window_size is None .* Set window_size"):
        AnomalyDetector(level_weight=1.0, **FAST).fit(X)
