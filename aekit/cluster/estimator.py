"""``aekit.LatentClustering``: clusters in an autoencoder's latent space, with scikit-learn's clusterer API.

The estimator is a composition: an :class:`aekit.AutoEncoder` (trained on the data, or given already trained)
and a clustering of its codes. Three methods:

- ``"kmeans"``: scikit-learn's KMeans on the codes (the common recipe: train, encode, cluster).
- ``"gmm"``: a Gaussian mixture with full covariances on the codes; soft assignments are its posteriors.
- ``"idec"``: KMeans, then the autoencoder and the centres trained together on the reconstruction loss plus
  DEC's clustering loss (:mod:`aekit.cluster.refine`), which pulls each code towards its cluster.

It calls the autoencoder's public methods only (``fit``, ``transform``, ``scaled_samples``, ``save``, ``load``)
and, to refine, its module's (``model_(x).loss``, ``model_.encode``).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, clone
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted

from aekit._version import __version__
from aekit.cluster.refine import RefineConfig, refine, soft_assignment
from aekit.errors import AekitError, ModelFileError, check_choice, check_float, check_int, warn
from aekit.estimator import AutoEncoder
from aekit.io import (
    check_output_folder,
    load_state,
    params_to_store,
    read_config,
    replace_folder,
    save_state,
    staging_folder,
    write_json,
)

__all__ = ["METHODS", "LatentClustering", "default_latent_dim"]

logger = logging.getLogger(__name__)

METHODS = ("kmeans", "gmm", "idec")
CLUSTERING_FILE = "clustering.json"
STATE_FILE = "clustering.safetensors"
AUTOENCODER_DIR = "autoencoder"
FORMAT = "aekit.latent_clustering"
FORMAT_VERSION = 1
_OWNER = "LatentClustering"
# The autoencoder when none is given: a code as wide as DEC's (10), which is enough for MNIST's ten classes, but at
# most half the features (a code as wide as the data could copy it); the dense preset's other settings.
_LATENT_DIM = 10
_GMM_ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def default_latent_dim(n_features: int) -> int:
    """The code size of the autoencoder :class:`LatentClustering` trains when none is given, for samples of
    ``n_features`` values."""
    return min(_LATENT_DIM, max(1, n_features // 2))


def _is_part(name: str) -> bool:
    """Whether an entry of a saved clustering's folder is written by :meth:`LatentClustering.save`."""
    return name in (CLUSTERING_FILE, STATE_FILE, AUTOENCODER_DIR)


