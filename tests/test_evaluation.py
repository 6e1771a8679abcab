"""Evaluation: metrics against hand computation, PCA baseline against sklearn, sweeps, tables, plots."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from aekit import AutoEncoder
from aekit.errors import AekitError
from aekit.evaluation import (
    compare_features,
    compare_with_pca,
    format_table,
    pca_baseline,
    reconstruction_metrics,
    sweep,
    sweep_plot,
    token_metrics,
)

FAST = {"model": "conv", "max_epochs": 2, "batch_size": 64, "random_state": 0, "device": "cpu"}


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X = load_digits().images[:, None].astype(np.float32)  # (1797, 1, 8, 8), 0..16
    return X[:240], X[240:300]


@pytest.fixture(scope="module")
def labelled() -> tuple[AutoEncoder, np.ndarray, np.ndarray, np.ndarray]:
    """A small dense autoencoder fitted on 600 digits, and 400 held-out digits with their labels."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    fitted = AutoEncoder(model="dense", latent_dim=6, max_epochs=15, batch_size=64, random_state=0, device="cpu")
    return fitted.fit(X[:600]), X[:600], X[600:1000], y[600:1000]


# ------------------------------------------------------------------------------------------ metrics
def test_metrics_match_hand_computation() -> None:
    X = np.zeros((2, 1, 2, 2))
    X[0, 0, 0, 0] = 10.0  # data range 10
    X_hat = X.copy()
    X_hat[0] += 1.0  # image 0: every error 1 -> mse_0 = 1
    X_hat[1, 0, 0, 0] = 2.0  # image 1: one error 2 of 4 pixels -> mse_1 = 1
    metrics = reconstruction_metrics(X, X_hat, image=True)
    assert metrics["mse"] == pytest.approx((4 * 1 + 4) / 8)
    assert metrics["mae"] == pytest.approx((4 * 1 + 2) / 8)
    assert metrics["psnr"] == pytest.approx(10 * math.log10(10**2 / 1.0))  # 20 dB for both images


def test_psnr_is_averaged_per_image_not_pooled() -> None:
    X = np.zeros((2, 4))
    X_hat = np.zeros((2, 4))
    X_hat[0] = 1.0  # mse_0 = 1
    X_hat[1] = 0.1  # mse_1 = 0.01
    psnr = reconstruction_metrics(X, X_hat, data_range=1.0, image=True)["psnr"]
    assert psnr == pytest.approx((0.0 + 20.0) / 2)  # not 10 log10(1 / 0.505)


def test_no_psnr_for_non_images_and_exact_reconstruction_is_infinite() -> None:
    X = np.arange(12.0).reshape(3, 4)
    assert set(reconstruction_metrics(X, X + 1, image=False)) == {"mse", "mae"}
    assert reconstruction_metrics(X, X, image=True)["psnr"] == math.inf


def test_metric_errors_show_the_offending_values() -> None:
    with pytest.raises(AekitError, match=r"same shape. Got \(2, 3\) and \(2, 4\)"):
        reconstruction_metrics(np.zeros((2, 3)), np.zeros((2, 4)), image=False)
    with pytest.raises(AekitError, match="X is constant"):
        reconstruction_metrics(np.ones((2, 3)), np.zeros((2, 3)), image=True)
    with pytest.raises(AekitError, match="'X' contains NaN or Inf. Drop or impute"):
        reconstruction_metrics(np.array([[np.nan]]), np.zeros((1, 1)), image=False)
    with pytest.raises(AekitError, match="'X_hat' contains NaN or Inf. Drop or impute"):
        reconstruction_metrics(np.zeros((1, 1)), np.array([[np.nan]]), image=False)


def test_a_model_that_reconstructs_nan_is_blamed_not_the_data(images) -> None:
    X_train, X_test = images
    estimator = AutoEncoder(latent_dim=2, max_epochs=1).fit(X_train)
    with torch.no_grad():
        next(estimator.model_.parameters()).fill_(float("nan"))  # as after a diverged run
    with pytest.raises(AekitError, match="The model's reconstructions contain NaN or Inf: its weights diverged"):
        compare_with_pca(estimator, X_train, X_test, image=False)


def test_token_metrics_score_only_non_pad_positions() -> None:
    X = np.array([[5, 6, 7, 1, 0, 0], [5, 5, 1, 0, 0, 0], [8, 1, 0, 0, 0, 0]], dtype=np.float32)  # 0: padding
    X_hat = np.array([[5, 6, 9, 1, 4, 4], [5, 5, 1, 0, 3, 0], [8, 1, 0, 0, 0, 0]], dtype=np.float32)
    metrics = token_metrics(X, X_hat)  # 9 scored positions, one wrong (the 7); padding is never scored
    assert metrics == {"token_accuracy": 8 / 9, "exact_rows": 2 / 3}
    every = token_metrics(X, X_hat, ignore_index=None)  # 18 positions: the 7 and three pads are wrong
    assert every == {"token_accuracy": 14 / 18, "exact_rows": 1 / 3}


