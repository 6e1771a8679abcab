"""aekit.AutoEncoder beyond scikit-learn's checks: units, shapes, pipelines, search, files, errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aekit import AutoEncoder
from aekit.errors import AekitError, DataError

FAST = dict(max_epochs=15, batch_size=64, random_state=0)


@pytest.fixture(scope="module")
def fitted(digits) -> AutoEncoder:
    return AutoEncoder(latent_dim=8, **FAST).fit(digits)


def test_beats_pca_at_the_same_code_size(digits, fitted) -> None:
    pca = PCA(8).fit(digits)
    pca_mse = np.mean((pca.inverse_transform(pca.transform(digits)) - digits) ** 2)
    ae_mse = -fitted.score_samples(digits).mean()
    assert ae_mse < pca_mse


def test_outputs_in_the_callers_units_and_shapes(digits, fitted) -> None:
    codes = fitted.transform(digits)
    assert codes.shape == (len(digits), 8) and codes.dtype == np.float32
    recon = fitted.reconstruct(digits)
    assert recon.shape == digits.shape
    assert 0 <= recon.mean() <= 16 and abs(recon.mean() - digits.mean()) < 1.0  # raw 0..16 units, not [0, 1]
    np.testing.assert_allclose(fitted.inverse_transform(codes), recon, atol=1e-5)
    expected = -((recon - digits) ** 2).mean(axis=1)
    np.testing.assert_allclose(fitted.score_samples(digits), expected, rtol=1e-4, atol=1e-5)
    assert fitted.score(digits) == pytest.approx(expected.mean(), rel=1e-4)


def test_transform_is_deterministic_and_row_independent(digits, fitted) -> None:
    full = fitted.transform(digits)
    assert np.array_equal(full, fitted.transform(digits))
    assert np.array_equal(full[17:18], fitted.transform(digits[17:18]))


def test_same_random_state_same_model(digits) -> None:
    a = AutoEncoder(latent_dim=3, **{**FAST, "max_epochs": 3}).fit(digits)
    b = AutoEncoder(latent_dim=3, **{**FAST, "max_epochs": 3}).fit(digits)
    assert np.array_equal(a.transform(digits), b.transform(digits))


def test_conv_on_flat_square_images_and_on_image_arrays(digits) -> None:
    flat = AutoEncoder("conv", latent_dim=4, **{**FAST, "max_epochs": 2}).fit(digits)
    assert flat.input_shape_ == (1, 8, 8) and flat.reconstruct(digits).shape == digits.shape
    assert flat.inverse_transform(flat.transform(digits[:3])).shape == (3, 64)
    images = digits.reshape(-1, 1, 8, 8)
    shaped = AutoEncoder("conv", latent_dim=4, **{**FAST, "max_epochs": 2}).fit(images)
    assert shaped.reconstruct(images[:5]).shape == (5, 1, 8, 8)
    assert shaped.inverse_transform(shaped.transform(images[:2])).shape == (2, 1, 8, 8)


def test_conv_needs_a_shape_for_non_square_rows() -> None:
    with pytest.raises(AekitError, match=re.escape(
            "Model 'conv' needs samples shaped as signals or windows (channels, length) or images (channels, height, "
            "width), but the data's samples have shape (10,). Pass input_shape, e.g. input_shape=(1, H, W).")):
        AutoEncoder("conv", max_epochs=1).fit(np.random.rand(10, 10))
    with pytest.raises(AekitError, match=re.escape(  # windows of a series given to the text model
            "Model 'recurrent' needs samples shaped as rows (n_features,), but the data's samples have shape (1, 16). "
            "Pick a model for these samples: see 'aekit list-models'.")):
        AutoEncoder("recurrent", max_epochs=1).fit(np.random.rand(10, 1, 16))
    model = AutoEncoder("conv", latent_dim=2, input_shape=(2, 5), max_epochs=1).fit(np.random.rand(10, 10))
    assert model.input_shape_ == (2, 5)


def test_pipeline_and_grid_search(digits) -> None:
    pipe = make_pipeline(StandardScaler(), AutoEncoder(latent_dim=4, **{**FAST, "max_epochs": 3}))
    assert pipe.fit_transform(digits[:300]).shape == (300, 4)
    search = GridSearchCV(AutoEncoder(**{**FAST, "max_epochs": 40}), {"latent_dim": [2, 16]}, cv=2)
    search.fit(digits[:400])
    assert search.best_params_ == {"latent_dim": 16}  # a bigger code reconstructs better


def test_dataframe_feature_names_kept(digits) -> None:
    frame = pd.DataFrame(digits[:200], columns=[f"px{i}" for i in range(64)])
    model = AutoEncoder(latent_dim=2, **{**FAST, "max_epochs": 2}).fit(frame)
    assert list(model.feature_names_in_) == list(frame.columns)


def test_codes_are_named_and_come_out_as_dataframes(digits) -> None:
    frame = pd.DataFrame(digits[:200], columns=[f"px{i}" for i in range(64)], index=[f"r{i}" for i in range(200)])
    pipe = make_pipeline(StandardScaler(), AutoEncoder(latent_dim=3, **{**FAST, "max_epochs": 2}))
    codes = pipe.set_output(transform="pandas").fit(frame).transform(frame)
    assert isinstance(codes, pd.DataFrame) and list(codes.columns) == ["autoencoder0", "autoencoder1", "autoencoder2"]
    assert list(codes.index) == list(frame.index)
    np.testing.assert_array_equal(codes.to_numpy(), pipe[-1].set_output(transform="default").transform(
        pipe[0].transform(frame)))
    assert list(pipe.get_feature_names_out()) == list(codes.columns)


def test_save_and_load_round_trip(digits, fitted, tmp_path) -> None:
    fitted.save(tmp_path / "m", metadata={"source": "digits"})
    loaded = AutoEncoder.load(tmp_path / "m")
    assert np.array_equal(loaded.transform(digits), fitted.transform(digits))
    assert np.array_equal(loaded.reconstruct(digits), fitted.reconstruct(digits))
    assert loaded.get_params()["latent_dim"] == 8 and loaded.metadata_ == {"source": "digits"}
    assert loaded.history_ == fitted.history_


def test_memmap_input_trains_without_loading_everything(digits, tmp_path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, digits.astype(np.float32))
    mapped = np.load(path, mmap_mode="r")
    model = AutoEncoder(latent_dim=2, **{**FAST, "max_epochs": 2}).fit(mapped)
    assert model.transform(mapped).shape == (len(digits), 2)


def test_scaler_fitted_on_training_split_only(digits) -> None:
    data = digits.copy()
    model = AutoEncoder(latent_dim=2, validation_fraction=0.5, **{**FAST, "max_epochs": 1})
    model.fit(data)
    assert model.scaler_.n_samples_seen_ == model.n_train_samples_ == len(data) - round(len(data) * 0.5)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"latent_dim": 0}, "'latent_dim' parameter of AutoEncoder must be an int in [1, inf]. Got 0 instead."),
        ({"validation_fraction": 1.0}, "'validation_fraction' parameter of AutoEncoder must be a float in [0, 1)"),
        ({"scaler": "minmx"}, "Did you mean 'minmax'?"),
        ({"model": "dens"}, "Unknown model 'dens'"),
        ({"model_options": {"dropuot": 0.1}}, "Did you mean 'dropout'?"),
        ({"loss": "mae"}, "Unknown likelihood 'mae'"),
    ],
)
def test_bad_parameters(digits, params: dict, message: str) -> None:
    with pytest.raises(AekitError) as info:
        AutoEncoder(**{**FAST, **params}).fit(digits[:50])
    assert message in str(info.value)


def test_wrong_feature_count_after_fit(digits, fitted) -> None:
    with pytest.raises(ValueError, match="X has 63 features, but AutoEncoder is expecting 64"):
        fitted.transform(digits[:, :63])


def test_nan_input_is_refused(digits) -> None:
    bad = digits.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        AutoEncoder(**FAST).fit(bad)


def test_nan_in_a_memmap_names_the_row(digits, tmp_path) -> None:
    bad = digits.astype(np.float32)
    bad[7, 1] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(DataError, match="first in row 7"):
        AutoEncoder(**FAST).fit(np.load(tmp_path / "bad.npy", mmap_mode="r"))


def test_inverse_transform_checks_code_shape(fitted) -> None:
    with pytest.raises(AekitError, match=r"codes of shape \(n_samples, 8\)"):
        fitted.inverse_transform(np.zeros((2, 3)))


@pytest.mark.parametrize(("model", "options"), [("vq-vae", {"codebook_size": 16}), ("vae", {}), ("topk", {"k": 3})])
def test_bottleneck_stats_average_over_batches_like_one_big_batch(digits, model, options) -> None:
    estimator = AutoEncoder(model=model, latent_dim=8, max_epochs=1, model_options=options, **{
        k: v for k, v in FAST.items() if k != "max_epochs"}).fit(digits[:300])
    X = digits[:600]  # three inference batches: 256, 256, 88 rows
    stats = estimator.bottleneck_stats(X)
    with torch.no_grad():
        x = torch.as_tensor(X, dtype=torch.float32).reshape(len(X), *estimator.input_shape_)
        whole = estimator.model_(estimator.scaler_.transform(x)).stats
    assert set(stats) == set(whole)
    for name in ("code_frequency", "kl", "kl_by_unit", "l0"):
        if name in stats:
            np.testing.assert_allclose(stats[name], whole[name].double().numpy(), rtol=1e-4, atol=1e-7)
    if "code_frequency" in stats:
        assert stats["code_frequency"].shape == (16,) and stats["code_frequency"].sum() == pytest.approx(1.0)
    assert AutoEncoder(latent_dim=2, **FAST).fit(digits[:100]).bottleneck_stats(digits[:10]) == {}


@pytest.mark.parametrize("call", [
    lambda ae, X: ae.transform(X), lambda ae, X: ae.inverse_transform(X[:, :2]), lambda ae, X: ae.reconstruct(X),
    lambda ae, X: ae.score_samples(X), lambda ae, X: ae.score(X), lambda ae, X: ae.bottleneck_stats(X),
    lambda ae, X: ae.sample(2), lambda ae, X: ae.interpolate(X[0], X[1]), lambda ae, X: ae.log_likelihood(X),
    lambda ae, X: ae.save("never-written"),
], ids=["transform", "inverse_transform", "reconstruct", "score_samples", "score", "bottleneck_stats", "sample",
        "interpolate", "log_likelihood", "save"])
def test_an_unfitted_estimator_says_so(call, tmp_path) -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="This AutoEncoder instance is not fitted yet"):
        call(AutoEncoder(), np.ones((3, 4)))
