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
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, clone
from sklearn.cluster import KMeans
from sklearn.frozen import FrozenEstimator
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils.validation import _num_samples, check_is_fitted

from aekit._version import __version__
from aekit.cluster.refine import RefineConfig, refine, soft_assignment
from aekit.errors import (
    AekitError,
    ModelFileError,
    check_choice,
    check_float,
    check_int,
    convergence_caught,
    warn,
)
from aekit.estimator import AutoEncoder
from aekit.io import (
    check_saved_folder,
    load_state,
    params_to_store,
    read_config,
    save_state,
    staged_folder,
    write_json,
)

__all__ = ["METHODS", "LatentClustering", "check_save_path", "default_latent_dim"]

logger = logging.getLogger(__name__)

METHODS = ("kmeans", "gmm", "idec")
CLUSTERING_FILE = "clustering.json"
STATE_FILE = "clustering.safetensors"
AUTOENCODER_DIR = "autoencoder"
# the trained autoencoder a prefit "idec" clustering was given, before refinement: what a refit starts from again
GIVEN_DIR = "given_autoencoder"
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


def check_save_path(path: str | os.PathLike[str], option: str = "The clustering's folder") -> Path:
    """Refuse (one line) a path :meth:`LatentClustering.save` may not write: something there that is neither a
    saved clustering nor an empty directory, or the current directory. Callers that train first check it before
    training."""
    return check_saved_folder(path, file=CLUSTERING_FILE, what="latent clustering", option=option)


