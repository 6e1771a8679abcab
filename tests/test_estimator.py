"""aekit.AutoEncoder beyond scikit-learn's checks: units, shapes, pipelines, search, files, errors."""

from __future__ import annotations

import re
import warnings

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


def test_scaled_samples_are_what_the_module_reads(digits, fitted) -> None:
    import torch

    samples = fitted.scaled_samples(digits[:20])
    assert samples.shape == (20, 64) and samples.dtype == np.float32
    assert 0.0 <= samples.min() and samples.max() <= 1.0  # min-max scaled, not 0..16
    with torch.no_grad():
        codes = fitted.model_.encode(torch.from_numpy(samples)).numpy()
    np.testing.assert_allclose(codes, fitted.transform(digits[:20]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="expecting 64 features"):
        fitted.scaled_samples(digits[:3, :10])


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
        ({"model_options": "dropout=0.1"}, "'model_options' parameter of AutoEncoder must be a dict of part options, "
         "e.g. {'dropout': 0.1}. Got 'dropout=0.1' instead."),
        ({"loss": "mae"}, "Unknown likelihood 'mae'"),
        ({"early_stopping": "no"}, "'early_stopping' parameter of AutoEncoder must be True or False. Got 'no'"),
        ({"lr": 0}, "'lr' parameter of AutoEncoder must be a float in (0, inf]. Got 0 instead."),
        ({"optimizer": "adm"}, "'optimizer' parameter of AutoEncoder must be one of adam, adamw, sgd."),
        ({"hidden_dims": 8}, "'hidden_dims' parameter of AutoEncoder must be a list of layer widths"),
        ({"model": "transformer", "hidden_dims": (64,)}, "model 'transformer' has none. Its sizes are options of "
         "their own (d_model, dim_feedforward): pass them as model_options, e.g. {'d_model': 64} "
         "(CLI: --set d_model=64)"),
        ({"random_state": -1}, "'random_state' parameter of AutoEncoder must be an int in [0, 4294967295]"),
        ({"device": "xpu"}, "Device 'xpu' is not supported."),
        ({"device": None}, "Unknown device None."),
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
    assert set(stats) == {name for name in whole if not name.startswith("_")}  # helper values are dropped
    # the means, and the figures that are no mean (entries used, perplexity, active units): as one big batch
    for name in ("code_frequency", "kl", "kl_by_unit", "l0", "codebook_usage", "perplexity", "active_units"):
        if name in stats:
            np.testing.assert_allclose(stats[name], whole[name].double().numpy(), rtol=1e-4, atol=1e-7)
    if "code_frequency" in stats:
        assert stats["code_frequency"].shape == (16,) and stats["code_frequency"].sum() == pytest.approx(1.0)
    assert AutoEncoder(latent_dim=2, **FAST).fit(digits[:100]).bottleneck_stats(digits[:10]) == {}


def _scaled(estimator: AutoEncoder, X: np.ndarray) -> torch.Tensor:
    """``X`` as the model sees it: shaped per sample and scaled."""
    x = torch.as_tensor(X, dtype=torch.float32).reshape(len(X), *estimator.input_shape_)
    return estimator.scaler_.transform(x)


@pytest.mark.parametrize(("model", "options"), [
    ("sparse-l1", {}), ("sparse-kl", {"rho": 0.1, "weight": 1.0}), ("contractive", {"weight": 0.3}),
])
def test_regularizer_stats_are_the_figures_of_the_whole_data_set(digits, model, options) -> None:
    estimator = AutoEncoder(model=model, latent_dim=8, max_epochs=3, batch_size=64, random_state=0,
                            model_options=options).fit(digits[:300])
    X = digits[:600]  # three inference batches: 256, 256, 88 rows
    stats = estimator.bottleneck_stats(X)
    codes = estimator.transform(X).astype(np.float64)  # (600, 8), computed apart from the statistics
    if model == "sparse-l1":
        assert set(stats) == {"l1.l0", "l1.active_fraction", "l1.mean_abs_code"}
        l0 = (codes != 0).sum(1).mean()  # ReLU codes: exact zeros
        assert 0 < l0 < 8
        assert stats["l1.l0"] == pytest.approx(l0, abs=1 / len(X))  # one unit of one row may round across 0
        assert stats["l1.active_fraction"] == pytest.approx(l0 / 8, abs=1 / len(X))
        assert stats["l1.mean_abs_code"] == pytest.approx(np.abs(codes).mean(), rel=1e-4)
    elif model == "sparse-kl":
        rho = 0.1
        rho_hat = codes.mean(0)  # (8,) each unit's mean activation over all 600 rows
        near = np.mean((rho_hat >= rho / 2) & (rho_hat <= 2 * rho))
        kl = np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
        np.testing.assert_allclose(stats["kl_sparsity.mean_activation_by_unit"], rho_hat, rtol=1e-4)
        assert stats["kl_sparsity.mean_activation"] == pytest.approx(rho_hat.mean(), rel=1e-4)
        assert stats["kl_sparsity.rho"] == pytest.approx(rho)
        assert 0 < near < 1 and stats["kl_sparsity.near_rho_fraction"] == near
        assert stats["kl_sparsity.kl"] == pytest.approx(kl, rel=1e-3)
    else:
        net = estimator.model_
        x = _scaled(estimator, X)
        jacobian = torch.autograd.functional.jacobian(lambda v: net.encode(v).sum(0), x)  # (8, 600, 64)
        expected = jacobian.double().square().sum((0, 2)).mean().item()  # mean of ||dz/dx||_F^2 per row
        assert set(stats) == {"contractive.jacobian_frobenius_sq"}
        assert stats["contractive.jacobian_frobenius_sq"] == pytest.approx(expected, rel=1e-4)


def test_code_indices_are_the_nearest_codebook_entries_and_rebuild_the_reconstruction(digits) -> None:
    estimator = AutoEncoder(model="vq-vae", latent_dim=8, max_epochs=3, batch_size=64, random_state=0,
                            model_options={"codebook_size": 16, "dead_code_steps": 5}).fit(digits[:500])
    X = digits[500:800]  # two inference batches
    indices = estimator.code_indices(X)
    assert indices.shape == (300, 2) and indices.dtype == np.int64  # 8 // embedding_dim 4 = 2 vectors per row
    assert len(np.unique(indices)) > 4  # a codebook in use, not a collapsed one
    bottleneck = estimator.model_.bottleneck
    with torch.no_grad():
        z_e = bottleneck.project(estimator.model_.encoder(_scaled(estimator, X))).double().numpy()
    codebook = bottleneck.codebook.numpy()  # (16, 4)
    distances = np.square(z_e.reshape(300, 2, 1, 4) - codebook.astype(np.float64)).sum(-1)  # (300, 2, 16)
    np.testing.assert_array_equal(indices, distances.argmin(-1))
    codes = codebook[indices].reshape(300, 8)  # the chosen entries, one row per sample
    np.testing.assert_allclose(codes, estimator.transform(X), atol=1e-6)
    np.testing.assert_allclose(estimator.inverse_transform(codes), estimator.reconstruct(X), rtol=1e-5, atol=1e-4)


def test_code_indices_need_a_codebook(fitted, digits) -> None:
    with pytest.raises(AekitError, match=re.escape("Model with bottleneck 'deterministic' has no codebook, so "
                                                   "there are no code indices. Use a vector-quantized preset such as "
                                                   "'vq-vae'.")):
        fitted.code_indices(digits[:3])


@pytest.mark.parametrize("call", [
    lambda ae, X: ae.transform(X), lambda ae, X: ae.inverse_transform(X[:, :2]), lambda ae, X: ae.reconstruct(X),
    lambda ae, X: ae.score_samples(X), lambda ae, X: ae.score(X), lambda ae, X: ae.bottleneck_stats(X),
    lambda ae, X: ae.sample(2), lambda ae, X: ae.interpolate(X[0], X[1]), lambda ae, X: ae.log_likelihood(X),
    lambda ae, X: ae.save("never-written"), lambda ae, X: ae.code_indices(X),
], ids=["transform", "inverse_transform", "reconstruct", "score_samples", "score", "bottleneck_stats", "sample",
        "interpolate", "log_likelihood", "save", "code_indices"])
def test_an_unfitted_estimator_says_so(call, tmp_path) -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="This AutoEncoder instance is not fitted yet"):
        call(AutoEncoder(), np.ones((3, 4)))


