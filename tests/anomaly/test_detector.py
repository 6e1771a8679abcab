"""aekit.AnomalyDetector: PyOD's meanings, thresholds, explanations, files, series and images."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MinMaxScaler

from aekit import AnomalyDetector
from aekit.anomaly.metrics import roc_auc
from aekit.errors import AekitError, DataError, ModelFileError

from .conftest import FAST


def test_finds_the_planted_anomalies(fitted, planted_data) -> None:
    _, y = planted_data
    assert roc_auc(y, fitted.decision_scores_) > 0.95


def test_pyod_conventions(fitted, planted_data) -> None:
    X, _ = planted_data
    scores = fitted.decision_function(X)
    np.testing.assert_allclose(scores, fitted.decision_scores_, rtol=1e-6, atol=1e-6)
    # PyOD: threshold at the (1 - contamination) percentile, labels strictly above it, 0/1 ints
    assert fitted.threshold_ == pytest.approx(np.percentile(fitted.decision_scores_, 95))
    np.testing.assert_array_equal(fitted.labels_, (fitted.decision_scores_ > fitted.threshold_).astype(int))
    assert fitted.labels_.dtype.kind == "i" and set(np.unique(fitted.labels_)) == {0, 1}
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    np.testing.assert_allclose(fitted.score_samples(X), -scores)
    # predict_proba: PyOD's linear method, min-max against the training scores, clipped to [0, 1]
    X_new = np.vstack([X[:5], X[:1] * 50])
    proba = fitted.predict_proba(X_new)
    reference = MinMaxScaler().fit(fitted.decision_scores_.reshape(-1, 1)).transform(
        fitted.decision_function(X_new).reshape(-1, 1)).ravel().clip(0, 1)
    assert proba.shape == (6, 2)
    np.testing.assert_allclose(proba[:, 1], reference, atol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba[-1, 1] == 1.0


def test_same_seed_same_scores(planted_data) -> None:
    X, _ = planted_data
    a = AnomalyDetector(**FAST).fit(X[:150]).decision_function(X)
    b = AnomalyDetector(**FAST).fit(X[:150]).decision_function(X)
    np.testing.assert_array_equal(a, b)


def test_thresholds_from_contamination_fpr_or_value(fitted, planted_data) -> None:
    X, y = planted_data
    clean = X[y == 0]
    detector = AnomalyDetector.__new__(AnomalyDetector)
    detector.__dict__.update(fitted.__dict__)  # a copy sharing the members: thresholds do not retrain
    detector.set_threshold(fpr=0.02, X_clean=clean)
    assert detector.predict(clean).mean() <= 0.02
    assert detector.threshold_info_ == {"method": "fpr", "fpr": 0.02, "n_clean": len(clean)}
    detector.set_threshold(value=1.5)
    assert detector.threshold_ == 1.5 and detector.threshold_info_["method"] == "value"
    np.testing.assert_array_equal(detector.labels_, (detector.decision_scores_ > 1.5).astype(int))
    detector.set_threshold(contamination=0.2)
    assert detector.labels_.mean() == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_a_fixed_threshold_is_finite(fitted, value: float) -> None:
    with pytest.raises(AekitError, match=r"The 'value' parameter of set_threshold must be a float in \(-inf, inf\)"):
        fitted.set_threshold(value=value)


def test_set_threshold_takes_exactly_one_way(fitted) -> None:
    with pytest.raises(AekitError, match="exactly one of contamination, fpr"):
        fitted.set_threshold(contamination=0.1, value=2.0)


def test_fpr_threshold_needs_clean_data(fitted) -> None:
    with pytest.raises(AekitError, match="needs X_clean, data known to hold no anomalies"):
        fitted.set_threshold(fpr=0.01)


def test_fpr_threshold_needs_enough_clean_rows_to_measure_the_rate(fitted, planted_data) -> None:
    X, y = planted_data
    clean, threshold = X[y == 0], fitted.threshold_
    with pytest.raises(DataError, match=r"^A false-positive rate of 0.05 \(1 in 20\) needs at least 21 clean rows to "
                                        r"be measured; the clean data has 20\. Pass more clean data, or a larger "
                                        r"rate\.$"):
        fitted.set_threshold(fpr=0.05, X_clean=clean[:20])  # 20 rows: the 95% quantile is still their highest
    assert fitted.threshold_ == threshold  # refused: the threshold is unchanged
    fitted.set_threshold(fpr=0.05, X_clean=clean[:21])  # 21: one row above the threshold
    assert (fitted.decision_function(clean[:21]) > fitted.threshold_).sum() == 1
    fitted.set_threshold(contamination=fitted.contamination)  # the shared fixture as it was
    assert fitted.threshold_ == threshold


def test_explanations_add_up_and_point_at_the_broken_feature(planted_data) -> None:
    X, y = planted_data
    columns = ["a", "b", "c", "d", "e", "f"]
    frame = pd.DataFrame(X, columns=columns, index=[f"r{i}" for i in range(len(X))])
    detector = AnomalyDetector(**FAST).fit(frame)
    broken = frame[y == 0].iloc[:4].copy()
    broken["c"] += 8 * frame["c"].std()  # one feature far off, the others typical
    explanation = detector.explain(broken)
    np.testing.assert_allclose(explanation.offset + explanation.latent + explanation.contributions.sum(axis=1),
                               explanation.scores, rtol=1e-9)
    np.testing.assert_allclose(explanation.scores, detector.decision_function(broken))
    assert [row[0][0] for row in explanation.top(2)] == ["c"] * 4
    assert list(explanation.index) == list(broken.index)
    table = explanation.to_frame(2, labels=detector.predict(broken))
    assert list(table.columns) == ["score", "label", "latent", "top_features"]
    assert table["top_features"].iloc[0].startswith("c=")
    assert table.index.name == "id"  # the frame's index had no name
    named = broken.rename_axis("patient")
    assert detector.explain(named).to_frame(2).index.name == "patient"
    with pytest.raises(AekitError, match=r"labels must hold one 0 \(inlier\) or 1 \(outlier\) per row \(4\)"):
        explanation.to_frame(2, labels=[0.7, 0, 2, 1])


def test_save_and_load_give_the_same_detector(fitted, planted_data, tmp_path) -> None:
    X, _ = planted_data
    fitted.set_threshold(value=2.5)
    try:
        path = fitted.save(tmp_path / "detector")
        fitted.save(path, metadata={"image_size": [8, 8]})  # replacing a detector leaves no staging folders
        assert sorted(p.name for p in tmp_path.iterdir()) == ["detector"]
        assert AnomalyDetector.load(path).metadata_ == {"image_size": [8, 8]}
        fitted.save(path)
        files = [p for p in path.rglob("*") if p.is_file()]
        assert {p.suffix for p in files} == {".json", ".safetensors"}  # never pickle
        loaded = AnomalyDetector.load(path)
        np.testing.assert_allclose(loaded.decision_function(X), fitted.decision_function(X), rtol=1e-6)
        assert loaded.threshold_ == 2.5 and loaded.threshold_info_ == {"method": "value", "value": 2.5}
        np.testing.assert_array_equal(loaded.labels_, fitted.labels_)
        np.testing.assert_allclose(loaded.predict_proba(X), fitted.predict_proba(X), atol=1e-6)
        assert loaded.get_params() == fitted.get_params() and loaded.metadata_ == {}
    finally:
        fitted.set_threshold(contamination=fitted.contamination)


def test_saving_replaces_a_detector_but_never_what_is_not_one(fitted, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AekitError, match="notes.txt' exists and is not a saved detector or an empty directory; "
                                         "saving there would replace it. Pass a new path"):
        fitted.save(tmp_path / "notes.txt")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "data.csv").write_text("1,2")
    with pytest.raises(AekitError, match="work' exists and is not a saved detector"):
        fitted.save(tmp_path / "work")
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "work" / "data.csv").read_text() == "1,2"
    (tmp_path / "empty").mkdir()
    fitted.save(tmp_path / "empty")
    # a saved detector is replaced part by part; a report or scores kept beside its parts stay
    (tmp_path / "empty" / "scores.csv").write_text("id,score")
    (tmp_path / "empty" / "member_99").mkdir()  # an old member: the detector's own, so it goes
    fitted.save(tmp_path / "empty")
    assert (tmp_path / "empty" / "scores.csv").read_text() == "id,score"
    assert not (tmp_path / "empty" / "member_99").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "notes.txt", "work"]  # no staging left
    assert AnomalyDetector.load(tmp_path / "empty").threshold_ == fitted.threshold_


def test_load_names_a_missing_detector(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="is not an aekit detector directory"):
        AnomalyDetector.load(tmp_path)
    with pytest.raises(ModelFileError, match="No detector directory at"):
        AnomalyDetector.load(tmp_path / "nowhere")
    (tmp_path / "detector.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelFileError, match="is not valid JSON"):
        AnomalyDetector.load(tmp_path)


def test_a_saved_detector_folder_has_the_permissions_mkdir_gives(fitted, tmp_path) -> None:
    from aekit.io import _UMASK  # the process's umask, read when aekit.io was imported

    fitted.save(tmp_path / "shared")
    assert (tmp_path / "shared").stat().st_mode & 0o777 == 0o777 & ~_UMASK  # not mkdtemp's 0700


def test_load_names_the_missing_part_of_a_detector(fitted, tmp_path) -> None:
    import shutil

    fitted.save(tmp_path / "d")
    shutil.rmtree(tmp_path / "d" / "member_1")
    with pytest.raises(ModelFileError, match=r"^The detector in '.*d' is incomplete: its member_1 cannot be loaded "
                                             r"\(No model directory at .*\)\. Fit and save the detector again\.$"):
        AnomalyDetector.load(tmp_path / "d")
    (tmp_path / "d" / "detector.safetensors").unlink()
    with pytest.raises(ModelFileError, match=r"Cannot read the state file '.*detector.safetensors' \(it is missing\)\. "
                                             r"Write it again: fit, train or save anew\."):
        AnomalyDetector.load(tmp_path / "d")


def test_series_scores_every_time_step_and_keeps_timestamps(sine_series) -> None:
    values, labels = sine_series
    index = pd.date_range("2024-01-01", periods=len(values), freq="h")
    series = pd.Series(values, index=index, name="load")
    detector = AnomalyDetector(window_size=25, window_stride=5, **FAST).fit(series[:380])
    explanation = detector.explain(series)
    assert explanation.scores.shape == (600,)
    assert explanation.feature_names == ["load"]
    assert explanation.index[0] == index[0] and explanation.index[-1] == index[-1]
    assert roc_auc(labels, explanation.scores) > 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scikit-learn notes the array has no column names
        assert detector.decision_function(values).shape == (600,)  # a plain 1-D array works too


@pytest.mark.parametrize(("model", "options"), [
    ("transformer", {"d_model": 16, "num_heads": 2, "num_layers": 1, "patch_size": 5}),
    ("recurrent-series", {"hidden_dim": 16}),
])
def test_window_models_find_the_level_shift(sine_series, model: str, options: dict) -> None:
    values, labels = sine_series
    detector = AnomalyDetector(model=model, model_options=options, window_size=25, window_stride=5,
                               **{**FAST, "max_epochs": 5}).fit(values)
    assert detector.estimators_[0].input_shape_ == (1, 25)  # the models read windows, not flattened rows
    assert roc_auc(labels, detector.decision_scores_) > 0.9


def test_images_get_per_pixel_contributions(digits) -> None:
    images = digits[:240].reshape(-1, 1, 8, 8)
    detector = AnomalyDetector(model="conv", n_estimators=1, max_epochs=3, random_state=0, device="cpu")
    detector.fit(images)
    explanation = detector.explain(images[:5])
    assert detector.kind_ == "image" and detector.error_ == "squared"
    assert explanation.contributions.shape == (5, 64)
    assert explanation.feature_names[9] == "[0,1,1]"
    assert np.isfinite(explanation.scores).all()
    # n_features_in_ counts the values per sample, as AutoEncoder's does, and survives a save; lists score too
    assert detector.n_features_in_ == 64
    assert np.allclose(detector.decision_function(images[:5].tolist()), explanation.scores)
    with pytest.raises(DataError, match=r"fitted on samples of shape \(1, 8, 8\); X has samples of shape \(1, 7, 8\)"):
        detector.decision_function(images[:5, :, :7])


# ------------------------------------------------------------------------------------ bad input, one each
@pytest.mark.parametrize("value", [0, 0.7, -0.1, "auto", True])
def test_contamination_outside_the_range(planted_data, value) -> None:
    X, _ = planted_data
    with pytest.raises(AekitError, match=r"'contamination' parameter of AnomalyDetector must be a float in "
                                         r"\(0, 0.5\]. Got .* Pass the expected share of anomalies"):
        AnomalyDetector(contamination=value).fit(X)


def test_nan_rows_are_named(planted_data) -> None:
    X, _ = planted_data
    X = X.copy()
    X[[3, 7], 1] = np.nan
    with pytest.raises(AekitError, match=r"2 row\(s\) of X contain NaN or Inf \(rows 3, 7, counted from 0\)"):
        AnomalyDetector(**FAST).fit(X)


def test_nan_rows_at_scoring_time(fitted, planted_data) -> None:
    X, _ = planted_data
    X = X[:10].copy()
    X[4, 0] = np.inf
    with pytest.raises(AekitError, match=r"1 row\(s\) of X contain NaN or Inf \(rows 4, counted from 0\)"):
        fitted.decision_function(X)


def test_text_columns_of_a_frame_are_named(fitted, planted_data) -> None:
    X, _ = planted_data
    frame = pd.DataFrame(X, columns=list("abcdef")).assign(city=["x", "y"] * (len(X) // 2), flag=True)
    with pytest.raises(DataError, match=r"^Column\(s\) 'city' of X are not numeric. Drop them or encode them as "
                                        r"numbers \(categories: pandas.get_dummies\).$"):
        AnomalyDetector(**FAST).fit(frame)  # bool columns ('flag') are numbers
    with pytest.raises(DataError, match="Column\\(s\\) 'city' of X are not numeric"):
        fitted.decision_function(frame[["city"]])
    series = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=50, freq="h"), "value": np.arange(50.0)})
    with pytest.raises(DataError, match=r"'timestamp' of X are not numeric. .*; a time column goes in the index: "
                                        r"X.set_index\('timestamp'\).$"):
        AnomalyDetector(window_size=8, **FAST).fit(series)


def test_members_auto_by_kind(tmp_path) -> None:
    fast = {"max_epochs": 1, "device": "cpu", "random_state": 0}
    images = np.random.default_rng(0).random((40, 1, 8, 8))
    detector = AnomalyDetector(**fast).fit(images)
    assert detector.n_estimators_ == len(detector.members_) == 3  # image members are the costly ones
    assert AnomalyDetector(**fast).fit(images.reshape(40, -1)).n_estimators_ == 10
    assert AnomalyDetector(n_estimators=2, **fast).fit(images).n_estimators_ == 2
    series = np.sin(np.arange(60.0))
    assert AnomalyDetector(model="transformer", window_size=8, coarse_factor=1, **fast).fit(series).n_estimators_ == 3
    detector.save(tmp_path / "d")
    assert AnomalyDetector.load(tmp_path / "d").n_estimators_ == 3


def test_a_single_sample(planted_data) -> None:
    X, _ = planted_data
    with pytest.raises(AekitError, match="needs at least 2 samples to fit; got 1 sample"):
        AnomalyDetector(**FAST).fit(X[:1])


def test_constant_columns_are_named_and_left_out(planted_data) -> None:
    X, _ = planted_data
    frame = pd.DataFrame(X, columns=list("abcdef")).assign(flat=3.0, zero=0.0)
    with pytest.warns(UserWarning, match=r"2 feature\(s\) are constant in the training data \('flat', 'zero'\)"):
        detector = AnomalyDetector(**FAST).fit(frame)
    assert detector.constant_features_ == ["flat", "zero"]
    scores = detector.decision_function(frame.assign(flat=99.0))
    assert np.isfinite(scores).all()
    assert "flat" not in detector.explain(frame).feature_names


def test_only_constant_columns(planted_data) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AekitError, match="Every feature of the training data is constant"):
            AnomalyDetector(**FAST).fit(np.ones((20, 3)))


@pytest.mark.parametrize("X", [np.arange(50.0), pd.Series(np.arange(50.0)), list(range(50))])
def test_a_one_dimensional_table_says_how_to_read_it(X) -> None:
    with pytest.raises(DataError, match=r"^X is one-dimensional \(50 values\). Reshape your data with "
                                        r"X.reshape\(-1, 1\) .*, or pass window_size=N \(CLI: --window-size N\)"):
        AnomalyDetector(**FAST).fit(X)


def test_one_row_passed_one_dimensional_is_read_as_a_row_to_reshape(fitted, planted_data) -> None:
    X, _ = planted_data
    with pytest.raises(DataError, match=rf"^X is one-dimensional: {X.shape[1]} values, as many as the detector's "
                                        r"features, so probably one row\. Reshape your data as a row of a 2-D array: "
                                        r"X.reshape\(1, -1\) \(a DataFrame's row: df.iloc\[\[i\]\]\)\.$"):
        fitted.decision_function(X[0])


def test_series_shorter_than_one_window() -> None:
    with pytest.raises(AekitError, match=r"the series has 20 time steps, less than one window of 32. Pass at least 33 "
                                         "steps or a smaller window_size."):
        AnomalyDetector(window_size=32, **FAST).fit(np.arange(20.0))
    detector = AnomalyDetector(window_size=8, coarse_factor=1, **FAST).fit(np.sin(np.arange(60.0)))
    with pytest.raises(AekitError, match=r"The series has 5 time steps, shorter than one window of this detector "
                                         r"\(window_size=8\). Pass a series of at least 8 steps, or fit a detector"):
        detector.decision_function(np.arange(5.0))


def test_a_series_of_one_window_is_too_short_to_fit() -> None:
    with pytest.raises(AekitError) as info:
        AnomalyDetector(window_size=16, window_stride=2, **FAST).fit(np.sin(np.arange(16.0)))
    assert str(info.value) == ("AnomalyDetector needs at least 2 windows to fit; the series has 16 time steps, one "
                               "window of 16. Pass at least 17 steps or a smaller window_size.")


def test_a_stride_longer_than_the_window_is_refused() -> None:
    # windows 8 steps apart of 4 steps each would leave half the steps without a score
    with pytest.raises(AekitError, match=r"^The 'window_stride' parameter of AnomalyDetector must be an int in "
                                         r"\[1, 4\]. Got 8 instead.$"):
        AnomalyDetector(window_size=4, window_stride=8, **FAST).fit(np.arange(100.0))
    edge = AnomalyDetector(window_size=4, window_stride=4, coarse_factor=1, **FAST).fit(np.sin(np.arange(101.0)))
    assert len(edge.decision_scores_) == 101 and np.isfinite(edge.decision_scores_).all()


def test_wrong_number_of_features(fitted, planted_data) -> None:
    X, _ = planted_data
    with pytest.raises(DataError, match="X has 5 features, but AnomalyDetector is expecting 6 features") as error:
        fitted.predict(X[:, :5])
    assert "\n" not in str(error.value)


def test_images_of_another_shape_are_one_line(digits) -> None:
    images = digits[:120].reshape(-1, 1, 8, 8)
    detector = AnomalyDetector(model="conv", n_estimators=1, max_epochs=1, random_state=0, device="cpu").fit(images)
    for other in (digits[:5], digits[:5].reshape(-1, 1, 4, 16)):
        with pytest.raises(DataError, match=r"fitted on samples of shape \(1, 8, 8\); X has samples of shape"):
            detector.decision_function(other)


def test_a_frame_with_other_columns_is_one_line(planted_data) -> None:
    X, _ = planted_data
    names = [f"f{i}" for i in range(X.shape[1])]
    detector = AnomalyDetector(**FAST).fit(pd.DataFrame(X, columns=names))
    with pytest.raises(DataError, match=r"The data \(X\) has the model's columns in another order"):
        detector.decision_function(pd.DataFrame(X, columns=names)[names[::-1]])


def test_values_too_large_to_scale_are_named(fitted, planted_data) -> None:
    X = planted_data[0][:10].copy()
    X[3, 0] = 1e308  # finite, but not once scaled, nor in float32
    with pytest.raises(DataError, match=r"1 row\(s\) of X hold values too large for the model once scaled \(rows 3"):
        fitted.decision_function(X)


def test_a_slice_keeps_its_row_ids(fitted, planted_data) -> None:
    frame = pd.DataFrame(planted_data[0])
    assert fitted.explain(frame.iloc[100:103]).index.tolist() == [100, 101, 102]
    assert fitted.explain(frame.iloc[:3]).index.tolist() == [0, 1, 2]


def test_unknown_model(planted_data) -> None:
    X, _ = planted_data
    with pytest.raises(AekitError, match="Unknown model 'dens'.*Did you mean 'dense'"):
        AnomalyDetector(model="dens").fit(X)


def test_bad_max_samples(planted_data) -> None:
    X, _ = planted_data
    with pytest.raises(AekitError, match="'max_samples' parameter of AnomalyDetector must be 'auto', an int"):
        AnomalyDetector(max_samples=1.5).fit(X)
    assert AnomalyDetector(max_samples=np.float32(0.5), **FAST).fit(X[:100])._n_fit_rows(100) == 50  # NumPy floats


@pytest.mark.parametrize(("name", "value", "expected"), [("lr", -1, "a float in (0, inf]"),
                                                     ("validation_fraction", 1.0, "a float in [0, 1)")])
def test_training_parameters_are_named_as_the_detector_s(planted_data, name, value, expected) -> None:
    X, _ = planted_data  # not as the Trainer's or AutoEncoder's, which the user never called
    with pytest.raises(AekitError) as info:
        AnomalyDetector(**{name: value}).fit(X)
    assert str(info.value) == f"The '{name}' parameter of AnomalyDetector must be {expected}. Got {value} instead."


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_out_of_range_is_refused_as_autoencoder_refuses_it(planted_data, seed) -> None:
    X, _ = planted_data
    with pytest.raises(AekitError, match=rf"^The 'random_state' parameter of AnomalyDetector must be an int in "
                                         rf"\[0, 4294967295\]\. Got {seed} instead\.$"):
        AnomalyDetector(random_state=seed).fit(X)


def test_unfitted_detector() -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        AnomalyDetector().decision_function(np.zeros((3, 2)))


def test_paths_are_pathlike(tmp_path, fitted) -> None:
    assert isinstance(fitted.save(str(tmp_path / "d")), Path)


@pytest.mark.parametrize("error", ["auto", "reconstruction_probability"])
def test_variational_models_are_scored_by_their_likelihood(planted_data, error: str) -> None:
    X, y = planted_data
    detector = AnomalyDetector(model="vae", error=error, **FAST).fit(X)
    # auto: the -log p(x) bound; or -E_q log p(x|z), An and Cho's reconstruction probability; seeded draws
    assert detector.error_ == ("likelihood" if error == "auto" else error)
    explanation = detector.explain(X)
    np.testing.assert_allclose(explanation.offset + explanation.latent + explanation.contributions.sum(axis=1),
                               explanation.scores, rtol=1e-9)
    np.testing.assert_array_equal(detector.decision_function(X), explanation.scores)  # deterministic
    assert roc_auc(y, explanation.scores) > 0.9


def test_the_two_posterior_errors_differ_by_the_code_terms(planted_data) -> None:
    X, _ = planted_data
    member = AnomalyDetector(model="vae", **FAST).fit(X).members_[0].autoencoder
    bound = member.log_likelihood(X[:50], k=1, random_state=0)
    reconstruction = member.log_likelihood(X[:50], k=1, random_state=0, term="reconstruction")
    # the same draw: the ELBO is the reconstruction term plus log p(z) - log q(z|x), a density ratio that is
    # not zero for every row
    assert not np.allclose(bound, reconstruction) and np.isfinite(bound - reconstruction).all()


@pytest.mark.parametrize("error", ["likelihood", "reconstruction_probability"])
def test_likelihood_error_needs_a_posterior(planted_data, error: str) -> None:
    X, _ = planted_data
    with pytest.raises(AekitError, match=f"error='{error}' needs a model with a posterior, like 'vae'"):
        AnomalyDetector(error=error, **FAST).fit(X)


def test_unify_probabilities_and_label_confidence(fitted, planted_data) -> None:
    from scipy.special import erf
    from scipy.stats import binom

    X, _ = planted_data
    X_new = np.vstack([X[:40], X[:1] * 50])
    scores = fitted.decision_function(X_new)
    train = fitted.decision_scores_
    # "unify": Kriegel et al.'s Gaussian scaling against the training scores, as PyOD computes it
    unify = fitted.predict_proba(X_new, method="unify")
    reference = erf((scores - train.mean()) / (train.std() * np.sqrt(2))).clip(0, 1)
    np.testing.assert_allclose(unify[:, 1], reference, atol=1e-12)
    np.testing.assert_allclose(unify.sum(axis=1), 1.0)
    assert unify[-1, 1] == pytest.approx(1.0) and (unify[scores <= train.mean(), 1] == 0).all()
    # ExCeeD, written out one row at a time as PyOD does; m = the training rows the threshold flags
    n, m = len(train), int(fitted.labels_.sum())
    labels, confidence = fitted.predict(X_new, return_confidence=True)
    for score, label, value in zip(scores, labels, confidence):
        outlier = 1 - binom.cdf(n - m, n, (1 + np.count_nonzero(train <= score)) / (2 + n))
        assert value == pytest.approx(outlier if label else 1 - outlier, abs=1e-12)
    np.testing.assert_array_equal(labels, fitted.predict(X_new))
    np.testing.assert_allclose(fitted.predict_confidence(X_new), confidence)
    probability, again = fitted.predict_proba(X_new, method="linear", return_confidence=True)
    np.testing.assert_allclose(again, confidence)
    np.testing.assert_allclose(probability, fitted.predict_proba(X_new))
    # labels far from the threshold are sure, the least sure labels are the ones next to it
    assert confidence[-1] > 0.999 and ((0 <= confidence) & (confidence <= 1)).all()
    nearest = np.argsort(np.abs(scores - fitted.threshold_))[:2]
    assert confidence[nearest].max() < np.median(confidence)


def test_predict_proba_names_a_bad_method(fitted, planted_data) -> None:
    X, _ = planted_data
    with pytest.raises(AekitError, match="'method' parameter of AnomalyDetector.predict_proba must be one of "
                                         "linear, unify"):
        fitted.predict_proba(X[:3], method="logistic")


def test_a_series_going_back_in_time_is_windowed_as_given_with_a_warning(sine_series) -> None:
    # real logs have clock glitches (NAB's machine temperature repeats an hour): rows stay in the order recorded
    values, _ = sine_series
    times = pd.date_range("2024-01-01", periods=len(values), freq="h")
    glitch = pd.Series(values, index=times[np.r_[1, 0, 2:len(values)]])
    with pytest.warns(UserWarning, match=r"^The series' timestamps go back in time at step 1 \(2024-01-01 00:00:00 "
                                         r"after 2024-01-01 01:00:00\); it is windowed in row order, as given\."):
        detector = AnomalyDetector(window_size=16, **FAST).fit(glitch)
    in_order = AnomalyDetector(window_size=16, **FAST).fit(pd.Series(values, index=times))
    np.testing.assert_array_equal(detector.decision_scores_, in_order.decision_scores_)  # the values decide
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a repeated timestamp is not going back
        AnomalyDetector(window_size=16, **FAST).fit(pd.Series(values, index=times.where(
            np.arange(len(values)) != 1, times[0])))


@pytest.mark.parametrize(("shape", "expected"), [
    ((1,), 1), ((2,), 1), ((3,), 2), ((8,), 2), ((40,), 10), ((400,), 16),
    ((2, 3), 5), ((1, 8, 8), 16),  # small images and signals: narrower than their pixels too
])
def test_the_automatic_code_is_narrower_than_the_sample(shape: tuple[int, ...], expected: int) -> None:
    X = np.random.default_rng(0).normal(size=(60, *shape))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in particular, no "can learn the identity" from the autoencoder
        detector = AnomalyDetector(n_estimators=1, max_epochs=1, random_state=0, trim=0).fit(X)
    assert detector.estimators_[0].config_.latent_dim == expected