def test_token_metrics_need_rows_of_one_shape() -> None:
    with pytest.raises(AekitError, match=r"rows of token ids of one shape.*Got \(2, 3\) and \(2, 4\)"):
        token_metrics(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(AekitError, match=r"rows of token ids.*Got \(2, 3, 1\)"):
        token_metrics(np.ones((2, 3, 1)), np.ones((2, 3, 1)))


# ---------------------------------------------------------------------------------------------- PCA
def test_pca_baseline_equals_sklearn_reconstruction(images) -> None:
    X_train, X_test = images
    flat_train, flat_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    pca = PCA(n_components=5).fit(flat_train.astype(np.float64))
    expected = pca.inverse_transform(pca.transform(flat_test.astype(np.float64)))
    result = pca_baseline(X_train, X_test, 5, image=True)
    assert result["n_components"] == 5
    assert result["mse"] == pytest.approx(np.mean((expected - flat_test) ** 2), rel=1e-9)
    assert result["mae"] == pytest.approx(np.mean(np.abs(expected - flat_test)), rel=1e-9)
    assert result["psnr"] == pytest.approx(
        reconstruction_metrics(X_test, expected.reshape(X_test.shape), image=True)["psnr"])


def test_pca_components_are_clipped_and_reported() -> None:
    rng = np.random.default_rng(0)
    X_train, X_test = rng.normal(size=(6, 10)), rng.normal(size=(3, 10))
    result = pca_baseline(X_train, X_test, 50)
    assert result["n_components"] == 6
    with pytest.raises(AekitError, match="n_components.*Got 0"):
        pca_baseline(X_train, X_test, 0)
    with pytest.raises(AekitError, match="same number of features. Got 10 and 9"):
        pca_baseline(X_train, X_test[:, :9], 2)


def test_compare_with_pca_rows(images) -> None:
    X_train, X_test = images
    estimator = AutoEncoder(latent_dim=3, **FAST).fit(X_train)
    rows = compare_with_pca(estimator, X_train, X_test, image=True)
    assert [r["method"] for r in rows] == ["autoencoder (conv)", "PCA"]
    assert [r["code_size"] for r in rows] == [3, 3]
    ae_hat = estimator.reconstruct(X_test)
    expected = reconstruction_metrics(X_test, ae_hat, image=True)
    assert rows[0]["mse"] == pytest.approx(expected["mse"]) and rows[0]["psnr"] == pytest.approx(expected["psnr"])
    assert rows[1] == {"method": "PCA", "code_size": 3, **{k: pytest.approx(v) for k, v in
                                                          pca_baseline(X_train, X_test, 3, image=True).items()
                                                          if k != "n_components"}}


def test_compare_with_pca_scores_restoration_against_a_clean_reference(images) -> None:
    X_train, clean = images
    noisy = clean + np.random.default_rng(0).normal(0.0, 2.0, clean.shape).astype(np.float32)
    estimator = AutoEncoder(latent_dim=3, **FAST).fit(X_train)
    rows = compare_with_pca(estimator, X_train, noisy, image=True, reference=clean)
    assert [r["method"] for r in rows] == ["autoencoder (conv)", "PCA", "input as is (no restoration)"]
    assert [r["code_size"] for r in rows] == [3, 3, None]
    data_range = float(np.ptp(clean))  # the clean data's range: the one every row is scored against
    expected = reconstruction_metrics(clean, estimator.reconstruct(noisy), image=True, data_range=data_range)
    assert rows[0]["mse"] == pytest.approx(expected["mse"]) and rows[0]["psnr"] == pytest.approx(expected["psnr"])
    pca = PCA(3, random_state=0).fit(X_train.reshape(len(X_train), -1))
    restored = pca.inverse_transform(pca.transform(noisy.reshape(len(noisy), -1))).reshape(clean.shape)
    assert rows[1]["mse"] == pytest.approx(float(np.mean((restored - clean) ** 2)), rel=1e-5)
    assert rows[2]["mse"] == pytest.approx(float(np.mean((noisy.astype(np.float64) - clean) ** 2)))
    with pytest.raises(AekitError, match=r"the inputs have shape \(60, 1, 8, 8\), the reference \(59, 1, 8, 8\)\. "
                                         r"Pass the clean versions of exactly the input rows"):
        compare_with_pca(estimator, X_train, noisy, image=True, reference=clean[:59])


# -------------------------------------------------------------------------------------------- sweep
def test_sweep_rows_for_two_code_sizes(images, tmp_path) -> None:
    X_train, X_test = images
    rows = sweep(X_train, X_test, [2, 4], estimator_params=FAST, image=False)
    assert [r["latent_dim"] for r in rows] == [2, 4]
    assert all(set(r) == {"latent_dim", "pca_components", "ae_mse", "pca_mse", "ae_mae", "pca_mae"} for r in rows)
    assert [r["pca_components"] for r in rows] == [2, 4]
    assert all(math.isfinite(v) and v > 0 for r in rows for v in r.values())
    assert rows[1]["pca_mse"] < rows[0]["pca_mse"]  # more components, less error
    path = sweep_plot(rows, tmp_path / "elbow.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["elbow.png"]  # written atomically: no temp file left


def test_sweep_says_when_pca_runs_out_of_components(images) -> None:
    X_train, X_test = images
    rows = sweep(X_train[:5], X_test, [8], estimator_params=FAST, image=False)
    assert rows[0]["latent_dim"] == 8 and rows[0]["pca_components"] == 5  # min(n_samples, n_features)


@pytest.mark.parametrize("dims, shown", [([4, 0], "Got 0"), ([2, 2.5], "Got 2.5"), ([True], "Got True"),
                                         ([], r"Got \[\]"), ([3, 3], r"Got \[3, 3\]")])
def test_sweep_rejects_bad_latent_dims(images, dims, shown) -> None:
    X_train, X_test = images
    with pytest.raises(AekitError, match=f"latent_dims.*{shown}"):
        sweep(X_train, X_test, dims, estimator_params=FAST, image=False)


def test_sweep_rejects_bad_estimator_params(images) -> None:
    X_train, X_test = images
    with pytest.raises(AekitError, match="Unknown AutoEncoder parameter 'max_epoch'.*Did you mean 'max_epochs'"):
        sweep(X_train, X_test, [2], estimator_params={"max_epoch": 2}, image=False)
    with pytest.raises(AekitError, match="must not set 'latent_dim'"):
        sweep(X_train, X_test, [2], estimator_params={"latent_dim": 2}, image=False)


# -------------------------------------------------------------------------------------------- table
def test_format_table_aligns_columns() -> None:
    rows = [{"method": "autoencoder (conv)", "code_size": 8, "mse": 2.94767},
            {"method": "PCA", "code_size": 8, "mse": 6.3, "psnr": 20.0}]
    lines = format_table(rows).split("\n")
    assert lines[0].split() == ["method", "code_size", "mse", "psnr"]
    assert set(lines[1]) == {"-", " "}
    assert lines[2].startswith("autoencoder (conv)  ") and lines[3].startswith("PCA  ")
    assert "2.948" in lines[2] and "6.300" in lines[3] and "20.00" in lines[3]
    # numbers are right-aligned: header and values of a column end at the same place
    assert lines[0].index("mse") + 3 == lines[2].index("2.948") + 5 == lines[3].index("6.300") + 5
    assert lines[0].index("code_size") + 9 == lines[2].index(" 8 ") + 2 == lines[3].index(" 8 ") + 2
    assert lines[2].endswith("2.948")  # missing psnr cell is blank and trailing space stripped
    assert format_table([]) == ""


# ----------------------------------------------------------------------------------------- features
def test_compare_features_rows_are_sklearn_measures_on_each_feature_set(labelled) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ae, X_train, X_test, y_test = labelled
    rows = compare_features(ae, X_train, X_test, y_test, random_state=3)
    assert [r["method"] for r in rows] == ["autoencoder (dense)", "PCA", "input as is"]
    assert [r["code_size"] for r in rows] == [6, 6, 64]
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=3)
    inputs = ae.scaled_samples(X_test).astype(np.float64)  # as the model reads them: min-max scaled
    pca = PCA(n_components=6, random_state=0).fit(ae.scaled_samples(X_train))
    for row, features in zip(rows, (ae.transform(X_test), pca.transform(inputs), inputs)):
        linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        assert row["linear_accuracy"] == pytest.approx(cross_val_score(linear, features, y_test, cv=folds).mean())
        knn = cross_val_score(KNeighborsClassifier(n_neighbors=5), features, y_test, cv=folds).mean()
        assert row["knn_accuracy"] == pytest.approx(knn)
    assert rows[0]["trustworthiness"] == pytest.approx(trustworthiness(inputs, ae.transform(X_test), n_neighbors=5))
    assert rows[2]["trustworthiness"] is None  # the inputs' own neighbours: 1 by definition
    assert rows == compare_features(ae, X_train, X_test, y_test, random_state=3)  # seeded: same figures again
    assert rows[0]["knn_accuracy"] > 0.5 and rows[2]["knn_accuracy"] > 0.9  # ten classes: chance is 0.1


def test_compare_features_takes_string_labels_and_draws_a_stratified_subsample(labelled) -> None:
    ae, X_train, X_test, y_test = labelled
    words = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y_test]
    rows = compare_features(ae, X_train, X_test, words, max_samples=100)
    assert all(0.0 <= r["linear_accuracy"] <= 1.0 and 0.0 <= r["knn_accuracy"] <= 1.0 for r in rows)
    assert rows != compare_features(ae, X_train, X_test, words, max_samples=100, random_state=1)  # another draw


