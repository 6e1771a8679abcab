"""aekit.LatentClustering: clusters in latent space, predict/proba/transform, prefit, persistence, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aekit import AutoEncoder, LatentClustering
from aekit.errors import AekitError, ModelFileError


def _blobs(n_per: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian blobs in 8 dimensions."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=6.0, size=(3, 8))
    X = np.concatenate([m + rng.normal(scale=0.5, size=(n_per, 8)) for m in means])
    return X, np.repeat(np.arange(3), n_per)


def _small_ae(**overrides: object) -> AutoEncoder:
    params = {"latent_dim": 2, "hidden_dims": (16,), "max_epochs": 60, "random_state": 0, "device": "cpu"}
    return AutoEncoder(**(params | overrides))


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    return _blobs()


@pytest.fixture(scope="module")
def trained_ae(blobs: tuple[np.ndarray, np.ndarray]) -> AutoEncoder:
    torch.manual_seed(0)
    return _small_ae().fit(blobs[0])


@pytest.mark.parametrize("method", ["kmeans", "gmm", "idec"])
def test_each_method_finds_well_separated_clusters(method: str, blobs, trained_ae) -> None:
    X, y = blobs
    clustering = LatentClustering(3, autoencoder=trained_ae, prefit=True, method=method, refine_epochs=5,
                                  random_state=0).fit(X)
    assert clustering.labels_.shape == (len(X),) and clustering.labels_.dtype == np.int64
    assert adjusted_rand_score(y, clustering.labels_) > 0.95
    assert clustering.cluster_centers_.shape == (3, 2)
    np.testing.assert_array_equal(clustering.predict(X), clustering.labels_)
    proba = clustering.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    np.testing.assert_array_equal(proba.argmax(axis=1), clustering.predict(X))
    distances = clustering.transform(X)
    assert distances.shape == (len(X), 3) and (distances >= 0).all()
    np.testing.assert_allclose(clustering.score(X), -(distances.min(axis=1) ** 2).sum(), rtol=1e-9)
    np.testing.assert_allclose(clustering.inertia_, -clustering.score(X), rtol=1e-6)
    if method == "kmeans":
        np.testing.assert_array_equal(clustering.predict(X), clustering.labels_)
        np.testing.assert_array_equal(distances.argmin(axis=1), clustering.labels_)
    assert (method == "gmm") == (clustering.mixture_ is not None)
    assert (method == "idec") == bool(clustering.refine_history_)
    for together, alone in zip(clustering.assign(X), (clustering.predict(X), proba, distances)):  # one encoding
        np.testing.assert_array_equal(together, alone)


def test_fit_trains_a_clone_of_the_given_autoencoder_and_leaves_it_untouched(blobs) -> None:
    X, y = blobs
    given = _small_ae(max_epochs=20)
    clustering = LatentClustering(3, autoencoder=given, random_state=0).fit(X)
    assert not hasattr(given, "model_")
    assert clustering.autoencoder_ is not given and clustering.autoencoder_.config_.latent_dim == 2
    assert adjusted_rand_score(y, clustering.labels_) > 0.9
    # the autoencoder's parameters are the clustering's nested parameters, as in any meta-estimator
    clustering.set_params(autoencoder__latent_dim=3)
    assert clustering.get_params()["autoencoder__latent_dim"] == 3


def test_idec_trains_a_copy_of_a_prefit_autoencoder(blobs, trained_ae) -> None:
    X, _ = blobs
    before = {k: v.clone() for k, v in trained_ae.model_.state_dict().items()}
    clustering = LatentClustering(3, autoencoder=trained_ae, prefit=True, method="idec", refine_epochs=3,
                                  random_state=0).fit(X)
    for key, value in trained_ae.model_.state_dict().items():
        torch.testing.assert_close(value, before[key])
    changed = any(not torch.equal(v, before[k]) for k, v in clustering.autoencoder_.model_.state_dict().items())
    assert changed
    assert [h["epoch"] for h in clustering.refine_history_] == list(range(1, clustering.n_iter_ + 1))


def test_default_autoencoder_and_seeded_results() -> None:
    X, _ = _blobs(n_per=30, seed=2)
    first = LatentClustering(3, random_state=4).fit(X)
    assert first.autoencoder_.config_.latent_dim == 4  # DEC's 10, at most half the 8 features
    second = LatentClustering(3, random_state=4).fit(X)
    np.testing.assert_array_equal(first.labels_, second.labels_)
    np.testing.assert_array_equal(first.cluster_centers_, second.cluster_centers_)


def test_works_in_a_pipeline_and_with_dataframes(blobs) -> None:
    import pandas as pd

    X, y = blobs
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    labels = make_pipeline(StandardScaler(), LatentClustering(3, autoencoder=_small_ae(), random_state=0)
                           ).fit_predict(frame)
    assert adjusted_rand_score(y, labels) > 0.9
    clustering = LatentClustering(3, autoencoder=_small_ae(max_epochs=5), random_state=0).fit(frame)
    assert list(clustering.feature_names_in_) == list(frame.columns)
    assert clustering.n_features_in_ == 8
    assert list(clustering.get_feature_names_out()) == ["latentclustering0", "latentclustering1",
                                                        "latentclustering2"]


def test_images_with_a_conv_autoencoder(digits) -> None:
    images = (digits[:120] / 16.0).reshape(-1, 1, 8, 8)
    ae = AutoEncoder("conv", latent_dim=4, hidden_dims=(4, 8), max_epochs=2, random_state=0, device="cpu")
    clustering = LatentClustering(4, autoencoder=ae, method="idec", refine_epochs=2, random_state=0).fit(images)
    assert clustering.labels_.shape == (120,)
    assert clustering.predict(images[:5]).shape == (5,)
    prototypes = clustering.autoencoder_.inverse_transform(clustering.cluster_centers_)
    assert prototypes.shape == (4, 1, 8, 8)


@pytest.mark.parametrize("method", ["kmeans", "gmm", "idec"])
def test_save_and_load_give_the_same_clustering(method: str, blobs, trained_ae, tmp_path) -> None:
    X, _ = blobs
    clustering = LatentClustering(3, autoencoder=trained_ae, prefit=True, method=method, refine_epochs=2,
                                  random_state=0).fit(X)
    path = clustering.save(tmp_path / "run", metadata={"data": "blobs"})
    (path / "notes.txt").write_text("mine")
    given = {"given_autoencoder"} if method == "idec" else set()  # the prefit autoencoder before refinement
    assert {p.name for p in path.iterdir()} == {"clustering.json", "clustering.safetensors", "autoencoder",
                                                "notes.txt"} | given
    loaded = LatentClustering.load(path)
    np.testing.assert_array_equal(loaded.predict(X), clustering.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clustering.predict_proba(X), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(loaded.labels_, clustering.labels_)
    assert loaded.method == method and loaded.n_clusters == 3 and loaded.prefit
    assert loaded.metadata_ == {"data": "blobs"}
    assert loaded.inertia_ == pytest.approx(clustering.inertia_)
    # a second save replaces the clustering and keeps the user's file
    clustering.save(path)
    assert (path / "notes.txt").read_text() == "mine"
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no staging folder left behind


def test_load_and_save_refuse_what_is_not_a_clustering(blobs, trained_ae, tmp_path) -> None:
    X, _ = blobs
    trained_ae.save(tmp_path / "model")
    with pytest.raises(ModelFileError, match="not an aekit latent clustering directory .no clustering.json"):
        LatentClustering.load(tmp_path / "model")
    clustering = LatentClustering(3, autoencoder=trained_ae, prefit=True, random_state=0).fit(X)
    with pytest.raises(AekitError, match="exists and is not a saved latent clustering or an empty directory"):
        clustering.save(tmp_path / "model")
    path = clustering.save(tmp_path / "run")
    config = json.loads((path / "clustering.json").read_text())
    config["format_version"] = 99
    (path / "clustering.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="Upgrade aekit"):
        LatentClustering.load(path)
    config["format_version"] = 1
    del config["inertia"]
    (path / "clustering.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="Cannot load the clustering .* Fit and save it again"):
        LatentClustering.load(path)


@pytest.mark.parametrize(("params", "message"), [
    ({"n_clusters": 0}, r"'n_clusters' parameter of LatentClustering must be an int in \[1, inf\]. Got 0"),
    ({"method": "k-means"}, "'method' parameter of LatentClustering must be one of kmeans, gmm, idec. Got 'k-means'"),
    ({"n_init": 0}, "'n_init' parameter of LatentClustering"),
    ({"cluster_weight": 0.0}, r"'cluster_weight' parameter of LatentClustering must be a float in \(0, inf\]"),
    ({"refine_epochs": 0}, "'refine_epochs' parameter of LatentClustering"),
    ({"prefit": "yes"}, "'prefit' parameter of LatentClustering must be a bool"),
    ({"autoencoder": "dense"}, r"'autoencoder' parameter of LatentClustering must be an aekit.AutoEncoder \(or one "
                               r"in sklearn.frozen.FrozenEstimator\) or None. Got str"),
    ({"prefit": True}, r"prefit=True\) needs a trained autoencoder"),
    ({"prefit": True, "autoencoder": AutoEncoder()}, "got an autoencoder that is not trained. Fit it first"),
])
def test_bad_parameters_get_one_clear_line(params: dict, message: str, blobs) -> None:
    with pytest.raises(AekitError, match=message):
        LatentClustering(**params).fit(blobs[0])


def test_more_clusters_than_samples_and_bad_data(trained_ae) -> None:
    X, _ = _blobs(n_per=1)
    with pytest.raises(AekitError, match="n_clusters=5 is more than the 3 samples in X. Pass n_clusters <= 3"):
        LatentClustering(5, autoencoder=trained_ae, prefit=True).fit(X)
    bad = X.copy()
    bad[1, 2] = np.nan
    with pytest.raises(AekitError, match="NaN"):
        LatentClustering(2, autoencoder=trained_ae, prefit=True).fit(bad)
    with pytest.raises(ValueError, match="expecting 8 features"):
        LatentClustering(2, autoencoder=trained_ae, prefit=True).fit(X[:, :5])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LatentClustering().predict(X)


def test_soft_assignments_do_not_depend_on_the_scale_of_the_codes(blobs, trained_ae) -> None:
    X, _ = blobs
    clustering = LatentClustering(3, autoencoder=trained_ae, prefit=True, method="kmeans", random_state=0).fit(X)
    assert clustering.predict_proba(X).max(axis=1).mean() > 0.8  # well-separated blobs: confident
    shrunk = LatentClustering(3, autoencoder=trained_ae, prefit=True, method="kmeans", random_state=0).fit(X)
    shrunk.cluster_centers_ = shrunk.cluster_centers_ / 100.0  # as if the encoder had learnt codes 100x smaller
    shrunk.kernel_scale_ /= 100.0
    shrunk._codes = lambda X_: clustering._codes(X_) / 100.0
    np.testing.assert_allclose(shrunk.predict_proba(X), clustering.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_a_frozen_autoencoder_stays_trained_through_clone_and_grid_search(blobs, trained_ae) -> None:
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import GridSearchCV

    X, y = blobs
    frozen = LatentClustering(3, autoencoder=FrozenEstimator(trained_ae), random_state=0)
    clustering = clone(frozen).fit(X)
    assert adjusted_rand_score(y, clustering.labels_) > 0.95
    search = GridSearchCV(frozen, {"method": ["kmeans", "gmm"]}, cv=2).fit(X)
    assert search.best_params_["method"] in ("kmeans", "gmm")
    # prefit=True does not survive a clone: the message says what does
    with pytest.raises(AekitError, match="FrozenEstimator"):
        clone(LatentClustering(3, autoencoder=trained_ae, prefit=True)).fit(X)
    with pytest.raises(AekitError, match="got a FrozenEstimator around an autoencoder that is not trained; a frozen "
                                         "estimator is never fitted. Fit the autoencoder before freezing it"):
        LatentClustering(3, autoencoder=FrozenEstimator(AutoEncoder())).fit(X)


def test_gmm_on_one_sample_and_empty_clusters_get_one_line(trained_ae) -> None:
    X, _ = _blobs(n_per=1)
    with pytest.raises(AekitError, match="method='gmm' needs at least 2 samples .* X has 1 sample. Pass more data"):
        LatentClustering(1, autoencoder=trained_ae, prefit=True).fit(X[:1])
    assert LatentClustering(1, autoencoder=trained_ae, prefit=True, method="kmeans").fit(X[:1]).labels_.tolist() == [0]
    twice = np.repeat(X[:2], 20, axis=0)  # two distinct rows: a third cluster finds nothing
    with pytest.warns(UserWarning, match="Clustering the codes|hold none of the 40 training samples"):
        LatentClustering(3, autoencoder=trained_ae, prefit=True, method="kmeans").fit(twice)


def test_a_loaded_clustering_refits_as_the_saved_one_did(blobs, trained_ae, tmp_path) -> None:
    X, _ = blobs
    given = _small_ae(max_epochs=3, random_state=None)
    saved = LatentClustering(3, autoencoder=given, random_state=0).fit(X)
    loaded = LatentClustering.load(saved.save(tmp_path / "given"))
    assert loaded.autoencoder.get_params() == given.get_params()
    prefit = LatentClustering(3, autoencoder=trained_ae, prefit=True, random_state=0).fit(X)
    reloaded = LatentClustering.load(prefit.save(tmp_path / "prefit"))
    np.testing.assert_array_equal(reloaded.fit(X).labels_, prefit.labels_)  # refits on the trained autoencoder
    default = LatentClustering.load(LatentClustering(3, random_state=0).fit(X).save(tmp_path / "default"))
    assert default.autoencoder is None
    # idec trained its copy of the given autoencoder further: a refit of the loaded one starts from the given one
    refined = LatentClustering(3, autoencoder=trained_ae, prefit=True, method="idec", refine_epochs=2,
                               random_state=0).fit(X)
    again = LatentClustering.load(refined.save(tmp_path / "idec"))
    assert {p.name for p in (tmp_path / "idec").iterdir()} >= {"autoencoder", "given_autoencoder"}
    np.testing.assert_array_equal(again.fit(X).cluster_centers_, refined.fit(X).cluster_centers_)


def test_a_loaded_mixture_is_whole(blobs, trained_ae, tmp_path) -> None:
    X, _ = blobs
    fitted = LatentClustering(3, autoencoder=trained_ae, prefit=True, method="gmm", random_state=0).fit(X)
    loaded = LatentClustering.load(fitted.save(tmp_path / "run")).mixture_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        np.testing.assert_allclose(getattr(loaded, name), getattr(fitted.mixture_, name), rtol=1e-10, atol=1e-12)
    assert loaded.converged_ == fitted.mixture_.converged_ and loaded.n_features_in_ == 2
    assert loaded.lower_bound_ == pytest.approx(fitted.mixture_.lower_bound_)
    codes = trained_ae.transform(X)
    np.testing.assert_allclose(loaded.score_samples(codes), fitted.mixture_.score_samples(codes), rtol=1e-9)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c["params"].update(n_clusters=7),
     r"does not match itself \(centres of shape \(3, 2\), expected \(7, 2\)"),
    (lambda c: c["params"].update(method="foo"), "does not load: The 'method' parameter of LatentClustering must be"),
    (lambda c: c.update(params=[1]), "Cannot load the clustering"),
    (lambda c: c.update(format_version="1"), "has format_version '1', not a whole number"),
    (lambda c: c.update(metadata=[1]), "metadata is a list, not a mapping"),
])
def test_hand_edited_files_get_one_line(edit, message: str, blobs, trained_ae, tmp_path) -> None:
    X, _ = blobs
    path = LatentClustering(3, autoencoder=trained_ae, prefit=True, method="kmeans").fit(X).save(tmp_path / "run")
    config = json.loads((path / "clustering.json").read_text())
    edit(config)
    (path / "clustering.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=message):
        LatentClustering.load(path)


def test_save_refuses_a_folder_of_other_files_and_the_working_directory(blobs, trained_ae, tmp_path,
                                                                       monkeypatch) -> None:
    import shutil

    X, _ = blobs
    clustering = LatentClustering(3, autoencoder=trained_ae, prefit=True, method="kmeans").fit(X)
    mine = tmp_path / "mine"
    (mine / "autoencoder").mkdir(parents=True)
    (mine / "autoencoder" / "model.py").write_text("code")
    with pytest.raises(AekitError, match="exists and is not a saved latent clustering or an empty directory"):
        clustering.save(mine)
    assert (mine / "autoencoder" / "model.py").read_text() == "code"
    monkeypatch.chdir(mine)
    with pytest.raises(AekitError, match="'.' is the current directory, and saving replaces the whole folder"):
        clustering.save(".")
    path = clustering.save(tmp_path / "run")
    shutil.rmtree(path / "autoencoder")
    with pytest.raises(ModelFileError, match="incomplete: its autoencoder/ folder is missing. Fit and save"):
        LatentClustering.load(path)
    clustering.save(path)  # whole again
    (path / "clustering.safetensors").write_text("junk")
    with pytest.raises(ModelFileError) as caught:
        LatentClustering.load(path)
    assert str(caught.value).startswith("Cannot read the state file") and str(caught.value).count("again") == 1