def _is_part(name: str) -> bool:
    """Whether an entry of a saved clustering's folder is written by :meth:`LatentClustering.save`."""
    return name in (CLUSTERING_FILE, STATE_FILE, AUTOENCODER_DIR, GIVEN_DIR)


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
        ``autoencoder`` is already trained: use it as it is (a copy, which ``"idec"`` then trains further). An
        autoencoder wrapped in ``sklearn.frozen.FrozenEstimator`` is used the same way; unlike ``prefit``, it stays
        trained through ``clone``, cross-validation and grid searches.
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
    kernel_scale_ : float, the root mean squared distance of the training codes to their nearest centre: the unit of
        distance of :meth:`predict_proba` for ``"kmeans"`` and ``"idec"``.
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
        given = _unfrozen(self.autoencoder)
        if given is not None and not isinstance(given, AutoEncoder):
            raise AekitError(f"The 'autoencoder' parameter of {_OWNER} must be an aekit.AutoEncoder (or one in "
                             f"sklearn.frozen.FrozenEstimator) or None. Got {type(given).__name__} instead.")
        if self._is_prefit():
            if given is None:
                raise AekitError(f"{_OWNER}(prefit=True) needs a trained autoencoder. Pass autoencoder=<a fitted "
                                 "aekit.AutoEncoder>, or prefit=False to train one.")
            if not hasattr(given, "model_") and isinstance(self.autoencoder, FrozenEstimator):
                raise AekitError(f"{_OWNER} got a FrozenEstimator around an autoencoder that is not trained; a "
                                 "frozen estimator is never fitted. Fit the autoencoder before freezing it, or pass "
                                 "it unfrozen to let fit() train it.")
            if not hasattr(given, "model_"):
                raise AekitError(f"{_OWNER}(prefit=True) got an autoencoder that is not trained. Fit it first, or "
                                 "pass prefit=False to let fit() train it. (clone(), cross-validation and grid "
                                 "searches copy an estimator untrained: to keep a trained autoencoder through them, "
                                 "pass autoencoder=sklearn.frozen.FrozenEstimator(autoencoder).)")

    def _is_prefit(self) -> bool:
        """``prefit``, or a FrozenEstimator, which scikit-learn never refits."""
        return bool(self.prefit) or isinstance(self.autoencoder, FrozenEstimator)

    def _autoencoder(self, seed: int, X: Any) -> AutoEncoder:
        """The autoencoder to train (a clone), or a copy of the trained one given with ``prefit``."""
        if self._is_prefit():
            return copy.deepcopy(_unfrozen(self.autoencoder))  # "idec" trains it further; the caller's stays
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
        if not self._is_prefit():
            autoencoder.fit(X)
        codes = autoencoder.transform(X).astype(np.float64)  # (n, latent_dim)
        self.mixture_ = None
        with convergence_caught() as convergence:  # one per restart, over two lines each
            if self.method == "gmm":
                self.mixture_ = _fit_mixture(codes, self.n_clusters, self.n_init, seed)
                self.cluster_centers_ = self.mixture_.means_.copy()
                self.labels_ = self.mixture_.predict(codes)
                self.n_iter_ = int(self.mixture_.n_iter_)
            else:
                kmeans = KMeans(self.n_clusters, n_init=self.n_init, random_state=seed).fit(codes)
                self.cluster_centers_ = kmeans.cluster_centers_
                self.labels_ = kmeans.labels_
                self.n_iter_ = int(kmeans.n_iter_)
        said_convergence = _say_once(convergence, self.n_clusters)
        self.refine_history_: list[dict[str, float]] = []
        if self.method == "idec":
            config = RefineConfig(cluster_weight=float(self.cluster_weight), max_epochs=int(self.refine_epochs),
                                  batch_size=int(autoencoder.batch_size), lr=float(autoencoder.lr),
                                  weight_decay=float(autoencoder.weight_decay), grad_clip=autoencoder.grad_clip,
                                  seed=seed)
            result = refine(autoencoder.model_, autoencoder.scaled_samples(X), self.cluster_centers_, config)
            self.cluster_centers_, self.labels_ = result.centers, result.labels
            self.n_iter_, self.refine_history_ = result.n_epochs, result.history
            codes = autoencoder.transform(X).astype(np.float64)
        self.autoencoder_ = autoencoder
        self.labels_ = np.asarray(self.labels_, dtype=np.int64)
        nearest = self._squared_distances(codes).min(axis=1)  # (n,)
        self.inertia_ = float(nearest.sum())
        self.kernel_scale_ = _kernel_scale(nearest)
        empty = self.n_clusters - len(np.unique(self.labels_))
        if empty and not said_convergence:  # scikit-learn's has said so already
            hint = ("the refinement merged clusters; train the autoencoder longer first, or use method='gmm'"
                    if self.method == "idec" else "pass fewer clusters")
            warn(logger, f"{empty} of the {self.n_clusters} clusters hold none of the {len(codes)} training "
                 f"samples: {hint}.", UserWarning)
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
        return euclidean_distances(codes, self.cluster_centers_, squared=True)  # (n, k), as the report's

    def _clusters_of(self, codes: np.ndarray) -> np.ndarray:
        if self.mixture_ is not None:
            return self.mixture_.predict(codes).astype(np.int64)
        return self._squared_distances(codes).argmin(axis=1).astype(np.int64)

    def _proba_of(self, codes: np.ndarray) -> np.ndarray:
        if self.mixture_ is not None:
            return self.mixture_.predict_proba(codes)
        scale = self.kernel_scale_
        return soft_assignment(torch.from_numpy(codes / scale), torch.from_numpy(self.cluster_centers_ / scale)).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The cluster of each sample: the nearest centre (the most probable component for ``"gmm"``)."""
        return self._clusters_of(self._codes(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Soft assignments, shape (n_samples, n_clusters), rows summing to 1: the mixture's posteriors for
        ``"gmm"``, else DEC's Student's t kernel on the distances to the centres in units of ``kernel_scale_`` (the
        training codes' root mean squared distance to their centre), so that they do not depend on the scale the
        encoder happened to learn."""
        return self._proba_of(self._codes(X))

    def transform(self, X: Any) -> np.ndarray:
        """Distances of each sample's code to every centre, shape (n_samples, n_clusters), as KMeans gives."""
        return np.sqrt(self._squared_distances(self._codes(X)))

    def assign(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`predict`, :meth:`predict_proba` and :meth:`transform` of ``X`` from one pass of the encoder:
        (clusters (n,), soft assignments (n, n_clusters), distances to the centres (n, n_clusters))."""
        codes = self._codes(X)
        return self._clusters_of(codes), self._proba_of(codes), np.sqrt(self._squared_distances(codes))

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the sum of squared distances of the codes to their nearest centre (KMeans' score). It is in the
        code's own units: compare it between clusterings of one autoencoder, not between autoencoders (a grid
        search over ``autoencoder__*`` would favour the smallest codes; score such searches on labels or on a
        fixed space instead)."""
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
        path = check_save_path(path)
        with staged_folder(path, is_part=_is_part) as staging:  # other files in the folder stay
            self.autoencoder_.save(staging / AUTOENCODER_DIR)
            if self._is_prefit() and self.method == "idec":  # refinement changed it: a refit starts from the given
                _unfrozen(self.autoencoder).save(staging / GIVEN_DIR)
            state: dict[str, Any] = {"cluster_centers": torch.from_numpy(self.cluster_centers_),
                                     "labels": torch.from_numpy(self.labels_)}
            if self.mixture_ is not None:
                state["mixture"] = {name: torch.from_numpy(getattr(self.mixture_, name)) for name in _GMM_ARRAYS}
                state["mixture_fit"] = {"converged": bool(self.mixture_.converged_),
                                        "lower_bound": float(self.mixture_.lower_bound_)}
            save_state(staging / STATE_FILE, state)
            params = params_to_store(self.get_params(deep=False) | {"autoencoder": None})
            given = _unfrozen(self.autoencoder)
            write_json(staging / CLUSTERING_FILE, {
                "format": FORMAT, "format_version": FORMAT_VERSION, "aekit_version": __version__,
                "params": params, "autoencoder_given": given is not None,
                # the given autoencoder's own parameters, so that a loaded clustering refits as this one did
                "autoencoder_params": None if given is None else params_to_store(given.get_params()),
                "frozen": isinstance(self.autoencoder, FrozenEstimator),
                "inertia": self.inertia_, "kernel_scale": self.kernel_scale_, "n_iter": self.n_iter_,
                "refine_history": self.refine_history_,
                "metadata": metadata,
            })
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "cpu") -> LatentClustering:
        """Load a folder written by :meth:`save` (or ``aekit cluster fit``); never unpickles."""
        path = Path(path)
        config = read_config(path, file=CLUSTERING_FILE, file_format=FORMAT, max_version=FORMAT_VERSION,
                             what="latent clustering", origin="the --out folder of 'aekit cluster fit' or a path "
                                                              "given to LatentClustering.save")
        if not (path / AUTOENCODER_DIR).is_dir():
            raise ModelFileError(f"The clustering in '{path}' is incomplete: its {AUTOENCODER_DIR}/ folder is "
                                 "missing. Fit and save the clustering again.")
        try:
            autoencoder = AutoEncoder.load(path / AUTOENCODER_DIR, device=device)
        except ModelFileError as exc:  # else advice about a model's folder, which the user did not pass
            raise ModelFileError(f"The clustering in '{path}' is incomplete: its autoencoder cannot be loaded "
                                 f"({exc}). Fit and save the clustering again.") from None
        try:
            valid = cls().get_params(deep=False)
            params = {k: v for k, v in dict(config["params"]).items() if k in valid and k != "autoencoder"}
            clustering = cls(**params)
            if params.get("prefit") or config.get("frozen"):  # refits use the trained autoencoder they were given
                given = (AutoEncoder.load(path / GIVEN_DIR, device=device) if (path / GIVEN_DIR).is_dir()
                         else copy.deepcopy(autoencoder))  # not refined: the same one
                clustering.autoencoder = FrozenEstimator(given) if config.get("frozen") else given
            elif config["autoencoder_given"]:
                stored = config.get("autoencoder_params") or {}
                clustering.autoencoder = AutoEncoder(**{k: tuple(v) if isinstance(v, list) else v
                                                        for k, v in dict(stored).items()
                                                        if k in AutoEncoder().get_params()})
            clustering._check_params()
            state = load_state(path / STATE_FILE)
            clustering.autoencoder_ = autoencoder
            clustering.cluster_centers_ = state["cluster_centers"].double().numpy()
            clustering.labels_ = state["labels"].long().numpy()
            clustering.mixture_ = None
            if "mixture" in state:
                mixture = GaussianMixture(len(clustering.cluster_centers_), covariance_type="full")
                for name in _GMM_ARRAYS:
                    setattr(mixture, name, state["mixture"][name].double().numpy())
                # what GaussianMixture.fit sets besides: the precisions from their Cholesky factors, the fit's
                # outcome, the code width
                mixture.precisions_ = np.einsum("kij,klj->kil", mixture.precisions_cholesky_,
                                                mixture.precisions_cholesky_)
                outcome = state.get("mixture_fit", {"converged": True, "lower_bound": float("nan")})
                mixture.converged_, mixture.lower_bound_ = bool(outcome["converged"]), float(outcome["lower_bound"])
                mixture.n_iter_, mixture.n_features_in_ = int(config["n_iter"]), mixture.means_.shape[1]
                clustering.mixture_ = mixture
            clustering.inertia_ = float(config["inertia"])
            # format 1 files of the first version had no scale: the unit kernel
            clustering.kernel_scale_ = float(config.get("kernel_scale") or 1.0)
            clustering.n_iter_ = int(config["n_iter"])
            clustering.refine_history_ = list(config["refine_history"])
            metadata = config.get("metadata") or {}
            if not isinstance(metadata, dict):
                raise TypeError(f"metadata is a {type(metadata).__name__}, not a mapping")
            clustering.metadata_ = metadata
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, ModelFileError):  # a damaged part: its message names it and says what to do
                raise
            if isinstance(exc, AekitError):  # a hand-edited parameter
                raise ModelFileError(f"The clustering in '{path}' does not load: {exc} Fit and save it "
                                     "again.") from None
            raise ModelFileError(f"Cannot load the clustering in '{path}' ({type(exc).__name__}: {exc}). Fit and "
                                 "save it again.") from None
        centers = clustering.cluster_centers_
        expected = (clustering.n_clusters, autoencoder.config_.latent_dim)
        if centers.shape != expected or (clustering.method == "gmm") != (clustering.mixture_ is not None):
            raise ModelFileError(f"The clustering in '{path}' does not match itself (centres of shape "
                                 f"{centers.shape}, expected {expected} for method '{clustering.method}' with "
                                 f"{clustering.n_clusters} clusters on codes of {expected[1]}). Fit and save it "
                                 "again.")
        clustering._copy_input_attributes()
        return clustering

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def _say_once(convergence: list[warnings.WarningMessage], n_clusters: int) -> bool:
    """Say the ConvergenceWarnings caught while clustering (one per restart, over two lines: the codes have fewer
    distinct points than clusters, or EM did not converge) once, in one line; whether there was one."""
    if convergence:
        said = " ".join(str(convergence[0].message).split())
        warn(logger, f"Clustering the codes: {said.rstrip('.')}. Pass fewer clusters than n_clusters={n_clusters}, "
             "or train the autoencoder longer.", UserWarning, stacklevel=3)
    return bool(convergence)