def test_compare_features_gives_text_models_their_own_row_only() -> None:
    ids = np.random.default_rng(0).integers(1, 6, size=(40, 7)).astype(np.float32)
    ids[:20, 0] = 1  # two classes told apart by the first token
    ids[20:, 0] = 5
    text = AutoEncoder(model="recurrent", latent_dim=4, max_epochs=2, model_options={"num_classes": 6},
                       random_state=0, device="cpu").fit(ids)
    rows = compare_features(text, ids, ids, np.repeat([0, 1], 20))
    assert [r["method"] for r in rows] == ["autoencoder (recurrent)"] and set(rows[0]) == {
        "method", "code_size", "linear_accuracy", "knn_accuracy"}


@pytest.mark.parametrize(("labels", "shown"), [
    (np.zeros(400), "The labels hold one class (0.0); telling classes apart needs at least two"),
    (np.array(["cat"] * 400, dtype=object), "The labels hold one class ('cat'); telling classes apart needs"),
    (np.where(np.arange(400) == 3, np.nan, np.arange(400) % 2), "The labels have no value for sample 3 (NaN or None;"),
    (np.array([1, "a"] * 200, dtype=object), "The labels must be class labels of one type, all ints or all strings;"),
    (np.linspace(0, 1, 400), "The labels must be classes (ints or strings), not continuous values"),
    (np.arange(399) % 3, "The labels must be one class label per sample: 400 samples, labels of shape (399,)"),
    (np.r_[np.zeros(399, dtype=int), 1],
     "Every class needs at least 2 samples for cross-validation; class '1' has only 1"),
])
def test_compare_features_refuses_labels_it_cannot_score(labelled, labels, shown) -> None:
    ae, X_train, X_test, _ = labelled
    with pytest.raises(AekitError, match="^" + re.escape(shown)):
        compare_features(ae, X_train, X_test, labels)