def test_numpy_numbers_are_parameters_like_any_other(digits, tmp_path) -> None:
    # a grid over np.arange, a learning rate from a float32 array: what search utilities hand over
    search = GridSearchCV(AutoEncoder(max_epochs=2, random_state=0), {"latent_dim": np.arange(2, 4)}, cv=2,
                          error_score="raise").fit(digits[:200])
    assert search.best_params_["latent_dim"] in (2, 3)
    model = AutoEncoder(latent_dim=np.int64(3), hidden_dims=np.array([16]), lr=np.float32(1e-3),
                        batch_size=np.int64(64), max_epochs=np.int64(2), random_state=np.int64(5)).fit(digits[:200])
    model.save(tmp_path / "m", metadata={"auc": np.float32(0.5), "sizes": np.arange(2)})
    loaded = AutoEncoder.load(tmp_path / "m")
    assert loaded.random_state == 5 and loaded.metadata_ == {"auc": 0.5, "sizes": [0, 1]}
    assert model.interpolate(digits[0], digits[1], steps=np.int64(3)).shape == (3, 64)


def test_a_save_that_fails_leaves_the_saved_model_as_it_was(digits, fitted, tmp_path) -> None:
    fitted.save(tmp_path / "m")
    other = AutoEncoder(latent_dim=8, max_epochs=1, random_state=1).fit(digits[:100])
    with pytest.raises(AekitError, match="A value of type object cannot be stored in JSON"):
        other.save(tmp_path / "m", metadata={"note": object()})
    np.testing.assert_array_equal(AutoEncoder.load(tmp_path / "m").transform(digits[:5]), fitted.transform(digits[:5]))
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    with pytest.raises(AekitError, match="nothing can be written inside it"):
        fitted.save(tmp_path / "m" / "config.json" / "x")
    (tmp_path / "afile").write_text("kept")
    for call in (lambda: fitted.save(tmp_path / "afile"),
                 lambda: AutoEncoder(max_epochs=1).fit(digits[:50], run_dir=tmp_path / "afile")):
        with pytest.raises(AekitError, match="a file of that name exists"):
            call()
    assert (tmp_path / "afile").read_text() == "kept"