class LatentClustering(ClusterMixin, TransformerMixin, BaseEstimator):
    """Clustering in the latent space of an autoencoder.

    Parameters
    ----------
    n_clusters : int, default 8
        Number of clusters.
    autoencoder : aekit.AutoEncoder or None, default None
        The autoencoder whose codes are clustered; cloned and trained on ``X`` by :meth:`fit` (its parameters are
        reachable as ``autoencoder__latent_dim`` and so on). None: ``AutoEncoder(latent_dim=10)`` (at most half
        the features), seeded from ``random_state``.
    method : {"kmeans", "gmm", "idec"}, default "gmm"
        How the codes are clustered (see the module's description). The default is the best of the three on
        ``benchmarks/clustering.py`` (MNIST, Fashion-MNIST, digits).
    prefit : bool, default False
        ``autoencoder`` is already trained: use it as it is (a copy, which ``"idec"`` then trains further).
    n_init : int, default 10
        Restarts of KMeans or of the Gaussian mixture; the best is kept.
    cluster_weight : float, default 0.1
        ``"idec"``: weight of the clustering loss against the reconstruction loss (IDEC's gamma).
    refine_epochs : int, default 30
        ``"idec"``: most epochs of joint training; it stops earlier once fewer than 0.1% of labels change.
    random_state : int, RandomState or None, default None
        Seeds the clustering's restarts, the refinement, and the autoencoder unless it has a random_state of
        its own.

    Attributes
    ----------
    autoencoder_ : aekit.AutoEncoder, trained (and refined by ``"idec"``).
    labels_ : ndarray of shape (n_samples,), the cluster of each training sample.
    cluster_centers_ : ndarray of shape (n_clusters, latent_dim), the centres in latent space (the mixture's
        means for ``"gmm"``); ``autoencoder_.inverse_transform(cluster_centers_)`` draws them as data.
    inertia_ : float, sum of squared distances of the training codes to their nearest centre.
    n_iter_ : int, KMeans iterations, mixture EM iterations, or refinement epochs for ``"idec"``.
    mixture_ : sklearn GaussianMixture, for ``"gmm"`` only.
    refine_history_ : list of dict, per refinement epoch (``"idec"``): model_loss, kl, changed (share of labels).
    n_features_in_ : int; feature_names_in_ : ndarray of str, as the autoencoder's.
    """

    def __init__(self, n_clusters: int = 8, *, autoencoder: AutoEncoder | None = None, method: str = "gmm",
                 prefit: bool = False, n_init: int = 10, cluster_weight: float = 0.1, refine_epochs: int = 30,
                 random_state: int | np.random.RandomState | None = None) -> None:
        self.n_clusters = n_clusters
        self.autoencoder = autoencoder
        self.method = method
        self.prefit = prefit
        self.n_init = n_init
        self.cluster_weight = cluster_weight
        self.refine_epochs = refine_epochs
        self.random_state = random_state

    # ------------------------------------------------------------------------------------------- fit
    def _check_params(self) -> None:
        check_int(self.n_clusters, name="n_clusters", owner=_OWNER, low=1)
        check_choice(self.method, METHODS, name="method", owner=_OWNER)
        check_int(self.n_init, name="n_init", owner=_OWNER, low=1)
        check_float(self.cluster_weight, name="cluster_weight", owner=_OWNER, low=0.0, low_inclusive=False)
        check_int(self.refine_epochs, name="refine_epochs", owner=_OWNER, low=1)
        if not isinstance(self.prefit, bool):
            raise AekitError(f"The 'prefit' parameter of {_OWNER} must be a bool. Got {self.prefit!r} instead.")
        if self.autoencoder is not None and not isinstance(self.autoencoder, AutoEncoder):
            raise AekitError(f"The 'autoencoder' parameter of {_OWNER} must be an aekit.AutoEncoder or None. Got "
                             f"{type(self.autoencoder).__name__} instead.")
        if self.prefit:
            if self.autoencoder is None:
                raise AekitError(f"{_OWNER}(prefit=True) needs a trained autoencoder. Pass autoencoder=<a fitted "
                                 "aekit.AutoEncoder>, or prefit=False to train one.")
            if not hasattr(self.autoencoder, "model_"):
                raise AekitError(f"{_OWNER}(prefit=True) got an autoencoder that is not trained. Fit it first, or "
                                 "pass prefit=False to let fit() train it.")

    def _autoencoder(self, seed: int, X: Any) -> AutoEncoder:
        """The autoencoder to train (a clone), or a copy of the trained one given with ``prefit``."""
        if self.prefit:
            return copy.deepcopy(self.autoencoder)  # "idec" trains it further; the caller's stays as it was
        if self.autoencoder is None:
            try:
                n_features = math.prod((X.shape if hasattr(X, "shape") else np.asarray(X).shape)[1:])
            except ValueError:  # ragged rows: the autoencoder's fit says what is wrong
                n_features = 2 * _LATENT_DIM
            return AutoEncoder(latent_dim=default_latent_dim(n_features), random_state=seed)
        autoencoder = clone(self.autoencoder)
        if autoencoder.random_state is None:  # as scikit-learn's ensembles seed their members
            autoencoder.set_params(random_state=seed)
        return autoencoder

    def fit(self, X: Any, y: Any = None) -> LatentClustering:
        """Train the autoencoder on ``X`` (unless ``prefit``), cluster the codes and, for ``"idec"``, refine both.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, *input_shape), or a DataFrame: what the
            autoencoder reads.
        y : ignored.

        Returns
        -------
        self
        """
        self._check_params()
        try:
            n_samples = _num_samples(X)
        except TypeError:  # not array-like: the autoencoder's fit says what is wrong
            n_samples = None
        if n_samples is not None and n_samples < self.n_clusters:  # before any training
            raise AekitError(f"n_clusters={self.n_clusters} is more than the {n_samples} samples in X. Pass "
                             f"n_clusters <= {n_samples}, or more data.")
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        autoencoder = self._autoencoder(seed, X)
        if not self.prefit:
            autoencoder.fit(X)
        codes = autoencoder.transform(X).astype(np.float64)  # (n, latent_dim)
        self.mixture_ = None
        with warnings.catch_warnings(record=True) as caught:  # one per restart, over two lines each
            warnings.simplefilter("always", ConvergenceWarning)
            if self.method == "gmm":
                self.mixture_ = GaussianMixture(self.n_clusters, covariance_type="full", n_init=self.n_init,
                                                random_state=seed).fit(codes)
                self.cluster_centers_ = self.mixture_.means_.copy()
                self.labels_ = self.mixture_.predict(codes)
                self.n_iter_ = int(self.mixture_.n_iter_)
            else:
                kmeans = KMeans(self.n_clusters, n_init=self.n_init, random_state=seed).fit(codes)
                self.cluster_centers_ = kmeans.cluster_centers_
                self.labels_ = kmeans.labels_
                self.n_iter_ = int(kmeans.n_iter_)
        _say_once(caught, self.n_clusters)
        self.refine_history_: list[dict[str, float]] = []
        if self.method == "idec":
            config = RefineConfig(cluster_weight=float(self.cluster_weight), max_epochs=int(self.refine_epochs),
                                  batch_size=int(autoencoder.batch_size), lr=float(autoencoder.lr), seed=seed)
            result = refine(autoencoder.model_, autoencoder.scaled_samples(X), self.cluster_centers_, config)
            self.cluster_centers_, self.labels_ = result.centers, result.labels
            self.n_iter_, self.refine_history_ = result.n_epochs, result.history
            codes = autoencoder.transform(X).astype(np.float64)
        self.autoencoder_ = autoencoder
        self.labels_ = np.asarray(self.labels_, dtype=np.int64)
        self.inertia_ = float(self._squared_distances(codes).min(axis=1).sum())
        self._copy_input_attributes()
        return self

    def _copy_input_attributes(self) -> None:
        self.n_features_in_ = self.autoencoder_.n_features_in_
        if hasattr(self.autoencoder_, "feature_names_in_"):
            self.feature_names_in_ = self.autoencoder_.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    # ------------------------------------------------------------------------------------- inference
    def _codes(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "autoencoder_")
        return self.autoencoder_.transform(X).astype(np.float64)

    def _squared_distances(self, codes: np.ndarray) -> np.ndarray:
        centers = self.cluster_centers_
        squared = (codes**2).sum(axis=1)[:, None] - 2.0 * codes @ centers.T + (centers**2).sum(axis=1)[None, :]
        return np.maximum(squared, 0.0)  # (n, k), without an (n, k, latent_dim) intermediate

    def predict(self, X: Any) -> np.ndarray:
        """The cluster of each sample: the nearest centre (the most probable component for ``"gmm"``)."""
        codes = self._codes(X)
        if self.mixture_ is not None:
            return self.mixture_.predict(codes).astype(np.int64)
        return self._squared_distances(codes).argmin(axis=1).astype(np.int64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Soft assignments, shape (n_samples, n_clusters), rows summing to 1: the mixture's posteriors for
        ``"gmm"``, else DEC's Student's t kernel on the distances to the centres."""
        codes = self._codes(X)
        if self.mixture_ is not None:
            return self.mixture_.predict_proba(codes)
        return soft_assignment(torch.from_numpy(codes), torch.from_numpy(self.cluster_centers_)).numpy()

    def transform(self, X: Any) -> np.ndarray:
        """Distances of each sample's code to every centre, shape (n_samples, n_clusters), as KMeans gives."""
        return np.sqrt(self._squared_distances(self._codes(X)))

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the sum of squared distances of the codes to their nearest centre (KMeans' score)."""
        return -float(self._squared_distances(self._codes(X)).min(axis=1).sum())

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``latentclustering0``, ... : one distance per cluster, as :meth:`transform` gives them."""
        check_is_fitted(self, "cluster_centers_")
        return np.asarray([f"latentclustering{i}" for i in range(len(self.cluster_centers_))], dtype=object)

    # ------------------------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None) -> Path:
        """Write a folder: ``clustering.json``, ``clustering.safetensors`` and the autoencoder's model folder
        ``autoencoder/`` (safetensors + JSON, never pickle). It is built beside ``path`` and renamed into place,
        so an interrupted save leaves a previous clustering there intact; other files in the folder (a report,
        labels) stay. ``metadata`` (JSON-able) comes back as ``metadata_``."""
        check_is_fitted(self, "autoencoder_")
        path = check_output_folder(path, FORMAT, option="The clustering's folder", file=CLUSTERING_FILE)
        staging = staging_folder(path)
        try:
            self.autoencoder_.save(staging / AUTOENCODER_DIR)
            state: dict[str, Any] = {"cluster_centers": torch.from_numpy(self.cluster_centers_),
                                     "labels": torch.from_numpy(self.labels_)}
            if self.mixture_ is not None:
                state["mixture"] = {name: torch.from_numpy(getattr(self.mixture_, name)) for name in _GMM_ARRAYS}
            save_state(staging / STATE_FILE, state)
            params = params_to_store(self.get_params(deep=False) | {"autoencoder": None})
            write_json(staging / CLUSTERING_FILE, {
                "format": FORMAT, "format_version": FORMAT_VERSION, "aekit_version": __version__,
                "params": params, "autoencoder_given": self.autoencoder is not None,
                "inertia": self.inertia_, "n_iter": self.n_iter_,
                "refine_history": self.refine_history_,
                "metadata": metadata,
            })
            replace_folder(staging, path, is_part=_is_part)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "cpu") -> LatentClustering:
        """Load a folder written by :meth:`save` (or ``aekit cluster fit``); never unpickles."""
        path = Path(path)
        config = read_config(path, file=CLUSTERING_FILE, file_format=FORMAT, max_version=FORMAT_VERSION,
                             what="latent clustering", origin="the --out folder of 'aekit cluster fit' or a path "
                                                              "given to LatentClustering.save")
        try:
            autoencoder = AutoEncoder.load(path / AUTOENCODER_DIR, device=device)
        except ModelFileError as exc:  # else advice about a model's folder, which the user did not pass
            raise ModelFileError(f"The clustering in '{path}' is incomplete: its autoencoder cannot be loaded "
                                 f"({exc}). Fit and save the clustering again.") from None
        try:
            valid = cls().get_params(deep=False)
            params = {k: v for k, v in config["params"].items() if k in valid and k != "autoencoder"}
            clustering = cls(**params, autoencoder=clone(autoencoder) if config["autoencoder_given"] else None)
            state = load_state(path / STATE_FILE)
            clustering.autoencoder_ = autoencoder
            clustering.cluster_centers_ = state["cluster_centers"].double().numpy()
            clustering.labels_ = state["labels"].long().numpy()
            clustering.mixture_ = None
            if "mixture" in state:
                mixture = GaussianMixture(len(clustering.cluster_centers_), covariance_type="full")
                for name in _GMM_ARRAYS:
                    setattr(mixture, name, state["mixture"][name].double().numpy())
                mixture.converged_, mixture.n_iter_ = True, int(config["n_iter"])
                clustering.mixture_ = mixture
            clustering.inertia_ = float(config["inertia"])
            clustering.n_iter_ = int(config["n_iter"])
            clustering.refine_history_ = list(config["refine_history"])
            clustering.metadata_ = config.get("metadata") or {}
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, AekitError):
                raise
            raise ModelFileError(f"Cannot load the clustering in '{path}' ({type(exc).__name__}: {exc}). Fit and "
                                 "save it again.") from None
        if clustering.cluster_centers_.shape[1:] != (autoencoder.config_.latent_dim,):
            raise ModelFileError(f"The clustering in '{path}' does not match its autoencoder (centres of shape "
                                 f"{clustering.cluster_centers_.shape}, codes of {autoencoder.config_.latent_dim}). "
                                 "Fit and save it again.")
        clustering._copy_input_attributes()
        return clustering

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def _say_once(caught: list[warnings.WarningMessage], n_clusters: int) -> None:
    """Pass on the warnings caught while clustering, scikit-learn's ConvergenceWarnings (one per restart, over
    two lines: the codes have fewer distinct points than clusters, or EM did not converge) once, in one line."""
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    for other in (w for w in caught if not issubclass(w.category, ConvergenceWarning)):
        warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    if convergence:
        said = " ".join(str(convergence[0].message).split())
        warn(logger, f"Clustering the codes: {said.rstrip('.')}. Pass fewer clusters than n_clusters={n_clusters}, "
             "or train the autoencoder longer.", UserWarning, stacklevel=3)
