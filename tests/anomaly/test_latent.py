"""Latent terms of the anomaly score: equal to their references, pickle-free, chosen by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf
from sklearn.ensemble import IsolationForest

from aekit import AnomalyDetector
from aekit.anomaly.latent import LATENT_SCORES, IsolationScore, MahalanobisScore
from aekit.errors import AekitError
from aekit.io import load_state, save_state

from .conftest import FAST


@pytest.fixture(scope="module")
def codes() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    train = np.vstack([rng.normal(size=(300, 5)), rng.normal(size=(200, 5)) + 6]).astype(np.float32)
    return train, (rng.normal(size=(100, 5)) * 3).astype(np.float32)


def test_isolation_score_equals_scikit_learns_and_survives_its_arrays(codes) -> None:
    train, test = codes
    scorer = IsolationScore().fit(train, seed=7)
    reference = -IsolationForest(n_estimators=IsolationScore.n_trees, random_state=7).fit(train).score_samples(test)
    np.testing.assert_allclose(scorer.score(test), reference, rtol=1e-12)
    state = scorer.state()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in state.values())  # safetensors-ready
    np.testing.assert_array_equal(IsolationScore.from_state(state).score(test), scorer.score(test))


def test_an_isolation_score_fitted_on_one_code_is_finite() -> None:
    # a trimmed fit can leave one window; c(1) = 0 would make every score 0/0
    scores = IsolationScore().fit(np.zeros((1, 3), np.float32)).score(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(scores, [1.0, 1.0])


def test_a_series_of_two_windows_gets_finite_scores() -> None:
    detector = AnomalyDetector(window_size=16, window_stride=2, **FAST).fit(np.sin(np.arange(17) / 3.0))
    assert np.isfinite(detector.decision_scores_).all()


def test_isolation_follows_two_clusters_where_mahalanobis_sees_one(codes) -> None:
    train, _ = codes
    between = np.full((1, 5), 3.0, dtype=np.float32)  # between the clusters: no training code is near it
    inside = train[:1]
    iso = IsolationScore().fit(train)
    maha = MahalanobisScore().fit(train)
    assert iso.score(between)[0] > iso.score(inside)[0] + 0.1
    # one ellipse over both clusters puts the empty middle near its centre: no more unusual than a member
    assert maha.score(between)[0] < maha.score(inside)[0] * 2


def test_mahalanobis_score_is_the_ledoit_wolf_distance_per_unit(codes) -> None:
    train, test = codes
    lw = LedoitWolf().fit(train.astype(np.float64))
    centered = test.astype(np.float64) - lw.location_
    expected = np.einsum("ij,jk,ik->i", centered, lw.precision_, centered) / train.shape[1]
    scorer = MahalanobisScore().fit(train)
    np.testing.assert_allclose(scorer.score(test), expected, rtol=1e-10)
    np.testing.assert_array_equal(MahalanobisScore.from_state(scorer.state()).score(test), scorer.score(test))


def test_latent_scores_are_registered_and_an_unknown_one_is_named(planted_data) -> None:
    assert LATENT_SCORES.names() == ["isolation", "mahalanobis"]
    X, _ = planted_data
    with pytest.raises(AekitError, match=r"Unknown latent score 'isolaton'.*isolation"):
        AnomalyDetector(latent_score="isolaton", **FAST).fit(X)


@pytest.mark.parametrize("weight", ["heavy", -1.0, float("nan"), True])
def test_a_bad_latent_weight_says_what_is_allowed(planted_data, weight) -> None:
    X, _ = planted_data
    with pytest.raises(AekitError, match="'latent_weight' .* must be a float >= 0 or 'auto'"):
        AnomalyDetector(latent_weight=weight, **FAST).fit(X)


def test_auto_latent_term_depends_on_the_kind_of_data(planted_data) -> None:
    X, _ = planted_data
    table = AnomalyDetector(**FAST).fit(X)
    assert (table.latent_score_, table.latent_weight_) == ("mahalanobis", 0.5)
    assert {m.latent_model.name for m in table.members_} == {"mahalanobis"}
    series = AnomalyDetector(window_size=20, window_stride=5, **FAST).fit(np.sin(np.arange(300) / 5.0))
    assert (series.latent_score_, series.latent_weight_) == ("isolation", 5.0)
    assert {m.latent_model.name for m in series.members_} == {"isolation"}
    chosen = AnomalyDetector(latent_score="isolation", latent_weight=2, **FAST).fit(X)
    assert (chosen.latent_score_, chosen.latent_weight_) == ("isolation", 2.0)


def test_isolation_detector_saves_loads_and_scores_alike(planted_data, tmp_path) -> None:
    X, _ = planted_data
    detector = AnomalyDetector(latent_score="isolation", **FAST).fit(X)
    loaded = AnomalyDetector.load(detector.save(tmp_path / "detector"))
    np.testing.assert_allclose(loaded.decision_function(X), detector.decision_function(X), rtol=1e-6)
    assert loaded.latent_score_ == "isolation"


def test_mahalanobis_detector_saves_loads_and_scores_alike(planted_data, tmp_path) -> None:
    X, _ = planted_data
    detector = AnomalyDetector(latent_score="mahalanobis", **FAST).fit(X)
    loaded = AnomalyDetector.load(detector.save(tmp_path / "detector"))
    np.testing.assert_allclose(loaded.decision_function(X), detector.decision_function(X), rtol=1e-6)
    assert [m.latent_model.name for m in loaded.members_] == ["mahalanobis"] * FAST["n_estimators"]


def test_a_format_1_detector_still_loads(planted_data, tmp_path) -> None:
    """Files from before the latent scorers held each member's Mahalanobis mean and precision directly."""
    X, _ = planted_data
    detector = AnomalyDetector(latent_score="mahalanobis", latent_weight=0.5, **FAST).fit(X)
    path = detector.save(tmp_path / "detector")
    config = json.loads((path / "detector.json").read_text())
    config["format_version"] = 1
    del config["latent_weight"], config["latent_score"], config["params"]["latent_score"]
    for member in config["members"]:
        del member["latent_score"]
    (path / "detector.json").write_text(json.dumps(config))
    state = load_state(path / "detector.safetensors")
    state["members"] = [{"residual_scale": m["residual_scale"], "latent_mean": m["latent"]["mean"],
                         "latent_precision": m["latent"]["precision"]} for m in state["members"]]
    save_state(path / "detector.safetensors", state)
    loaded = AnomalyDetector.load(path)
    np.testing.assert_allclose(loaded.decision_function(X), detector.decision_function(X), rtol=1e-6)
    assert loaded.latent_score_ == "mahalanobis" and loaded.latent_weight_ == 0.5