def test_images_are_read_in_any_layout_of_the_same_pixels(digits, tmp_path) -> None:
    images = digits[:120].reshape(-1, 1, 8, 8).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    from_disk = AutoEncoder(model="conv", latent_dim=4, max_epochs=1, random_state=0).fit(
        np.load(tmp_path / "images.npy", mmap_mode="r"))
    in_memory = AutoEncoder(model="conv", latent_dim=4, max_epochs=1, random_state=0).fit(images)
    for model in (from_disk, in_memory):
        assert model.n_features_in_ == 64
        codes = model.transform(images)
        for layout in (images.reshape(120, 64), images[:, 0]):  # flat rows; 8 x 8 without the channel axis
            np.testing.assert_array_equal(model.transform(layout), codes)
    np.testing.assert_array_equal(model.transform(images[:3].tolist()), codes[:3])  # nested lists
    with pytest.raises(ValueError, match="0 sample"):
        model.transform(images[:0])
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(AutoEncoder.load(tmp_path / "m").transform(images.reshape(120, 64)), codes)


def test_the_same_values_in_another_layout_are_refused(tmp_path) -> None:
    signals = np.random.default_rng(0).normal(size=(60, 2, 16)).astype(np.float32)
    model = AutoEncoder(latent_dim=2, max_epochs=1, random_state=0).fit(signals)
    np.save(tmp_path / "t.npy", signals.transpose(0, 2, 1).copy())
    for wrong in (signals.transpose(0, 2, 1), signals.reshape(60, 2, 4, 4), np.load(tmp_path / "t.npy", mmap_mode="r")):
        with pytest.raises(DataError, match=r"expects samples of shape \(2, 16\) \(or rows of 32 values\)"):
            model.transform(wrong)


