"""``aekit.AnomalyDetector``: autoencoder anomaly scores with PyOD's method names and meanings.

The detector is a composition: a feature scaler, an ensemble of :class:`aekit.AutoEncoder` instances (each
trained on its own subsample with its own seed), and per-member score statistics. It only calls the
autoencoders' public methods (``fit``, ``reconstruct``, ``transform``, ``save``, ``load``).

Score of one sample, for each member::

    u      = (x - median) / min(IQR / 1.349, std)         robust per-feature scaling (tables, series channels)
    e_j    = |u_j - u_hat_j| / sigma_j                    per-feature error in units of the member's typical
                                                          residual sigma_j on the training rows
    recon  = mean_j e_j
    latent = how unusual the code z is among the member's training codes (aekit.anomaly.latent): their
             Mahalanobis distance (Ledoit-Wolf covariance) for tables and images, an isolation forest on
             the codes for series
    score  = (recon - c_r) / s_r + latent_weight * (latent - c_l) / s_l

where ``c`` and ``s`` are the median and IQR/1.349 of each term on the training rows, so the two terms are in
the same units whatever the data. The detector's score is the mean over members. Series add one term that no
member owns, the level of each channel::

    level_j = how unusual channel j's mean over a window is among the training windows' (an isolation forest
              on that one number per window; its windows' values averaged onto each time step)
    score  += level_weight * mean_j (level_j - c_j) / s_j

An autoencoder's codes mix a window's level with its shape, so a window whose level alone is unusual need
not have an unusual code; ``benchmarks/anomaly_nab_level.py`` shows how much of what an isolation forest finds
in NAB's windows is their level. Series are also scored at a coarser time scale (``coarse_factor``): a second
detector of the same kind, fitted on the series averaged over blocks of that many steps, sees windows that
span that many times more time, which is where slow faults (a drift, a weeks-long change of regime) show; its
terms, repeated over each block's steps, are added to the fine ones. Every part of the score is a sum of
per-feature terms plus a constant plus the latent term, so :meth:`AnomalyDetector.explain` gives exact
contributions. Models with a posterior (VAEs) replace ``recon`` by their bound on ``-log p(x)`` or, with
``error="reconstruction_probability"``, by ``-E_q log p(x|z)``.

Fitting is two passes (``trim``): an ensemble on all rows, then a second ensemble trained and calibrated
without the 10% of rows the first one scores highest, which are mostly the anomalies hiding in unlabeled data.
The defaults (error, latent score and weight, trim, steps, ensemble size) were picked on the ODDS benchmark
(``benchmarks/anomaly_odds.py``), the mean over its 12 sets, not on any single one; for series, the latent
score and weight on the NAB benchmark (``benchmarks/anomaly_nab.py``), the mean over its 6 series.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from aekit._version import __version__
from aekit.anomaly.calibration import PROBABILITY_METHODS, label_confidence, outlier_probability
from aekit.anomaly.latent import LATENT_SCORES, IsolationScore, LatentScore, MahalanobisScore
from aekit.anomaly.scaling import FEATURE_SCALERS, FeatureScaler
from aekit.data import check_column_names, check_numeric_columns
from aekit.data.windows import block_means, make_windows, overlap_average, spread_window_values
from aekit.errors import AekitError, DataError, ModelFileError, check_choice, check_float, check_int, name_list, warn
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
from aekit.parts import BACKBONES, LIKELIHOODS
from aekit.presets import PRESETS

__all__ = ["ERRORS", "AnomalyDetector", "Explanation", "check_save_path", "detector_files"]

logger = logging.getLogger(__name__)

ERRORS = ("auto", "squared", "absolute", "standardized", "likelihood", "reconstruction_probability")
# the errors computed from the model's posterior: -log p(x) bounds or -E_q log p(x|z), term of log_likelihood
_POSTERIOR_ERRORS = {"likelihood": "bound", "reconstruction_probability": "reconstruction"}
SCALERS = ("auto", *FEATURE_SCALERS)
DETECTOR_FILE = "detector.json"
STATE_FILE = "detector.safetensors"
FORMAT = "aekit.anomaly_detector"
# 4: a coarse-scale detector for series; 3: series level terms; 2: a latent scorer per member (1: Mahalanobis mean
# and precision)
FORMAT_VERSION = 4
_OWNER = "AnomalyDetector"
_COARSE_DIR = "coarse"  # the coarse-scale detector's directory inside a saved detector

# n_estimators="auto": members for tables and dense series windows, and for costly members: images (each member
# trains on half the images) and models that read windows as sequences (a transformer or GRU step costs ~30x a
# dense one), where more members did not score better. One-class MNIST / Fashion-MNIST, seed 0, mean ROC-AUC with
# 3 members (benchmarks/results/anomaly_images_conv3.md, _dense3.md) against 10 (anomaly_images_mnist.md,
# _fashion.md): conv 0.944 / 0.915 against 0.947 / 0.915; dense on images 0.928 / 0.908 against 0.929 / 0.908.
# NAB transformer, seed 0, mean ROC-AUC / event F1: 0.787 / 0.690 with 10 members (anomaly_nab_transformer10.md,
# 374 s a series) against 0.789 / 0.711 with 2 (anomaly_nab.md, 68 s); with 3, the default, 0.791 / 0.686, and the
# GRU windows 0.813 / 0.654 against 0.813 / 0.624 with 2 (anomaly_nab_sequence.md, anomaly_nab_recurrent.md).
_ESTIMATORS = 10
_COSTLY_ESTIMATORS = 3
# Optimizer steps per member when max_epochs is None (see _make_autoencoder).
_TARGET_STEPS = 500
# latent_weight="auto". NAB mean ROC-AUC by weight (isolation latent score, 1 seed): 0.68 at 0.5, 0.725 at 2,
# 0.735 at 5; tables: 0.5, picked on ODDS with the Mahalanobis score.
_LATENT_WEIGHT = 0.5
_SERIES_LATENT_WEIGHT = 5.0
# level_weight="auto" for series. NAB, dense windows, 3 seeds, mean ROC-AUC / event F1: 0.737 / 0.694 without
# the level term, 0.744 / 0.716 at 1.5; at 3 (1 seed) 0.747 / 0.601, the event F1 of ambient temperature falling.
_SERIES_LEVEL_WEIGHT = 1.5
# coarse_factor="auto" for series. NAB, dense windows, seed 0, mean ROC-AUC / event F1 with the coarse detector's
# scores added at factor 4 / 8 / 16: 0.808 / 0.698, 0.809 / 0.662, 0.778 / 0.557, against 0.743 / 0.714 without.
_SERIES_COARSE_FACTOR = 4
# Posterior draws per row for the "likelihood" and "reconstruction_probability" errors: for the first a tighter
# bound than the 1-sample ELBO, for the second a steadier mean, at 10x the cost of one decode; the draws are
# seeded, so scores are deterministic.
_LIKELIHOOD_SAMPLES = 10


def check_save_path(path: str | os.PathLike[str], option: str = "The detector's folder") -> Path:
    """Refuse (one line) a path :meth:`AnomalyDetector.save` may not write: something there that is neither a
    saved detector nor an empty directory. Callers that train first check it before training."""
    return check_saved_folder(path, file=DETECTOR_FILE, what="detector", option=option)


def _is_detector_part(name: str) -> bool:
    """Whether an entry of a saved detector's directory is written by :meth:`AnomalyDetector.save`."""
    return name in (DETECTOR_FILE, STATE_FILE, _COARSE_DIR) or (name.startswith("member_") and name[7:].isdigit())