def test_the_draw_keeps_two_samples_of_every_class(labelled) -> None:
    ae, X_train, X_test, _ = labelled
    rare = np.r_[["A"] * 2, ["B"] * 199, ["C"] * 199]  # A would fall to 0 or 1 in a plain stratified draw of 100
    assert len(compare_features(ae, X_train, X_test, rare, max_samples=100)) == 3
    with pytest.raises(AekitError, match=r"^max_samples=20 cannot hold 2 samples of each of the labels' 40 classes. "
                                         r"Pass max_samples=80 or more"):
        compare_features(ae, X_train, X_test, np.arange(400) % 40, max_samples=20)


def test_compare_features_refuses_bad_settings_and_data(labelled) -> None:
    ae, X_train, X_test, y_test = labelled
    with pytest.raises(AekitError, match="The 'cv' parameter of compare_features must be an int in \\[2, "):
        compare_features(ae, X_train, X_test, y_test, cv=1)
    bad = X_test.copy()
    bad[3, 5] = np.nan
    with pytest.raises(AekitError, match="The data has 1 NaN/Inf value"):  # the estimator's own check
        compare_features(ae, X_train, bad, y_test)


def test_compare_features_reads_tables_by_column_name() -> None:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    ae = AutoEncoder(latent_dim=2, max_epochs=5, random_state=0, device="cpu").fit(X)
    assert len(compare_features(ae, X, X, y)) == 3
    with pytest.raises(ValueError, match="feature names"):  # columns in another order: refused, not misread
        compare_features(ae, X, X[X.columns[::-1]], y)
    assert [r["method"] for r in compare_with_pca(ae, X, X, image=False)] == ["autoencoder (dense)", "PCA"]
    with pytest.raises(ValueError, match="feature names"):  # the reconstruction comparison reads them alike
        compare_with_pca(ae, X, X[X.columns[::-1]], image=False)