def test_values_beyond_float32_are_refused(digits, fitted) -> None:
    bad = digits[:20].copy()
    bad[4, 2] = 1e39  # finite in float64, inf in the model's float32
    for call in (fitted.transform, fitted.score_samples, AutoEncoder(**FAST).fit):
        with pytest.raises(DataError, match=r"beyond float32's range \(up to 1e\+39, first in row 4"):
            call(bad)


def test_a_refit_on_an_unnamed_memmap_forgets_the_column_names(digits, tmp_path) -> None:
    frame = pd.DataFrame(digits[:100, :6], columns=list("abcdef"))
    np.save(tmp_path / "x.npy", digits[:100, :4])
    model = AutoEncoder(latent_dim=2, max_epochs=1).fit(frame).fit(np.load(tmp_path / "x.npy", mmap_mode="r"))
    assert not hasattr(model, "feature_names_in_") and model.n_features_in_ == 4


def test_repeated_column_names_are_refused(digits) -> None:
    with pytest.raises(DataError, match="X has more than one column named 'a'"):
        AutoEncoder(**FAST).fit(pd.DataFrame(digits[:50, :3], columns=["a", "a", "b"]))


def test_zero_rows_give_zero_rows(fitted) -> None:
    assert fitted.inverse_transform(np.zeros((0, 8))).shape == (0, 64)


def test_interpolating_named_rows_checks_their_names(digits) -> None:
    frame = pd.DataFrame(digits[:100, :6], columns=list("abcdef"))
    model = AutoEncoder(latent_dim=2, max_epochs=1).fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        assert model.interpolate(frame.iloc[0], frame.iloc[1], steps=3).shape == (3, 6)
    with pytest.raises(ValueError, match="feature names"):
        model.interpolate(frame.iloc[0].rename(str.upper), frame.iloc[1].rename(str.upper), steps=3)


def test_a_module_saved_alone_loads_as_an_estimator(tmp_path) -> None:
    from aekit import Autoencoder, build_config, save_model

    module = Autoencoder(build_config("dense", input_shape=(6,), latent_dim=2)).eval()
    save_model(tmp_path / "p", module)
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    with torch.no_grad():
        expected = module.encode(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(AutoEncoder.load(tmp_path / "p").transform(x), expected, atol=1e-6)


def test_torchs_default_dtype_does_not_matter(digits) -> None:
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert AutoEncoder(latent_dim=2, max_epochs=1).fit(digits[:50]).transform(digits[:2]).dtype == np.float32
    finally:
        torch.set_default_dtype(default)


def test_the_library_logs_nowhere_unless_the_application_says_so() -> None:
    import logging

    # else Python's last-resort handler prints each aekit warning a second time, beside warnings.warn's copy
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("aekit").handlers)


def test_a_model_loaded_elsewhere_refits_where_it_was_loaded(fitted, tmp_path) -> None:
    import json

    fitted.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["training"]["estimator"]["device"] = "cuda"  # as saved on a GPU machine
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    assert AutoEncoder.load(tmp_path / "m", device="cpu").get_params()["device"] == "cpu"


@pytest.mark.parametrize(("params", "span"), [({"loss": "bce", "scaler": "none"}, r"\[0, 16\]"),
                                              ({"model": "vae", "scaler": "standard"}, r"\[-\d")])
def test_a_bernoulli_loss_refuses_data_outside_0_1(digits, params, span) -> None:
    # BCE clamps its targets: on raw pixel counts the model would silently learn a binarized image
    with pytest.raises(DataError, match=rf"loss='bce' needs values in \[0, 1\], but the training data spans {span}"):
        AutoEncoder(**{**FAST, **params}).fit(digits[:100])
    AutoEncoder(loss="bce", max_epochs=1).fit(digits[:100])  # min-max scaled (the default): fine