def _unfrozen(autoencoder: Any) -> Any:
    """The autoencoder inside a FrozenEstimator, or the argument itself."""
    return autoencoder.estimator if isinstance(autoencoder, FrozenEstimator) else autoencoder


def _kernel_scale(nearest_squared: np.ndarray) -> float:
    """The root mean squared distance of codes to their nearest centre (1 when they all sit on it)."""
    scale = float(np.sqrt(nearest_squared.mean())) if len(nearest_squared) else 0.0
    return scale if scale > 1e-12 else 1.0


def _fit_mixture(codes: np.ndarray, n_clusters: int, n_init: int, seed: int) -> GaussianMixture:
    """A Gaussian mixture with full covariances on the codes, or one line on why it cannot be fitted."""
    if len(codes) < 2:
        raise AekitError("method='gmm' needs at least 2 samples to estimate a covariance; X has 1 sample. Pass "
                         "more data, or method='kmeans'.")
    try:
        return GaussianMixture(n_clusters, covariance_type="full", n_init=n_init, random_state=seed).fit(codes)
    except ValueError as exc:  # ill-defined covariances: clusters of one repeated code
        reason = " ".join(str(exc).split())
        raise AekitError(f"The Gaussian mixture cannot be fitted to the codes ({reason}). Pass fewer clusters, or "
                         "method='kmeans'.") from None