def detector_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files and folders of the saved detector in ``path`` (none when it is not a folder): what a command
    that loads it must not overwrite."""
    path = Path(path)
    return [entry for entry in path.iterdir() if _is_detector_part(entry.name)] if path.is_dir() else []


# ------------------------------------------------------------------------------------------- explanation
@dataclass
class Explanation:
    """Why each row scored as it did: ``scores == offset + latent + contributions.sum(axis=1)``.

    Attributes
    ----------
    scores : ndarray of shape (n_rows,), the anomaly scores (``decision_function``).
    contributions : ndarray of shape (n_rows, n_features)
        Each feature's share of the reconstruction term (pixels for images, channels for series: a series
        row is one time step, whose score comes from that step's own reconstruction errors). For series it
        also holds each channel's level term, centred on its training median (so it can be negative).
    latent : ndarray of shape (n_rows,), the latent-space term.
    offset : float, the constant part (minus the training median of each term).
    feature_names : list of str, one per column of ``contributions``.
    index : ndarray of shape (n_rows,): row numbers, or the timestamps of a series.
    index_name : str or None, the name of the scored frame's index (``to_frame`` names its index so; else "id").
    """

    scores: np.ndarray
    contributions: np.ndarray
    latent: np.ndarray
    offset: float
    feature_names: list[str]
    index: np.ndarray
    index_name: str | None = None

    def top(self, k: int = 3) -> list[list[tuple[str, float]]]:
        """The ``k`` features with the largest contributions, per row, largest first."""
        k = min(check_int(k, name="k", owner="Explanation.top", low=1), self.contributions.shape[1])
        order = np.argsort(-self.contributions, axis=1, kind="stable")[:, :k]
        return [[(self.feature_names[j], float(self.contributions[i, j])) for j in row]
                for i, row in enumerate(order)]

    def to_frame(self, k: int = 3, labels: np.ndarray | None = None) -> pd.DataFrame:
        """One row per sample: score, label (if given), latent term and the top ``k`` features as text."""
        frame = pd.DataFrame({"score": self.scores}, index=pd.Index(self.index, name=self.index_name or "id"))
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != self.scores.shape or not np.isin(labels, (0, 1)).all():
                raise AekitError(f"labels must hold one 0 (inlier) or 1 (outlier) per row ({len(self.scores)}); got "
                                 f"shape {labels.shape} with values {np.unique(labels)[:5]}. Pass predict(X) or "
                                 "(scores > threshold_).astype(int).")
            frame["label"] = labels.astype(int)
        frame["latent"] = self.latent
        frame["top_features"] = ["; ".join(f"{name}={value:.4g}" for name, value in row) for row in self.top(k)]
        return frame


@dataclass
class _Member:
    """One autoencoder of the ensemble and its score statistics (all from the training rows)."""

    autoencoder: AutoEncoder
    residual_scale: np.ndarray  # (n_features,) typical |residual| per feature, for "standardized"
    latent_model: LatentScore  # how unusual a code is among the member's training codes
    term_floor: float = 0.0  # posterior errors: the lowest training value, so the apportioned term is >= 0
    recon_center: float = 0.0
    recon_spread: float = 1.0
    latent_center: float = 0.0
    latent_spread: float = 1.0


# -------------------------------------------------------------------------------------------- detector
class AnomalyDetector(OutlierMixin, BaseEstimator):
    """Unsupervised anomaly detection with an ensemble of autoencoders, PyOD's API and meanings.

    ``decision_function`` gives anomaly scores (higher = more anomalous); ``predict`` gives 0 for inliers and
    1 for outliers (PyOD's convention, not scikit-learn's -1/+1); ``predict_proba`` is PyOD's linear min-max
    (or ``"unify"`` Gaussian) scaling of the scores against the training scores, and ``predict_confidence``
    PyOD's ExCeeD confidence in each label.

    Parameters
    ----------
    model : str, default "dense"
        Any autoencoder preset (``aekit.list_models()``): ``"dense"`` for tables and series windows, ``"conv"``
        for images, ``"transformer"`` for series windows (channels, length); variational presets (``"vae"``)
        are scored by their likelihood bound, see ``error``.
    contamination : float in (0, 0.5], default 0.1
        Expected share of anomalies in the training data; sets ``threshold_`` (see :meth:`set_threshold` for a
        target false-positive rate on clean data or a fixed value).
    latent_dim : int or None, default None
        Code size; None: a quarter of the features, between 2 and 16, and fewer than the features (see
        ``_auto_latent_dim``).
    hidden_dims : tuple of int or None, default None
        Backbone widths; None sizes a flattening backbone (dense) to the data, other backbones keep the preset's.
    model_options, loss, input_shape, device :
        Passed to every :class:`aekit.AutoEncoder`.
    max_epochs : int or None, default None
        None: enough epochs for about 500 optimizer steps (5 to 300) per member, so small and large data sets
        get the same amount of training.
    batch_size : int, default 64
    lr : float, default 1e-3
    validation_fraction : float in [0, 1), default 0.1
        Rows of each member's subsample held out for early stopping.
    scaler : {"auto", "robust", "standard", "minmax", "none"}, default "auto"
        ``"auto"``: robust per feature (median; IQR/1.349, capped at the std) for tables and series channels,
        one global min-max for images.
    error : str, default "auto"
        Per-feature reconstruction error, one of ``ERRORS``: ``"squared"``, ``"absolute"``, ``"standardized"``
        (the absolute residual divided by that feature's typical residual on the training rows, 1.4826 x the
        median, so features that are hard to reconstruct for every row do not drown the others). Models with a
        posterior (VAEs) also have ``"likelihood"``, the importance-weighted bound on ``-log p(x)`` (a tighter
        negative ELBO), and ``"reconstruction_probability"``, ``-(1/L) sum_l log p(x|z_l)`` over codes drawn
        from the posterior (An and Cho, 2015: how well x is explained, whatever its code's prior density);
        both use 10 seeded draws and are apportioned to the features by their squared residuals. ``"auto"``:
        likelihood for models with a posterior, else squared error for images and standardized error for
        tables and series.
    n_estimators : int or "auto", default "auto"
        Autoencoders in the ensemble; their standardized scores are averaged. ``"auto"``: 10 for tables and
        dense series windows; 3 where members are costly and more did not score better: images (one-class
        MNIST / Fashion-MNIST, conv: mean ROC-AUC 0.944 / 0.915 with 3, 0.947 / 0.915 with 10) and sequence
        models on windows (NAB, transformer: 0.787 with 10, 0.789 with 2, at 5x the time).
    max_samples : int, float or "auto", default "auto"
        Rows (windows for series) each member trains on, drawn without replacement. A float is a share of the
        rows. ``"auto"``: all rows for a single member; else 256 rows for tables (as IsolationForest, against
        masking by clusters of anomalies) and half of the images or windows (256 to 10000).
    latent_score : {"auto", "isolation", "mahalanobis"}, default "auto"
        How the latent term measures an unusual code (see :mod:`aekit.anomaly.latent`): ``"isolation"``, an
        isolation forest on the member's training codes, follows clusters of any shape; ``"mahalanobis"``,
        the distance to their mean under their covariance, assumes one elliptical cluster. ``"auto"``:
        isolation for series (NAB mean ROC-AUC 0.735 against 0.706 at weight 5), Mahalanobis for tables and
        images (ODDS, 5 seeds: mean ROC-AUC 85.0 against 84.9, PR-AUC 54.1 against 52.4).
    latent_weight : float or "auto", default "auto"
        Weight of the latent term; 0 scores by reconstruction only. ``"auto"``: 0.5 for tables and images
        (picked on ODDS), 5 for series (picked on NAB: a level shift is reconstructed well, but its windows'
        codes are rare).
    level_weight : float or "auto", default "auto"
        Series only: weight of the level term, how unusual each channel's mean over a window is (see the module
        docstring); 0 leaves it out. ``"auto"``: 1.5 for series (picked on NAB), 0 for tables and images, which
        have no windows.
    coarse_factor : int >= 1 or "auto", default "auto"
        Series only: also fit a second detector (same parameters) on the series averaged over blocks of this
        many steps (:func:`aekit.data.windows.block_means`), whose windows span this many times more time,
        and add its terms, repeated over each block's steps, to every step's; 1 leaves it out. Fitting needs
        at least ``coarse_factor * window_size + 1`` steps (two windows of blocks), scoring
        ``coarse_factor * (window_size - 1) + 1`` (one). ``"auto"``: 4 for series long enough to fit it (else
        1; picked on NAB), 1 for tables and images. A series takes about twice as long to fit.
    trim : float in [0, 0.5), default 0.1
        Robust refit: the share of training samples (windows for series) with the highest first-pass scores
        that the second ensemble neither trains on nor calibrates on; 0 fits one ensemble. Scores and
        ``decision_scores_`` always cover every row.
    window_size : int or None, default None
        Time-series mode: rows of ``X`` are time steps (``X`` of shape (n_timesteps,) or (n_timesteps,
        n_channels)), cut into windows of this many steps; scores are per time step. A step's score averages
        the windows that cover it, and the first and last ``window_size - 1`` steps of a scored series are
        covered by fewer (the last step by one): their scores spread wider, higher or lower, than the rest.
        When monitoring, score the new steps together with the ``window_size - 1`` steps before them (and,
        at the coarse scale, ``coarse_factor`` times as many) and read the scores of the new steps only; the
        newest ``window_size - 1`` steps settle as later steps arrive.
    window_stride : int, default 1
        Steps between window starts, at most ``window_size`` (every step needs a window to be scored).
    random_state : int, RandomState or None, default None
        Seeds the subsamples and every member: same seed, same detector on CPU.
    verbose : bool, default False

    Attributes
    ----------
    decision_scores_ : ndarray of shape (n_samples,), anomaly scores of the training rows.
    threshold_ : float, rows scoring above it are outliers.
    labels_ : ndarray of int, shape (n_samples,), 0/1 labels of the training rows.
    threshold_info_ : dict, how ``threshold_`` was set (method and its parameter).
    estimators_ : list of aekit.AutoEncoder
    coarse_ : AnomalyDetector or None, the coarse-scale detector of a series (see ``coarse_factor``).
    coarse_factor_ : int, the block size it was fitted with (1: none).
    n_estimators_ : int, the members of the ensemble (``n_estimators`` resolved).
    scaler_ : FeatureScaler
    kind_ : {"tabular", "image", "series"}
    feature_names_ : list of str, names of the features (pixels, channels) in explanations.
    constant_features_ : list of str, columns constant in the training data (left out of the scores).
    n_features_in_ : int
    metadata_ : dict, what :meth:`save` was given as ``metadata`` (a loaded detector only).
    """

    # For scikit-learn's check_outlier_contamination; every parameter is validated in fit.
    _parameter_constraints: ClassVar[dict] = {"contamination": [Interval(Real, 0, 0.5, closed="right")]}

    def __init__(
        self,
        model: str = "dense",
        contamination: float = 0.1,
        *,
        latent_dim: int | None = None,
        hidden_dims: tuple[int, ...] | None = None,
        model_options: dict[str, Any] | None = None,
        loss: str | None = None,
        max_epochs: int | None = None,
        batch_size: int = 64,
        lr: float = 1e-3,
        validation_fraction: float = 0.1,
        scaler: str = "auto",
        error: str = "auto",
        n_estimators: int | str = "auto",
        max_samples: float | str = "auto",
        latent_score: str = "auto",
        latent_weight: float | str = "auto",
        level_weight: float | str = "auto",
        coarse_factor: int | str = "auto",
        trim: float = 0.1,
        window_size: int | None = None,
        window_stride: int = 1,
        input_shape: tuple[int, ...] | None = None,
        random_state: int | np.random.RandomState | None = None,
        device: str = "auto",
        verbose: bool = False,
    ) -> None:
        self.model = model
        self.contamination = contamination
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.model_options = model_options
        self.loss = loss
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.validation_fraction = validation_fraction
        self.scaler = scaler
        self.error = error
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.latent_score = latent_score
        self.latent_weight = latent_weight
        self.level_weight = level_weight
        self.coarse_factor = coarse_factor
        self.trim = trim
        self.window_size = window_size
        self.window_stride = window_stride
        self.input_shape = input_shape
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # --------------------------------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None) -> AnomalyDetector:
        """Train the ensemble on ``X`` (unlabeled; ``y`` is ignored) and set the threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, C, H, W) for images, or a series of
            shape (n_timesteps,) / (n_timesteps, n_channels) when ``window_size`` is set. DataFrames keep
            their column names (and a DatetimeIndex its timestamps).
        y : ignored.

        Returns
        -------
        self
        """
        self._check_params()
        X = self._validate(X, reset=True)
        kind = self._kind(X)
        if len(X) < 2:
            unit = "time step" if kind == "series" else "sample"
            raise DataError(f"{_OWNER} needs at least 2 samples to fit; got 1 {unit} (n_samples=1). "
                            "Pass more rows: a detector learns what is typical from many.")
        rows = X.reshape(len(X), -1)
        scaler_kind = self.scaler if self.scaler != "auto" else ("minmax" if kind == "image" else "robust")
        self.scaler_ = FeatureScaler(scaler_kind, per_feature=kind != "image").fit(rows)
        names = self._input_feature_names(rows.shape[1])
        self.constant_features_ = [names[j] for j in np.flatnonzero(self.scaler_.constant_)]
        if kind != "image" and len(self.constant_features_) == rows.shape[1]:
            raise DataError(f"Every feature of the training data is constant ({name_list(names)}), so nothing "
                            "tells an anomaly from a typical row. Pass data whose features vary.")
        if self.constant_features_:
            message = (f"{len(self.constant_features_)} feature(s) are constant in the training data "
                       f"({name_list(self.constant_features_)}); they carry no information and are left out "
                       "of the scores. Drop them to silence this warning.")
            warn(logger, message, stacklevel=2)
        self.keep_ = ~self.scaler_.constant_ if kind != "image" else np.ones(rows.shape[1], dtype=bool)
        self.kind_ = kind
        costly = kind == "image" or self._sample_ndims() is not None
        self.n_estimators_ = (int(self.n_estimators) if self.n_estimators != "auto"
                              else _COSTLY_ESTIMATORS if costly else _ESTIMATORS)
        self.latent_weight_ = (float(self.latent_weight) if self.latent_weight != "auto"
                               else _SERIES_LATENT_WEIGHT if kind == "series" else _LATENT_WEIGHT)
        self.latent_score_ = (self.latent_score if self.latent_score != "auto"
                              else "isolation" if kind == "series" else "mahalanobis")
        self.level_weight_ = (float(self.level_weight) if self.level_weight != "auto"
                              else _SERIES_LEVEL_WEIGHT if kind == "series" else 0.0)
        self.coarse_factor_ = self._resolve_coarse_factor(len(X))
        kept_names = [n for n, keep in zip(names, self.keep_) if keep]
        self.feature_names_ = kept_names

        if kind == "series" and len(X) <= self.window_size:  # one window: nothing to compare it with
            raise DataError(f"{_OWNER} needs at least 2 windows to fit; the series has {len(X)} time steps, "
                            f"{'one window' if len(X) == self.window_size else 'less than one window'} of "
                            f"{self.window_size}. Pass at least {self.window_size + 1} steps or a smaller "
                            "window_size.")
        samples, starts = self._samples(X)
        rng = np.random.default_rng(self._seed())
        levels = self._fit_levels(samples, starts, len(X), None, None)
        terms = self._fit_members(samples, starts, len(X), rng, None, None)
        if self.trim > 0:
            # Robust refit: the rows the first ensemble finds most anomalous are likely the anomalies hiding in
            # the unlabeled data; a second ensemble trained (and calibrated) without them reconstructs them worse.
            first = self._combine(terms, levels, samples, len(X)).scores
            window_scores = first if starts is None else _window_means(first, starts, self.window_size)
            kept_samples = np.flatnonzero(window_scores <= np.quantile(window_scores, 1 - self.trim))
            kept_units = np.flatnonzero(first <= np.quantile(first, 1 - self.trim))
            levels = self._fit_levels(samples, starts, len(X), kept_samples, kept_units)
            terms = self._fit_members(samples, starts, len(X), rng, kept_samples, kept_units)
        self.n_train_samples_ = len(X)
        scores = self._combine(terms, levels, samples, len(X)).scores
        self._fit_coarse(X)
        if self.coarse_ is not None:  # its training scores are on this series' block means
            scores = scores + self._to_steps(self.coarse_.decision_scores_, len(X))
        self.decision_scores_ = scores
        self.set_threshold(contamination=self.contamination)
        return self

    def _fit_members(self, samples: np.ndarray, starts: np.ndarray | None, n_units: int, rng: np.random.Generator,
                     kept_samples: np.ndarray | None, kept_units: np.ndarray | None) -> list[tuple[np.ndarray, ...]]:
        """Train ``n_estimators`` autoencoders on subsamples of ``kept_samples`` (all when None), set
        ``members_``, and return each member's terms on every training unit."""
        pool = np.arange(len(samples)) if kept_samples is None else kept_samples
        n_fit = self._n_fit_rows(len(pool))
        members, terms = [], []
        for index in range(self.n_estimators_):
            seed = int(rng.integers(0, 2**31 - 1))
            rows = np.sort(rng.choice(pool, n_fit, replace=False)) if n_fit < len(pool) else pool
            autoencoder = self._make_autoencoder(samples.shape[1:], n_fit, seed)
            logger.info("Training member %d/%d on %d %s.", index + 1, self.n_estimators_, n_fit,
                        "windows" if self.kind_ == "series" else "rows")
            autoencoder.fit(samples[rows])
            if index == 0 and kept_samples is None:
                self.error_ = self._resolve_error(autoencoder, samples)
            member, errors, latent = self._member_statistics(autoencoder, samples, starts, n_units, kept_samples,
                                                             kept_units)
            members.append(member)
            terms.append((errors, latent))
        self.members_ = members
        return terms

    def _fit_levels(self, samples: np.ndarray, starts: np.ndarray | None, n_units: int,
                    kept_samples: np.ndarray | None, kept_units: np.ndarray | None) -> np.ndarray | None:
        """Series: fit one isolation forest per channel on the kept windows' means (``level_models_``) and
        their per-step statistics on the kept units; return the level terms of every training unit, (n_units,
        n_channels). Tables, images and ``level_weight=0``: no level models, None."""
        self.level_models_: list[IsolationScore] = []
        self.level_centers_, self.level_spreads_ = np.zeros(0), np.ones(0)
        if starts is None or self.level_weight_ == 0:
            return None
        means = samples.mean(axis=-1)  # (n_windows, channels)
        kept = slice(None) if kept_samples is None else kept_samples
        seed = self._seed()
        self.level_models_ = [IsolationScore().fit(means[kept, j:j + 1], seed=(seed + j) % 2**32)
                              for j in range(means.shape[1])]
        levels = self._level_terms(samples, starts, n_units)
        units = slice(None) if kept_units is None else kept_units
        self.level_centers_, self.level_spreads_ = (np.array(v) for v in zip(*map(_center_spread, levels[units].T)))
        return levels

    def _level_terms(self, samples: np.ndarray, starts: np.ndarray | None, n_units: int) -> np.ndarray | None:
        """Each channel's level term on every unit (n_units, n_channels); None without level models."""
        if starts is None or not self.level_models_:
            return None
        means = samples.mean(axis=-1)  # (n_windows, channels)
        window_levels = np.stack([model.score(means[:, j:j + 1]) for j, model in enumerate(self.level_models_)],
                                 axis=1)  # (n_windows, channels)
        return spread_window_values(window_levels, starts, self.window_size, n_units)

    def _resolve_coarse_factor(self, n_steps: int) -> int:
        """``coarse_factor`` for this fit: "auto" gives 4 for series long enough for it, else 1; a factor the
        series is too short for is an error, raised before any training."""
        if self.coarse_factor != "auto":
            if self.coarse_factor > 1:
                self._check_coarse_length(n_steps, self.coarse_factor, fit=True)
            return int(self.coarse_factor)
        if self.kind_ != "series":
            return 1
        if n_steps < self._coarse_min_steps(_SERIES_COARSE_FACTOR, fit=True):
            logger.info("No coarse scale: %d steps is too short for windows of %d blocks of %d steps.", n_steps,
                        self.window_size, _SERIES_COARSE_FACTOR)
            return 1
        return _SERIES_COARSE_FACTOR

    def _fit_coarse(self, X: np.ndarray) -> None:
        """Series with ``coarse_factor_ > 1``: fit ``coarse_`` on the series' block means (its kept channels)."""
        self.coarse_ = None
        factor = self.coarse_factor_
        if factor == 1:
            return
        blocks = block_means(X[:, self.keep_], factor)  # (n_blocks, kept channels)
        spread = blocks.max(axis=0) - blocks.min(axis=0)
        if (spread <= 1e-12 * np.maximum(1.0, np.abs(blocks).max(axis=0))).all():
            # a series that repeats every `factor` steps (or a divisor of it) has constant block means: nothing to
            # see at that scale
            if self.coarse_factor == "auto":
                logger.info("No coarse scale: the means over blocks of %d steps are constant.", factor)
                self.coarse_factor_ = 1
                return
            raise DataError(f"At the coarse scale (coarse_factor={factor}) the series is constant: its means over "
                            f"blocks of {factor} steps do not vary (it repeats every {factor} steps or a divisor of "
                            "that). Pass another coarse_factor, or 1 for none.")
        coarse = AnomalyDetector(**{**self.get_params(), "coarse_factor": 1, "random_state": self._seed()})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # constant channels: already reported by this fit
            coarse.fit(blocks)
        self.coarse_ = coarse

    def _coarse_min_steps(self, factor: int, *, fit: bool) -> int:
        """Steps a series needs at the coarse scale: one window of blocks to score, two to fit (as the fine
        scale: see ``_samples``), the last block possibly short."""
        return factor * (self.window_size if fit else self.window_size - 1) + 1

    def _check_coarse_length(self, n_steps: int, factor: int, *, fit: bool = False) -> None:
        needed = self._coarse_min_steps(factor, fit=fit)
        if n_steps < needed:
            raise DataError(f"The series has {n_steps} time steps; {'fitting' if fit else 'scoring'} it also at the "
                            f"coarse scale (coarse_factor={factor}, windows of {self.window_size} blocks of {factor} "
                            f"steps) needs at least {needed}. Pass a longer series, or "
                            f"{'set' if fit else 'fit with'} coarse_factor=1.")

    def _to_steps(self, block_values: np.ndarray, n_steps: int) -> np.ndarray:
        """Values per coarse block -> per time step (each block's value repeated over its steps)."""
        return np.repeat(block_values, self.coarse_factor_, axis=0)[:n_steps]

    def _with_coarse(self, explanation: Explanation, X: np.ndarray) -> Explanation:
        """Add the coarse detector's terms on ``X``'s block means, repeated over each block's steps."""
        if self.coarse_ is None:
            return explanation
        factor, n_steps = self.coarse_factor_, len(X)
        self._check_coarse_length(n_steps, factor)
        coarse = self.coarse_._explain_samples(*self.coarse_._samples(block_means(X[:, self.keep_], factor)),
                                               math.ceil(n_steps / factor))
        contributions = np.zeros((len(coarse.scores), len(self.feature_names_)))
        contributions[:, self.coarse_.keep_] = coarse.contributions  # a channel constant only when coarse: 0
        return Explanation(scores=explanation.scores + self._to_steps(coarse.scores, n_steps),
                           contributions=explanation.contributions + self._to_steps(contributions, n_steps),
                           latent=explanation.latent + self._to_steps(coarse.latent, n_steps),
                           offset=explanation.offset + coarse.offset,
                           feature_names=explanation.feature_names, index=explanation.index)

    @property
    def estimators_(self) -> list[AutoEncoder]:
        check_is_fitted(self, "members_")
        return [m.autoencoder for m in self.members_]

    def _check_params(self) -> None:
        PRESETS.get(self.model)  # unknown name -> did-you-mean error
        _check_contamination(self.contamination)
        if self.n_estimators != "auto":
            check_int(self.n_estimators, name="n_estimators", owner=_OWNER, low=1)
        check_choice(self.scaler, SCALERS, name="scaler", owner=_OWNER)
        check_choice(self.error, ERRORS, name="error", owner=_OWNER)
        if self.latent_score != "auto":
            LATENT_SCORES.get(self.latent_score)  # unknown name -> lists the registered ones
        for name, weight, off in (("latent_weight", self.latent_weight, "score by reconstruction only"),
                                  ("level_weight", self.level_weight, "leave the level term out")):
            if weight != "auto" and not (isinstance(weight, Real) and not isinstance(weight, bool) and weight >= 0
                                         and math.isfinite(weight)):
                raise AekitError(f"The '{name}' parameter of {_OWNER} must be a float >= 0 or 'auto'. Got "
                                 f"{weight!r} instead. Pass 0 to {off}.")
        if self.coarse_factor != "auto":
            check_int(self.coarse_factor, name="coarse_factor", owner=_OWNER, low=1)
        for name, value, off, role in (("level_weight", self.level_weight, 0, "weighs a term of"),
                                       ("coarse_factor", self.coarse_factor, 1, "sets a second time scale for")):
            if self.window_size is None and value not in ("auto", off):
                raise AekitError(f"The '{name}' parameter of {_OWNER} {role} series windows, but window_size is None "
                                 f"(got {name}={value!r}). Set window_size for a series, or leave {name} at 'auto'.")
        check_float(self.trim, name="trim", owner=_OWNER, low=0.0, high=0.5, high_inclusive=False)
        check_int(self.batch_size, name="batch_size", owner=_OWNER, low=1)
        check_float(self.lr, name="lr", owner=_OWNER, low=0.0, low_inclusive=False)
        check_float(self.validation_fraction, name="validation_fraction", owner=_OWNER, low=0.0, high=1.0,
                    high_inclusive=False)
        if self.latent_dim is not None:
            check_int(self.latent_dim, name="latent_dim", owner=_OWNER, low=1)
        if self.max_epochs is not None:
            check_int(self.max_epochs, name="max_epochs", owner=_OWNER, low=1)
        if self.window_size is not None:
            check_int(self.window_size, name="window_size", owner=_OWNER, low=2)
        # a stride longer than the window would skip steps, which then have no score
        check_int(self.window_stride, name="window_stride", owner=_OWNER, low=1, high=self.window_size)
        if self.window_size is None and self.window_stride != 1:
            raise AekitError(f"The 'window_stride' parameter of {_OWNER} sets the steps between series windows, but "
                             f"window_size is None (got window_stride={self.window_stride!r}). Set window_size for a "
                             "series, or leave window_stride at 1.")
        samples = self.max_samples
        ok = (samples == "auto" or (isinstance(samples, Integral) and not isinstance(samples, bool) and samples >= 2)
              or (isinstance(samples, (float, np.floating)) and 0 < samples <= 1))
        if not ok:
            raise AekitError(f"The 'max_samples' parameter of {_OWNER} must be 'auto', an int >= 2 or a float in "
                             f"(0, 1]. Got {samples!r} instead.")
        if isinstance(self.random_state, Integral) and not isinstance(self.random_state, bool):
            check_int(self.random_state, name="random_state", owner=_OWNER, low=0, high=2**32 - 1)  # as AutoEncoder

    def _seed(self) -> int:
        if isinstance(self.random_state, Integral) and not isinstance(self.random_state, bool):
            return int(self.random_state)
        from sklearn.utils import check_random_state

        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _n_fit_rows(self, n_samples: int) -> int:
        if self.max_samples == "auto":
            if self.n_estimators_ == 1:
                return n_samples
            if self.kind_ == "tabular":
                # IsolationForest's 256: in a small subsample a cluster of anomalies is a few rows, too few for
                # a member to learn to reconstruct (masking). ODDS mean ROC-AUC: 84.9 with 10 x 256 rows,
                # 84.3 with 5 x half the rows (2 seeds).
                return min(n_samples, 256)
            # Images and windows need more samples to learn a shape: half of them, 256 to 10000.
            return min(n_samples, max(256, min(10_000, n_samples // 2)))
        if isinstance(self.max_samples, (float, np.floating)):
            return max(2, min(n_samples, round(self.max_samples * n_samples)))
        return min(n_samples, int(self.max_samples))

    # ----------------------------------------------------------------------------------- autoencoders
    def _make_autoencoder(self, sample_shape: tuple[int, ...], n_fit: int, seed: int) -> AutoEncoder:
        n_features = math.prod(sample_shape)
        latent_dim = self.latent_dim if self.latent_dim is not None else _auto_latent_dim(n_features, self.kind_)
        hidden_dims = self.hidden_dims
        if hidden_dims is None and self._sample_ndims() is None and self.kind_ != "image":
            hidden_dims = _auto_hidden_dims(n_features, latent_dim)
        loss = self.loss
        likelihood = LIKELIHOODS.get(PRESETS.get(self.model)().likelihood.name)
        if loss is None and not getattr(likelihood, "density", True) and not likelihood.discrete \
                and self.scaler_.kind != "minmax":
            # A Bernoulli (the VAE presets' default) needs targets in [0, 1]; robust- or standard-scaled values
            # are not, so such a model gets a unit Gaussian, which fits values of about unit scale.
            loss = "gaussian"
        max_epochs = self.max_epochs
        if max_epochs is None:
            # ~500 optimizer steps whatever the size: 100 epochs of 5 steps or 5 epochs of 100. More steps let
            # the members learn the anomalies in the training data too (ODDS: 1500 steps scored lower than 500).
            steps_per_epoch = max(1, math.ceil(n_fit * (1 - self.validation_fraction) / self.batch_size))
            max_epochs = int(np.clip(math.ceil(_TARGET_STEPS / steps_per_epoch), 5, 300))
        return AutoEncoder(
            model=self.model, latent_dim=latent_dim, hidden_dims=None if hidden_dims is None else tuple(hidden_dims),
            model_options=self.model_options, loss=loss, max_epochs=max_epochs, batch_size=self.batch_size,
            lr=self.lr, validation_fraction=self.validation_fraction, scaler="none",
            input_shape=self.input_shape if self.kind_ == "image" else None, random_state=seed,
            device=self.device, verbose=self.verbose,
        )

    def _resolve_error(self, autoencoder: AutoEncoder, samples: np.ndarray) -> str:
        """``error="auto"``: the model's own likelihood bound when it has a posterior (VAEs), else squared
        error for images and standardized error for tables and series."""
        if self.error in _POSTERIOR_ERRORS or self.error == "auto":
            try:
                autoencoder.log_likelihood(samples[:1], k=1, random_state=0)
                return "likelihood" if self.error == "auto" else self.error
            except AekitError as exc:
                if self.error != "auto":
                    raise AekitError(f"error={self.error!r} needs a model with a posterior, like 'vae'; model "
                                     f"{self.model!r} has none ({exc}). Use error='auto' or a variational "
                                     "model.") from None
        if self.error != "auto":
            return self.error
        return "squared" if self.kind_ == "image" else "standardized"

    def _raw_terms(self, autoencoder: AutoEncoder, samples: np.ndarray) -> tuple[np.ndarray, ...]:
        """Residuals (n, n_features) in the scaled units, codes (n, latent_dim), and the posterior error (n,):
        -log p(x) bounds or -E_q log p(x|z) (else None)."""
        residual, codes = _residuals_and_codes(autoencoder, samples)
        nll = None
        if self.error_ in _POSTERIOR_ERRORS:
            nll = -autoencoder.log_likelihood(samples, k=_LIKELIHOOD_SAMPLES, random_state=0,
                                              term=_POSTERIOR_ERRORS[self.error_])
        return residual, codes, nll

    def _member_statistics(self, autoencoder: AutoEncoder, samples: np.ndarray, starts: np.ndarray | None,
                           n_units: int, kept_samples: np.ndarray | None, kept_units: np.ndarray | None
                           ) -> tuple[_Member, np.ndarray, np.ndarray]:
        """The member's score statistics from the kept training samples / units (all when None), and its terms
        on every training unit (reused by fit)."""
        residual, codes, nll = self._raw_terms(autoencoder, samples)
        kept = slice(None) if kept_samples is None else kept_samples
        # Typical residual per feature: median |r| (robust to the anomalies in the training data), floored at
        # 5% of the median over features so a feature reconstructed exactly does not dominate every score.
        scale = np.median(np.abs(residual[kept]), axis=0) * 1.4826
        floor = max(0.05 * float(np.median(scale)), 1e-6)
        latent_model = LATENT_SCORES.get(self.latent_score_)().fit(codes[kept], seed=autoencoder.random_state)
        member = _Member(autoencoder, np.maximum(scale, floor), latent_model,
                         term_floor=float(nll[kept].min()) if nll is not None else 0.0)
        errors, latent = self._unit_terms(member, residual, codes, nll, starts, n_units)
        units = slice(None) if kept_units is None else kept_units
        member.recon_center, member.recon_spread = _center_spread(errors[units].mean(axis=1))
        member.latent_center, member.latent_spread = _center_spread(latent[units])
        return member, errors, latent

    def _unit_terms(self, member: _Member, residual: np.ndarray, codes: np.ndarray, nll: np.ndarray | None,
                    starts: np.ndarray | None, n_units: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-unit (row or time step) feature errors (n_units, n_unit_features) and latent term (n_units,)."""
        if nll is not None:
            # -log p(x) has no per-feature form; apportion it by each feature's share of the squared residual,
            # so the contributions still add up to the term exactly.
            squared = np.square(residual)
            total = squared.sum(axis=1, keepdims=True)
            share = np.where(total > 0, squared / np.where(total > 0, total, 1.0), 1.0 / residual.shape[1])
            errors = residual.shape[1] * (nll - member.term_floor)[:, None] * share
        elif self.error_ == "squared":
            errors = np.square(residual)
        elif self.error_ == "absolute":
            errors = np.abs(residual)
        else:  # standardized: |residual| in units of the feature's typical residual on the training rows
            errors = np.abs(residual / member.residual_scale)
        latent = member.latent_model.score(codes)
        if starts is not None:  # windows (channels, size) -> time steps
            errors = overlap_average(errors.reshape(len(errors), -1, self.window_size), starts, n_units)  # (T, C)
            latent = spread_window_values(latent, starts, self.window_size, n_units)  # (T,)
        return errors, latent

    # ------------------------------------------------------------------------------------------ data
    def _validate(self, X: Any, *, reset: bool) -> np.ndarray:
        """Numeric float64 array, NaN rows reported by number; series come back as (n_timesteps, n_channels)."""
        if self.window_size is not None:
            index = getattr(X, "index", None)
            if isinstance(index, pd.DatetimeIndex) and not index.is_monotonic_increasing:
                # Real logs have clock glitches (NAB's machine temperature repeats an hour): the rows are windowed
                # in the order given, as they were recorded, and the user hears of it.
                step = int(np.flatnonzero(~(index[1:] >= index[:-1]))[0]) + 1  # NaT compares False: caught too
                warn(logger, f"The series' timestamps go back in time at step {step} ({index[step]} after "
                     f"{index[step - 1]}); it is windowed in row order, as given. If its rows are out of order, "
                     "sort them first (pandas: X.sort_index()).", stacklevel=3)
            if isinstance(X, pd.Series):
                X = X.to_frame()
            elif not hasattr(X, "iloc") and np.ndim(X) == 1:
                X = np.asarray(X).reshape(-1, 1)
        elif isinstance(X, (np.ndarray, pd.Series, list, tuple)) and np.ndim(X) == 1:  # else sklearn's message
            if not reset and len(X) == getattr(self, "n_features_in_", None):
                raise DataError(f"X is one-dimensional: {len(X)} values, as many as the detector's features, so "
                                "probably one row. Reshape your data as a row of a 2-D array: X.reshape(1, -1) (a "
                                "DataFrame's row: df.iloc[[i]]).")
            raise DataError(f"X is one-dimensional ({len(X)} values). Reshape your data with X.reshape(-1, 1) to "
                            "score each value as a row of one feature, or pass window_size=N (CLI: --window-size N) "
                            "to score it as a time series.")
        if isinstance(X, pd.DataFrame):  # else sklearn's "could not convert string to float", without the column
            time = "; a time column goes in the index: X.set_index('timestamp')" if self.window_size else ""
            check_numeric_columns(X, "X", advice=time)
        fitted_shape = None if reset else getattr(self, "input_shape_full_", None)
        if fitted_shape is not None and len(fitted_shape) > 1 and not isinstance(X, pd.DataFrame):
            # images: checked against the fitted sample shape, then one row each, so that n_features_in_ (the
            # values per sample, as AutoEncoder's) is compared as for tables
            X = np.asarray(X)
            self._check_sample_shape(X)
            X = X.reshape(len(X), math.prod(fitted_shape))
        elif fitted_shape is not None and isinstance(X, (np.ndarray, pd.DataFrame)):
            self._check_sample_shape(X)
        X = validate_data(self, X, reset=reset, allow_nd=True, dtype=[np.float64, np.float32],
                          ensure_all_finite=False)
        if fitted_shape is not None and len(fitted_shape) > 1:
            X = X.reshape(len(X), *fitted_shape)
        elif fitted_shape is not None and X.shape[1:] != fitted_shape:
            self._check_sample_shape(X)  # lists: scikit-learn compares the second axis only
        if self.window_size is not None and X.ndim != 2:
            raise DataError(f"In time-series mode (window_size={self.window_size}) X must be a series of shape "
                            f"(n_timesteps,) or (n_timesteps, n_channels). Got shape {X.shape} instead.")
        if X.dtype.kind == "f":
            bad = ~np.isfinite(X.reshape(len(X), -1)).all(axis=1)
            if bad.any():
                rows = np.flatnonzero(bad)
                raise DataError(f"{len(rows)} row(s) of X contain NaN or Inf (rows {_first_rows(rows)}, counted from "
                                "0). Remove or impute them before calling the detector, e.g. "
                                "X[~np.isnan(X).any(axis=1)].")
        if reset:
            self.input_shape_full_ = tuple(X.shape[1:])
            self.n_features_in_ = math.prod(self.input_shape_full_)  # values per sample, images too
        return X.astype(np.float64, copy=False)

    def _check_sample_shape(self, X: Any) -> None:
        """One line, before scikit-learn's multi-line checks, when ``X`` is not shaped like the training data:
        other columns (by name for frames fitted on frames) or another sample shape."""
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            check_column_names(list(X.columns), list(self.feature_names_in_), "X")
        shape = tuple(X.shape[1:])
        if shape == self.input_shape_full_:
            return
        if len(shape) == len(self.input_shape_full_) == 1:  # scikit-learn's words, which its checks look for
            raise DataError(f"X has {shape[0]} features, but {_OWNER} is expecting {self.input_shape_full_[0]} "
                            "features as input. Pass data with the training data's columns.")
        raise DataError(f"This detector was fitted on samples of shape {self.input_shape_full_}; X has samples of "
                        f"shape {shape}. Pass data shaped like the training data.")

    def _kind(self, X: np.ndarray) -> str:
        if self.window_size is not None:
            return "series"
        if X.ndim > 2 or self.input_shape is not None:
            return "image"
        wanted = self._sample_ndims()
        return "tabular" if wanted is None or 1 in wanted else "image"

    def _sample_ndims(self) -> tuple[int, ...] | None:
        """The sample dimensions the model's backbone reads (None: any, flattened; dense)."""
        return BACKBONES.get(PRESETS.get(self.model)().backbone.name).sample_ndims

    def _input_feature_names(self, n_features: int) -> list[str]:
        if hasattr(self, "feature_names_in_"):
            return [str(n) for n in self.feature_names_in_]
        if self.window_size is not None and n_features == 1:
            return ["value"]
        return [f"x{j}" for j in range(n_features)]

    def _samples(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Scaled model inputs: rows (tables), images, or windows (series, with their start steps)."""
        with np.errstate(over="ignore", invalid="ignore"):
            rows = self.scaler_.transform(X.reshape(len(X), -1))[:, self.keep_]
        too_large = ~(np.abs(rows) <= np.finfo(np.float32).max).all(axis=1)
        if too_large.any():
            bad = np.flatnonzero(too_large)
            raise DataError(f"{len(bad)} row(s) of X hold values too large for the model once scaled (rows "
                            f"{_first_rows(bad)}, "
                            f"up to {np.nanmax(np.abs(X.reshape(len(X), -1)[bad])):.3g}); they are "
                            "probably wrong. Fix or remove them.")
        if self.kind_ == "image":
            return rows.reshape(X.shape).astype(np.float32), None
        if self.kind_ == "series":
            if len(rows) < self.window_size:
                raise DataError(f"The series has {len(rows)} time steps, shorter than one window of this detector "
                                f"(window_size={self.window_size}). Pass a series of at least {self.window_size} "
                                "steps, or fit a detector with a smaller window_size.")
            return make_windows(rows, self.window_size, self.window_stride)  # (n_windows, channels, size)
        return rows, None

    # ------------------------------------------------------------------------------------- inference
    def _explain_samples(self, samples: np.ndarray, starts: np.ndarray | None, n_units: int) -> Explanation:
        terms = []
        for member in self.members_:
            residual, codes, nll = self._raw_terms(member.autoencoder, samples)
            terms.append(self._unit_terms(member, residual, codes, nll, starts, n_units))
        return self._combine(terms, self._level_terms(samples, starts, n_units), samples, n_units)

    def _combine(self, terms: list[tuple[np.ndarray, np.ndarray]], levels: np.ndarray | None, samples: np.ndarray,
                 n_units: int) -> Explanation:
        """Each member's terms standardized by its training statistics, then averaged over the members; the
        series' level terms, standardized by theirs, join each channel's contribution."""
        contributions, latent, offset = 0.0, 0.0, 0.0
        for member, (errors, lat) in zip(self.members_, terms):
            contributions = contributions + errors / (errors.shape[1] * member.recon_spread)
            latent = latent + self.latent_weight_ * (lat - member.latent_center) / member.latent_spread
            offset -= member.recon_center / member.recon_spread
        n = len(self.members_)
        contributions, latent, offset = contributions / n, latent / n, offset / n
        if levels is not None:
            # centred per channel, so a channel's contribution says how much its level adds beyond the usual
            share = self.level_weight_ / (levels.shape[1] * self.level_spreads_)  # (channels,)
            contributions = contributions + (levels - self.level_centers_) * share
        scores = offset + latent + contributions.sum(axis=1)
        names = self.feature_names_ if self.kind_ != "image" else _pixel_names(self.input_shape_full_, samples)
        return Explanation(scores=scores, contributions=contributions, latent=latent, offset=float(offset),
                           feature_names=names, index=np.arange(n_units))

    def explain(self, X: Any) -> Explanation:
        """Scores of ``X`` with each feature's contribution (pixels for images, channels per time step).

        ``explain(X).scores`` equals ``decision_function(X)``; ``.top(k)`` lists the features that drive each
        row's score, ``.to_frame(k)`` gives a table. Row ids are the DataFrame index (timestamps) when given.
        """
        check_is_fitted(self, "members_")
        index, name = _index_of(X), getattr(getattr(X, "index", None), "name", None)
        X = self._validate(X, reset=False)
        samples, starts = self._samples(X)
        explanation = self._with_coarse(self._explain_samples(samples, starts, len(X)), X)
        if index is not None:
            explanation.index = np.asarray(index)
        explanation.index_name = None if name is None else str(name)
        return explanation

    def decision_function(self, X: Any) -> np.ndarray:
        """Anomaly score of each row (each time step for a series): higher is more anomalous."""
        return self.explain(X).scores

    def score_samples(self, X: Any) -> np.ndarray:
        """scikit-learn's sign: ``-decision_function(X)``, higher is more normal."""
        return -self.decision_function(X)

    def predict(self, X: Any, return_confidence: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """0 for inliers, 1 for outliers (score above ``threshold_``); with ``return_confidence``, also each
        label's confidence (:meth:`predict_confidence`)."""
        scores = self.decision_function(X)
        labels = (scores > self.threshold_).astype(int)
        return (labels, self._confidence(scores)) if return_confidence else labels

    def predict_proba(self, X: Any, method: str = "linear",
                      return_confidence: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Outlier probability as PyOD computes it, against the training scores (``decision_scores_``).

        Parameters
        ----------
        method : {"linear", "unify"}, default "linear"
            ``"linear"``: min-max scaled by the training scores, clipped to [0, 1]. ``"unify"``: Kriegel et al.'s
            Gaussian scaling, ``erf((score - mean) / (std * sqrt 2))`` clipped to [0, 1]
            (:mod:`aekit.anomaly.calibration`).
        return_confidence : bool, default False
            Also return each label's confidence (:meth:`predict_confidence`).

        Returns
        -------
        ndarray of shape (n_samples, 2): columns are P(inlier), P(outlier).
        """
        check_is_fitted(self, "decision_scores_")
        check_choice(method, PROBABILITY_METHODS, name="method", owner="AnomalyDetector.predict_proba")
        scores = self.decision_function(X)
        probability = outlier_probability(scores, self.decision_scores_, method)
        return (probability, self._confidence(scores)) if return_confidence else probability

    def predict_confidence(self, X: Any) -> np.ndarray:
        """How likely each row would get the same label from a detector fitted on another draw of the training
        data, in [0, 1] (ExCeeD, PyOD's ``predict_confidence``; see :mod:`aekit.anomaly.calibration`). Low
        values mark rows near the threshold, whose label a retrained detector could flip."""
        return self._confidence(self.decision_function(X))

    def _confidence(self, scores: np.ndarray) -> np.ndarray:
        return label_confidence(scores, self.decision_scores_, self.threshold_)

    # ------------------------------------------------------------------------------------- thresholds
    def set_threshold(self, *, contamination: float | None = None, fpr: float | None = None,
                      X_clean: Any = None, value: float | None = None) -> AnomalyDetector:
        """Set ``threshold_`` (and ``labels_``) in exactly one of three ways; returns self.

        Parameters
        ----------
        contamination : float in (0, 0.5]
            Flag this share of the training rows (PyOD's rule: the (1 - contamination) percentile of
            ``decision_scores_``).
        fpr : float in (0, 1), with ``X_clean``
            Target false-positive rate on clean validation data: at most this share of ``X_clean`` scores
            above the threshold.
        value : float
            A fixed threshold on the score.
        """
        check_is_fitted(self, "decision_scores_")
        given = [name for name, v in (("contamination", contamination), ("fpr", fpr), ("value", value))
                 if v is not None]
        if len(given) != 1:
            raise AekitError(f"set_threshold takes exactly one of contamination, fpr (with X_clean) or value. "
                             f"Got {', '.join(given) or 'none'}.")
        if contamination is not None:
            _check_contamination(contamination)
            threshold = float(np.percentile(self.decision_scores_, 100 * (1 - contamination)))
            info: dict[str, Any] = {"method": "contamination", "contamination": float(contamination)}
        elif fpr is not None:
            check_float(fpr, name="fpr", owner="set_threshold", low=0.0, high=1.0, low_inclusive=False,
                        high_inclusive=False)
            if X_clean is None:
                raise AekitError("set_threshold(fpr=...) needs X_clean, data known to hold no anomalies. "
                                 "Pass X_clean=..., or use contamination=... instead.")
            clean = self.decision_function(X_clean)
            # (n - 1) * fpr >= 1, or the quantile is just the highest clean score whatever fpr, flagging none
            needed = math.ceil(1 / fpr - 1e-9) + 1
            if len(clean) < needed:
                unit = "time steps" if self.kind_ == "series" else "rows"
                raise DataError(f"A false-positive rate of {fpr:g} (1 in {needed - 1}) needs at least {needed} clean "
                                f"{unit} to be measured; the clean data has {len(clean)}. Pass more clean data, or "
                                "a larger rate.")
            threshold = float(np.quantile(clean, 1 - fpr, method="higher"))
            info = {"method": "fpr", "fpr": float(fpr), "n_clean": len(clean)}
        else:
            check_float(value, name="value", owner="set_threshold", low=-math.inf, high=math.inf, low_inclusive=False,
                        high_inclusive=False)  # a finite score: inf would flag nothing and is not JSON
            threshold = float(value)
            info = {"method": "value", "value": threshold}
        self.threshold_ = threshold
        self.threshold_info_ = info
        self.labels_ = (self.decision_scores_ > threshold).astype(int)
        return self

    # ------------------------------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None) -> Path:
        """Write a detector directory: ``detector.json``, ``detector.safetensors`` and one model directory per
        member (safetensors + JSON, never pickle). The directory is built beside ``path`` and renamed into
        place, so an interrupted save leaves any previous detector there intact. ``metadata`` (JSON-able, for
        example how the training data was read) is stored in ``detector.json`` and comes back as
        ``metadata_``.

        ``path`` must be new, an empty directory or a saved detector, whose parts are replaced while other files
        in it (a report, scores) stay. Anything else there is refused, never deleted."""
        check_is_fitted(self, "members_")
        path = Path(path)
        check_save_path(path)
        with staged_folder(path, is_part=_is_detector_part) as staging:  # a report or scores there stay
            for i, member in enumerate(self.members_):
                member.autoencoder.save(staging / f"member_{i}")
            if self.coarse_ is not None:
                self.coarse_.save(staging / _COARSE_DIR)
            state = {
                "decision_scores": _tensor(self.decision_scores_),
                "members": [{"residual_scale": _tensor(m.residual_scale),
                             "latent": {k: _tensor(v) for k, v in m.latent_model.state().items()}}
                            for m in self.members_],
                "levels": [{k: _tensor(v) for k, v in model.state().items()} for model in self.level_models_],
            }
            save_state(staging / STATE_FILE, state)
            params = params_to_store(self.get_params())
            write_json(staging / DETECTOR_FILE, {
                "format": FORMAT, "format_version": FORMAT_VERSION, "aekit_version": __version__,
                "params": params, "kind": self.kind_, "error": self.error_, "scaler": self.scaler_.to_dict(),
                "latent_weight": self.latent_weight_, "latent_score": self.latent_score_,
                "level_weight": self.level_weight_, "level_centers": self.level_centers_.tolist(),
                "level_spreads": self.level_spreads_.tolist(), "coarse_factor": self.coarse_factor_,
                "keep": self.keep_.tolist(), "feature_names": self.feature_names_,
                "feature_names_in": ([str(n) for n in self.feature_names_in_]
                                     if hasattr(self, "feature_names_in_") else None),
                "constant_features": self.constant_features_, "n_features_in": int(self.n_features_in_),
                "input_shape": list(self.input_shape_full_), "n_train_samples": int(self.n_train_samples_),
                "threshold": self.threshold_, "threshold_info": self.threshold_info_,
                "members": [{"recon_center": m.recon_center, "recon_spread": m.recon_spread,
                             "latent_center": m.latent_center, "latent_spread": m.latent_spread,
                             "term_floor": m.term_floor, "latent_score": m.latent_model.name}
                            for m in self.members_],
                "metadata": metadata,
            })
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "cpu") -> AnomalyDetector:
        """Load a directory written by :meth:`save`; never unpickles."""
        path = Path(path)
        config = read_config(path, file=DETECTOR_FILE, file_format=FORMAT, max_version=FORMAT_VERSION,
                             what="detector", origin="the --out folder of 'aekit detect fit' or a path given to "
                                                     "AnomalyDetector.save")
        try:
            valid = cls().get_params()
            params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config["params"].items() if k in valid}
            detector = cls(**params)
            state = load_state(path / STATE_FILE)
            members = []
            for i, (stats, arrays) in enumerate(zip(config["members"], state["members"])):
                try:
                    autoencoder = AutoEncoder.load(path / f"member_{i}", device=device)
                except ModelFileError as exc:  # else advice about a model's folder, which the user did not pass
                    raise ModelFileError(f"The detector in '{path}' is incomplete: its member_{i} cannot be loaded "
                                         f"({exc}). Fit and save the detector again.") from None
                stats = dict(stats)
                if "latent" in arrays:
                    scorer = LATENT_SCORES.get(stats.pop("latent_score"))
                    latent_model = scorer.from_state({k: v.numpy() for k, v in arrays["latent"].items()})
                else:  # format 1: every member had a Mahalanobis term
                    latent_model = MahalanobisScore.from_state({"mean": arrays["latent_mean"].numpy(),
                                                                "precision": arrays["latent_precision"].numpy()})
                members.append(_Member(autoencoder, arrays["residual_scale"].numpy(), latent_model, **stats))
            detector.members_ = members
            detector.n_estimators_ = len(members)
            detector.decision_scores_ = state["decision_scores"].numpy()
            detector.kind_, detector.error_ = config["kind"], config["error"]
            # format 1 had one float latent_weight parameter, stored with the params
            detector.latent_weight_ = float(config.get("latent_weight", detector.latent_weight))
            detector.latent_score_ = config.get("latent_score", "mahalanobis")
            # format 2 had no level term
            detector.level_weight_ = float(config.get("level_weight", 0.0))
            detector.level_models_ = [IsolationScore.from_state({k: v.numpy() for k, v in arrays.items()})
                                      for arrays in state.get("levels", [])]
            detector.level_centers_ = np.asarray(config.get("level_centers", []), dtype=np.float64)
            detector.level_spreads_ = np.asarray(config.get("level_spreads", []), dtype=np.float64)
            # formats up to 3 had no coarse scale
            detector.coarse_factor_ = int(config.get("coarse_factor", 1))
            detector.coarse_ = cls.load(path / _COARSE_DIR, device=device) if detector.coarse_factor_ > 1 else None
            detector.scaler_ = FeatureScaler.from_dict(config["scaler"])
            detector.keep_ = np.asarray(config["keep"], dtype=bool)
            detector.feature_names_ = list(config["feature_names"])
            if config.get("feature_names_in") is not None:
                detector.feature_names_in_ = np.asarray(config["feature_names_in"], dtype=object)
            detector.constant_features_ = list(config["constant_features"])
            detector.input_shape_full_ = tuple(config["input_shape"])
            # values per sample (earlier saves stored an image's channels here)
            detector.n_features_in_ = math.prod(detector.input_shape_full_)
            detector.n_train_samples_ = int(config["n_train_samples"])
            detector.threshold_, detector.threshold_info_ = float(config["threshold"]), config["threshold_info"]
            detector.labels_ = (detector.decision_scores_ > detector.threshold_).astype(int)
            detector.metadata_ = config.get("metadata") or {}
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, AekitError):
                raise
            raise ModelFileError(f"Cannot load the detector in '{path}' ({type(exc).__name__}: {exc}). "
                                 "Fit and save it again.") from None
        return detector

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


# ---------------------------------------------------------------------------------------------- helpers
def _check_contamination(value: Any) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool) and 0 < value <= 0.5
    if not ok:
        raise AekitError(f"The 'contamination' parameter of {_OWNER} must be a float in (0, 0.5]. Got {value!r} "
                         "instead. Pass the expected share of anomalies in the training data, e.g. 0.05.")
    return float(value)


def _auto_latent_dim(n_features: int, kind: str) -> int:
    # A quarter of the features: small enough that the code cannot copy an anomaly through, large enough to
    # keep the main structure; picked on the ODDS benchmark (benchmarks/anomaly_odds.py).
    # Images: 16 whatever their size.
    width = 16 if kind == "image" else int(np.clip(round(n_features / 4), 2, 16))
    # ... and narrower than the input, else a two-feature table (or a 2x3 signal) gets a code as wide as itself
    # or wider: the identity
    return min(width, max(1, n_features - 1))


def _auto_hidden_dims(n_features: int, latent_dim: int) -> tuple[int, ...]:
    # Twice the features, then half of that: wide enough for non-linear structure, narrow enough to train in
    # seconds; capped so 100-feature data stays cheap.
    first = int(np.clip(2 * n_features, 16, 256))
    second = int(max(latent_dim * 2, first // 2))
    return (first, second)


def _residuals_and_codes(autoencoder: AutoEncoder, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(samples - reconstruction) flattened to (n, n_features) in float64, and the codes (n, latent_dim)."""
    reconstruction = autoencoder.reconstruct(samples)
    residual = (samples.astype(np.float64) - reconstruction).reshape(len(samples), -1)
    return residual, autoencoder.transform(samples)


def _window_means(values: np.ndarray, starts: np.ndarray, size: int) -> np.ndarray:
    """Mean of per-step ``values`` (n_timesteps,) over each window: (n_windows,)."""
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    return (cumulative[starts + size] - cumulative[starts]) / size


def _center_spread(values: np.ndarray) -> tuple[float, float]:
    """Median and IQR/1.349 of a training term; falls back to the std, then 1, where the spread is 0."""
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    spread = (q75 - q25) / 1.3489795
    if not spread > 1e-12:
        spread = float(np.std(values))
    if not spread > 1e-12:
        spread = 1.0
    return float(median), float(spread)


def _first_rows(rows: np.ndarray) -> str:
    """'3, 7, 9' or, beyond five rows, '3, 7, 9, 12, 15, ...'."""
    return ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")


def _index_of(X: Any) -> np.ndarray | None:
    """The ids of ``X``'s rows: its index, unless that is the row numbers 0..n-1 a frame has by default (a
    slice such as ``X.iloc[100:200]`` keeps its ids 100..199)."""
    index = getattr(X, "index", None)
    if index is None or (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        return None
    return np.asarray(index)


def _pixel_names(shape: tuple[int, ...], samples: np.ndarray) -> list[str]:
    image_shape = samples.shape[1:]
    return ["[" + ",".join(str(i) for i in np.unravel_index(j, image_shape)) + "]"
            for j in range(math.prod(image_shape))]


def _tensor(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))