def test_cross_entropy_refuses_fractions_and_scalers(digits) -> None:
    # class ids cut to whole numbers: iris' 5.1 would be class 5, min-max scaled pixels all class 0
    with pytest.raises(DataError, match=r"loss='ce' needs whole class ids, but the training data holds fractions "
                                        r"such as 0.5"):
        AutoEncoder(loss="ce", **FAST).fit(digits[:100] + 0.5)
    with pytest.raises(DataError, match=r"loss='ce' reads each value as a class id, which scaler='minmax' would turn "
                                        r"into fractions\. Use scaler='none' \(or 'auto'\)"):
        AutoEncoder(loss="ce", scaler="minmax", **FAST).fit(digits[:100])
    AutoEncoder(loss="ce", **{**FAST, "max_epochs": 1}).fit(digits[:100])  # pixel counts 0..16: class ids


def test_degrade_applies_the_training_corruption_seeded_in_the_callers_units(digits) -> None:
    model = AutoEncoder(model="denoising", **{**FAST, "max_epochs": 1}).fit(digits[:100])
    noisy = model.degrade(digits[:20], random_state=3)
    assert noisy.shape == (20, 64) and np.array_equal(noisy, model.degrade(digits[:20], random_state=3))
    # the model's noise of sigma in scaled units, back in the caller's: divided by each feature's scale again
    sigma = model.model_.corruption.config.sigma
    assert float(np.std((noisy - digits[:20]) / model.scaler_.scale_)) == pytest.approx(sigma, rel=0.15)
    assert not np.array_equal(noisy, model.degrade(digits[:20], random_state=4))
    with pytest.raises(AekitError, match=r"Model 'dense' was trained without a corruption, so it has nothing to "
                                         r"degrade samples with"):
        AutoEncoder(**{**FAST, "max_epochs": 1}).fit(digits[:100]).degrade(digits[:2])


def test_a_validation_split_that_leaves_nothing_to_train_on_is_refused(digits) -> None:
    with pytest.raises(DataError, match=r"validation_fraction=0.999 of 100 samples leaves no rows to train on"):
        AutoEncoder(validation_fraction=0.999, **FAST).fit(digits[:100])


def test_resuming_without_a_fixed_seed_continues_the_checkpoints_split(digits, tmp_path) -> None:
    AutoEncoder(latent_dim=2, max_epochs=2).fit(digits[:200], run_dir=tmp_path)  # random_state=None: a random seed
    resumed = AutoEncoder(latent_dim=2, max_epochs=3).fit(digits[:200], run_dir=tmp_path, resume=True)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3]


def test_batchnorm_with_batches_of_one_row_is_refused_before_training(digits) -> None:
    model = AutoEncoder(**{**FAST, "model_options": {"norm": "batch"}, "batch_size": 1})
    with pytest.raises(AekitError, match=r"A batch must give the process 2 row\(s\) \(BatchNorm\), 2 in all; "
                                         r"batch_size=1 with \d+ training rows cannot"):
        model.fit(digits[:50])


def test_nan_and_inf_are_one_line_naming_the_first_row(digits) -> None:
    bad = digits[:60].copy()
    bad[[7, 9], 3] = [np.nan, np.inf]
    with pytest.raises(AekitError) as info:  # not sklearn's paragraph pointing at HistGradientBoosting
        AutoEncoder(**FAST).fit(bad)
    assert str(info.value) == ("The data has 2 NaN/Inf value(s), first in row 7 (counting from 0; X). Remove or impute "
                               "them first.")
    fitted = AutoEncoder(**FAST).fit(digits[:60])
    for method in (fitted.transform, fitted.reconstruct, fitted.score_samples):
        with pytest.raises(AekitError, match=r"^The data has 2 NaN/Inf value\(s\), first in row 7"):
            method(bad)


# ------------------------------------------------------------------- QA: a module saved alone, damaged files
def test_a_hand_saved_module_loads_with_the_params_that_rebuild_it(tmp_path) -> None:
    from sklearn.base import clone

    from aekit import Autoencoder, build_config, save_model

    cases = [("vae", {}, None), ("dense", {"backbone.hidden_dims": [16]}, None),
             ("sparse-l1", {"l1.weight": 0.5}, "l1")]
    X = np.random.default_rng(0).random((40, 10))
    for i, (preset, options, loss) in enumerate(cases):
        module = Autoencoder(build_config(preset, input_shape=(10,), latent_dim=3, options=options, likelihood=loss))
        loaded = AutoEncoder.load(save_model(tmp_path / str(i), module))
        params = loaded.get_params()
        assert (params["model"], params["latent_dim"], params["model_options"], params["loss"], params["scaler"]) \
            == (preset, 3, options or None, loss, "none")  # the module reads its inputs as they come
        refit = clone(loaded).set_params(max_epochs=1, random_state=0).fit(X)
        assert refit.model_.settings() == module.settings()


def test_load_casts_float64_weights_to_float32_without_a_warning(tmp_path) -> None:
    import warnings

    from aekit import Autoencoder, AutoencoderConfig, save_model

    module = Autoencoder(AutoencoderConfig((6,), 2)).double()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = AutoEncoder.load(save_model(tmp_path / "m", module))
    assert next(loaded.model_.parameters()).dtype == torch.float32
    assert loaded.transform(np.zeros((2, 6), np.float32)).shape == (2, 2)


def test_a_hand_saved_module_no_preset_builds_refuses_to_fit(tmp_path) -> None:
    from sklearn.base import clone

    from aekit import Autoencoder, AutoencoderConfig, PartSpec, save_model

    module = Autoencoder(AutoencoderConfig((6,), 2, regularizers=(PartSpec("l1"), PartSpec("contractive"))))
    loaded = AutoEncoder.load(save_model(tmp_path / "m", module))
    assert loaded.get_params()["model"] is None and loaded.get_params()["latent_dim"] == 2
    assert loaded.transform(np.zeros((2, 6), np.float32)).shape == (2, 2)  # inference works as before
    for estimator in (loaded, clone(loaded)):
        with pytest.raises(AekitError, match=r"model=None: no preset to build, so fit cannot build a model. Pass a "
                                             r"preset name \(see aekit.list_models\(\)\); an estimator loaded from a "
                                             r"module saved with aekit.save_model that no preset builds has "
                                             r"model=None and can transform but not fit"):
            estimator.fit(np.random.default_rng(0).random((20, 6)))
    with pytest.raises(AekitError, match=r"model=None: no preset to build, so fit cannot build a model. Pass a "
                                         r"preset name"):
        AutoEncoder(model=None).fit(np.random.default_rng(0).random((20, 6)))


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        ("training", {"estimator": [1]}, r"has training.estimator: \[1\], not the estimator's parameters"),
        ("data", {"input_shape": "abc"}, r"has data.input_shape: \"abc\", not a shape of the model's 6 input values "
                                         r"such as \[6\]; the file was edited. Restore it or save the model again."),
        ("data", {"input_shape": [2, 2]}, r"has data.input_shape: \[2, 2\], not a shape"),
        ("data", {"flat_input": "yes"}, r"has data.flat_input: \"yes\", which does not describe"),
        ("data", {"feature_names_in": ["a"]}, r"has data.feature_names_in: \[\"a\"\], which does not describe this "
                                              r"model's 6 input values"),
    ],
)
def test_damaged_estimator_sections_name_the_field(tmp_path, section: str, value: object, message: str) -> None:
    import json

    from aekit.errors import ModelFileError

    path = AutoEncoder(latent_dim=2, max_epochs=1, random_state=0).fit(np.random.default_rng(0).random((20, 6))
                                                                       ).save(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    config[section].update(value)
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=message):
        AutoEncoder.load(path)


def test_an_estimator_stopped_mid_warm_up_equals_its_saved_copy(tmp_path) -> None:
    X = np.random.default_rng(0).random((64, 10))
    fitted = AutoEncoder("vae", latent_dim=2, model_options={"warmup": 1.0}, max_epochs=1, batch_size=16,
                         validation_fraction=0.0, random_state=0).fit(X)
    loaded = AutoEncoder.load(fitted.save(tmp_path / "m"))
    x = torch.from_numpy(fitted.scaler_.transform(X[:8]).astype(np.float32))
    with torch.no_grad():
        assert torch.equal(fitted.model_(x).loss, loaded.model_(x).loss)
