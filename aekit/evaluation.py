"""How good is a reconstruction? Metrics, a PCA baseline at the same code size, and code-size sweeps.

An autoencoder earns its keep only if it beats PCA with as many components as it has code units, so every
comparison here puts the two side by side, both measured in the data's original units:

    >>> rows = compare_with_pca(estimator, X_train, X_test, image=True)
    >>> print(format_table(rows))                 # aekit.demo: conv AE on digits, 360 test images
    method              code_size    mse    mae   psnr
    ------------------  ---------  -----  -----  -----
    autoencoder (conv)          8  3.055  1.154  19.84
    PCA                         8  6.309  1.660  16.42
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.utils.validation import check_is_fitted

from aekit.errors import AekitError, check_int, convergence_caught, did_you_mean, name_list, warn
from aekit.io import atomic_path

__all__ = ["compare_features", "compare_tokens", "compare_with_pca", "format_table", "pca_baseline",
           "reconstruction_metrics", "sweep", "sweep_plot", "token_metrics"]

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------- metrics
def _as_samples(X: Any, *, name: str) -> np.ndarray:
    """``X`` as a float64 array with samples along the first axis, checked finite."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim < 2 or X.shape[0] == 0:
        raise AekitError(f"'{name}' must hold samples along the first axis, shape (n_samples, ...) with "
                         f"n_samples >= 1. Got shape {X.shape} instead. Reshape it, e.g. X.reshape(len(X), -1).")
    if not np.isfinite(X).all():
        raise AekitError(f"'{name}' contains NaN or Inf. Drop or impute those values before evaluating.")
    return X


def reconstruction_metrics(X: Any, X_hat: Any, *, data_range: float | None = None, image: bool) -> dict[str, float]:
    """Reconstruction errors of ``X_hat`` against ``X``, in the units of ``X``.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        The originals.
    X_hat : array-like of the same shape as ``X``
        The reconstructions.
    data_range : float or None, default None
        Peak-to-peak range of valid values for PSNR (e.g. 255 for 8-bit images, 16 for digits).
        None takes ``X.max() - X.min()``.
    image : bool
        Add ``psnr``. Set it for images and other data where a peak signal is meaningful.

    Returns
    -------
    dict with ``mse`` and ``mae`` (means over every element) and, for images, ``psnr`` in dB: computed per
    sample as ``10 log10(data_range**2 / mse_i)`` and then averaged, so a few perfect samples do not dominate
    the way they would in the PSNR of the pooled MSE. A sample reconstructed exactly has infinite PSNR, and
    then so has the mean.
    """
    X = _as_samples(X, name="X")
    X_hat = _as_samples(X_hat, name="X_hat")
    if X.shape != X_hat.shape:
        raise AekitError(f"X and X_hat must have the same shape. Got {X.shape} and {X_hat.shape} instead. "
                         "Pass the reconstructions of exactly the samples in X.")
    error = X_hat - X  # (n, ...)
    metrics = {"mse": float(np.mean(error**2)), "mae": float(np.mean(np.abs(error)))}
    if image:
        peak = float(np.ptp(X)) if data_range is None else data_range
        if not isinstance(peak, numbers.Real) or not math.isfinite(peak) or peak <= 0:
            raise AekitError(f"PSNR needs a positive finite data_range. Got {peak!r} instead"
                             f"{' (X is constant)' if data_range is None else ''}. Pass data_range, e.g. "
                             "255 for 8-bit images.")
        per_sample = np.mean(error.reshape(len(error), -1) ** 2, axis=1)  # (n,)
        with np.errstate(divide="ignore"):
            psnr = 10.0 * np.log10(float(peak) ** 2 / per_sample)  # (n,); inf where mse_i == 0
        metrics["psnr"] = float(np.mean(psnr))
    return metrics


def token_metrics(X: Any, X_hat: Any, *, ignore_index: int | None = 0) -> dict[str, float]:
    """How many tokens (characters, bytes) a sequence model rebuilt: rows of token ids against their decoding.

    Parameters
    ----------
    X : array-like of shape (n_samples, length), token ids (floats holding integers are fine).
    X_hat : array-like of the same shape, the reconstructed ids (``AutoEncoder.reconstruct``, greedy decoding).
    ignore_index : int or None, default 0
        The padding id (``aekit.text.PAD_ID``): its positions in ``X`` are not scored. None scores every position.

    Returns
    -------
    dict with ``token_accuracy`` (the fraction of scored positions rebuilt exactly; end markers count) and
    ``exact_rows`` (the fraction of rows whose scored positions are all right).
    """
    X = _as_samples(X, name="X")
    X_hat = _as_samples(X_hat, name="X_hat")
    if X.shape != X_hat.shape or X.ndim != 2:
        raise AekitError(f"X and X_hat must be rows of token ids of one shape (n_samples, length). Got {X.shape} "
                         f"and {X_hat.shape} instead. Pass the reconstructions of exactly the rows in X.")
    scored = np.ones(X.shape, dtype=bool) if ignore_index is None else X != ignore_index  # (n, length)
    right = np.rint(X_hat) == X  # (n, length)
    total = int(scored.sum())
    return {"token_accuracy": float(right[scored].sum() / total) if total else float("nan"),
            "exact_rows": float(np.mean((right | ~scored).all(axis=1)))}


# -------------------------------------------------------------------------------------------- PCA
def _pca_reconstruct(X_train: np.ndarray, X_test: np.ndarray, n_components: int) -> tuple[np.ndarray, int]:
    """PCA fitted on flattened ``X_train``; ``X_test`` projected and mapped back, shaped like ``X_test``."""
    flat_train = X_train.reshape(len(X_train), -1)  # (n_train, n_features)
    flat_test = X_test.reshape(len(X_test), -1)  # (n_test, n_features)
    if flat_train.shape[1] != flat_test.shape[1]:
        raise AekitError(f"X_train and X_test must have the same number of features. Got {flat_train.shape[1]} "
                         f"and {flat_test.shape[1]} instead. Split one data set into both.")
    limit = min(flat_train.shape)
    used = min(n_components, limit)
    if used < n_components:
        logger.info("PCA: n_components=%d clipped to %d = min(n_samples, n_features)", n_components, used)
    with np.errstate(divide="ignore", invalid="ignore"):  # one training row: its explained variance is 0/0
        pca = PCA(n_components=used, random_state=0).fit(flat_train)
    restored = pca.inverse_transform(pca.transform(flat_test))  # (n_test, n_features)
    return restored.reshape(X_test.shape), used


def pca_baseline(X_train: Any, X_test: Any, n_components: int, *, image: bool = False,
                 data_range: float | None = None, reference: Any = None) -> dict[str, float | int]:
    """Reconstruction errors of PCA with ``n_components`` components, fitted on ``X_train``, on ``X_test``.

    PCA runs on the raw data (no scaling) so its errors are in the original units, like
    ``AutoEncoder.reconstruct``.

    Parameters
    ----------
    X_train : array-like of shape (n_train, ...)
        Flattened to (n_train, n_features) for the fit.
    X_test : array-like of shape (n_test, ...)
        Same features as ``X_train``.
    n_components : int >= 1
        Clipped to ``min(n_train, n_features)``; the number used is reported.
    image, data_range : see :func:`reconstruction_metrics`.
    reference : array-like shaped like ``X_test`` or None
        What the reconstructions are scored against (see :func:`compare_with_pca`); None: ``X_test``.

    Returns
    -------
    dict with the metrics of :func:`reconstruction_metrics` and ``n_components`` (the number used).
    """
    check_int(n_components, name="n_components", owner="pca_baseline", low=1)
    X_train = _as_samples(X_train, name="X_train")
    X_test = _as_samples(X_test, name="X_test")
    target = _reference_for(X_test, reference)
    restored, used = _pca_reconstruct(X_train, X_test, n_components)
    return {**reconstruction_metrics(target, restored, data_range=data_range, image=image), "n_components": used}


def _reference_for(X_test: np.ndarray, reference: Any) -> np.ndarray:
    """The array reconstructions of ``X_test`` are scored against: ``reference`` (checked) or ``X_test``."""
    if reference is None:
        return X_test
    reference = _as_samples(reference, name="reference")
    if reference.shape != X_test.shape:
        raise AekitError(f"The reference must hold one clean sample per input sample, shaped alike: the inputs "
                         f"have shape {X_test.shape}, the reference {reference.shape}. Pass the clean versions of "
                         "exactly the input rows, in the same order.")
    return reference


def compare_with_pca(estimator: Any, X_train: Any, X_test: Any, *, image: bool,
                     reference: Any = None) -> list[dict[str, Any]]:
    """A fitted autoencoder against PCA with as many components as the autoencoder has code units.

    Parameters
    ----------
    estimator : fitted :class:`aekit.AutoEncoder`
        Its ``reconstruct`` gives the test reconstructions in original units.
    X_train : array-like of shape (n_train, ...)
        The data PCA is fitted on: pass the autoencoder's training data for a fair match.
    X_test : array-like of shape (n_test, ...)
        Held-out data both methods are scored on.
    image : bool
        Add PSNR; every row shares one ``data_range``, the range of the data scored against.
    reference : array-like shaped like ``X_test``, or None
        Restoration (a denoising, inpainting, colorization or super-resolution model): ``X_test`` holds the
        degraded inputs and ``reference`` their clean versions, row for row. Both methods' outputs are scored
        against the reference, and a third row scores the inputs themselves against it, what restoring gains
        over doing nothing. None: reconstructions are scored against ``X_test``.

    Returns
    -------
    list of dicts, ``{"method", "code_size", "mse", "mae"[, "psnr"]}``: the autoencoder, then PCA, then (with a
    reference) the inputs as they are, whose code size is None.
    """
    check_is_fitted(estimator, "model_")
    given = X_test  # a DataFrame goes to the estimator as it is: its columns are checked by name
    X_train = _as_samples(X_train, name="X_train")
    X_test = _as_samples(X_test, name="X_test")
    target = _reference_for(X_test, reference)
    code_size = int(estimator.config_.latent_dim)
    data_range = float(np.ptp(target)) if image else None
    as_read = given if hasattr(given, "columns") else X_test.astype(np.float32)
    ae_hat = np.asarray(estimator.reconstruct(as_read), dtype=np.float64).reshape(X_test.shape)
    if not np.isfinite(ae_hat).all():  # the model's output, not the user's data
        raise AekitError("The model's reconstructions contain NaN or Inf: its weights diverged or are damaged. "
                         "Train it again (a lower learning rate or gradient clipping helps a diverging run).")
    ae = reconstruction_metrics(target, ae_hat, data_range=data_range, image=image)
    pca = pca_baseline(X_train, X_test, code_size, image=image, data_range=data_range, reference=target)
    rows = [
        {"method": f"autoencoder ({estimator.model})", "code_size": code_size, **ae},
        {"method": "PCA", "code_size": pca.pop("n_components"), **pca},
    ]
    if reference is not None:
        as_is = reconstruction_metrics(target, X_test, data_range=data_range, image=image)
        rows.append({"method": "input as is (no restoration)", "code_size": None, **as_is})
    return rows


def compare_tokens(estimator: Any, X: Any, reconstructions: Any = None) -> list[dict[str, Any]]:
    """A fitted text (token-sequence) autoencoder's row of :func:`token_metrics`, the text models' counterpart of
    :func:`compare_with_pca` (PCA means nothing for token ids). Padding is the model's own ``ignore_index``.

    Parameters
    ----------
    estimator : fitted :class:`aekit.AutoEncoder` with a categorical likelihood.
    X : array-like of shape (n_samples, length), token ids.
    reconstructions : array-like like ``X`` or None
        ``estimator.reconstruct(X)`` when the caller already has it; computed otherwise.

    Returns
    -------
    list of one dict, ``{"method", "code_size", "rows", "token_accuracy", "exact_rows"}``.
    """
    check_is_fitted(estimator, "model_")
    rebuilt = estimator.reconstruct(X) if reconstructions is None else reconstructions
    ignore_index = getattr(estimator.model_.likelihood.config, "ignore_index", None)
    return [{"method": f"autoencoder ({estimator.model})", "code_size": int(estimator.config_.latent_dim),
             "rows": len(X), **token_metrics(X, rebuilt, ignore_index=ignore_index)}]


# ---------------------------------------------------------------------------------------- features
def _check_class_labels(y: Any, n_samples: int) -> np.ndarray:
    """``y`` as one class label per sample, checked: classes, not numbers to regress; each class at least twice."""
    from sklearn.utils.multiclass import type_of_target

    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n_samples:
        raise AekitError(f"The labels must be one class label per sample: {n_samples} samples, labels of shape "
                         f"{y.shape}. Pass the labels of exactly these samples, in their order.")
    missing = np.flatnonzero(pd.isna(pd.Series(y, dtype=object)).to_numpy())
    if len(missing):
        raise AekitError(f"The labels have no value for sample {int(missing[0])} (NaN or None; {len(missing)} in "
                         "all). Give every sample a label, or drop the samples without one.")
    try:
        kind = type_of_target(y)
    except ValueError:  # objects sklearn cannot read
        kind = "unknown"
    if kind == "unknown":
        raise AekitError(f"The labels must be class labels of one type, all ints or all strings; these are "
                         f"{name_list(sorted({type(v).__name__ for v in y.tolist()}))} values. Convert them, e.g. "
                         "y.astype(str).")
    if kind not in ("binary", "multiclass"):
        raise AekitError(f"The labels must be classes (ints or strings), not {kind} values: codes are judged by how "
                         "well a classifier tells the classes apart. Pass class labels; bin a numeric target first.")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        only = classes[0].item() if isinstance(classes[0], np.generic) else classes[0]  # np.float64(0.0) -> 0.0
        raise AekitError(f"The labels hold one class ({only!r}); telling classes apart needs at least "
                         "two. Pass samples of two or more classes.")
    if counts.min() < 2:
        rare = name_list(classes[counts < 2].tolist())
        raise AekitError(f"Every class needs at least 2 samples for cross-validation; class {rare} has only 1. "
                         "Drop its samples, or pass more of them.")
    return y


def _stratified_draw(y: np.ndarray, max_samples: int, random_state: int | None) -> np.ndarray:
    """About ``max_samples`` row indices (sorted), each class's share kept and at least 2 of each class, so every
    class can still be cross-validated (a few more rows than ``max_samples`` when that needs them)."""
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    if 2 * len(classes) > max_samples:
        raise AekitError(f"max_samples={max_samples} cannot hold 2 samples of each of the labels' {len(classes)} "
                         f"classes. Pass max_samples={2 * len(classes)} or more, or None to score every sample.")
    rng = np.random.default_rng(random_state)
    share = max_samples / len(y)
    drawn = [rng.choice(np.flatnonzero(inverse == j), size=min(count, max(2, round(share * count))), replace=False)
             for j, count in enumerate(counts)]
    return np.sort(np.concatenate(drawn))


def _feature_scores(features: np.ndarray, y: np.ndarray, folds: Any, n_neighbors: int, what: str
                    ) -> dict[str, float]:
    """Cross-validated accuracy of a linear probe (logistic regression on standardized features) and of a
    k-nearest-neighbour vote (Euclidean, features as they are) on ``features`` (n, d)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    with convergence_caught() as convergence:  # one per fold: said once below
        linear_scores = cross_val_score(linear, features, y, cv=folds)
    if convergence:
        warn(logger, f"The linear probe on {what} did not converge in 1000 iterations; its accuracy may be a little "
                     "low.", UserWarning, stacklevel=3)
    knn_scores = cross_val_score(KNeighborsClassifier(n_neighbors=n_neighbors), features, y, cv=folds)
    return {"linear_accuracy": float(np.mean(linear_scores)), "knn_accuracy": float(np.mean(knn_scores))}


def compare_features(estimator: Any, X_train: Any, X_test: Any, y_test: Any, *, cv: int = 5,
                     n_neighbors: int = 5, max_samples: int | None = 5000, random_state: int | None = 0
                     ) -> list[dict[str, Any]]:
    """A fitted autoencoder's codes as features, against PCA's with as many components and the inputs as they are.

    Dimensionality reduction is worth it when a small code keeps what tells the samples apart. Three measures,
    each on ``X_test`` (held-out data with labels ``y_test``; the labels are used only to score):

    - ``linear_accuracy``: a linear probe, logistic regression on the standardized features, cross-validated
      (stratified ``cv`` folds);
    - ``knn_accuracy``: the vote of the ``n_neighbors`` nearest samples (Euclidean, features as they are, so it
      reads the geometry of the code space), cross-validated on the same folds;
    - ``trustworthiness``: scikit-learn's, without labels: how well the ``n_neighbors`` nearest neighbours of a
      sample in the code space were its neighbours in the input space too (1 = all were).

    Inputs are compared as the model reads them (``estimator.scaled_samples``), so PCA, fitted on ``X_train``,
    sees the same per-feature scaling as the autoencoder. Text (token) models get their own row only: neither
    PCA nor distances of token ids mean anything.

    Parameters
    ----------
    estimator : fitted :class:`aekit.AutoEncoder`
    X_train : array-like of shape (n_train, ...)
        The data PCA is fitted on: pass the autoencoder's training data for a fair match.
    X_test : array-like of shape (n_test, ...)
        Held-out samples, encoded by both methods.
    y_test : array-like of shape (n_test,)
        Their class labels (ints or strings); each class needs at least 2 samples.
    cv : int, default 5
        Folds of the cross-validation (fewer when the rarest class has fewer samples).
    n_neighbors : int, default 5
        Neighbours of the kNN vote and of trustworthiness.
    max_samples : int or None, default 5000
        Score about this many samples of ``X_test``, drawn at random per class (each class's share, and at least 2
        of each, so a few more when classes are small); trustworthiness uses at most 2,000 of them (its cost grows
        with the square). None scores them all.
    random_state : int or None, default 0
        Seeds the draw and the folds.

    Returns
    -------
    list of dicts, ``{"method", "code_size", "linear_accuracy", "knn_accuracy", "trustworthiness"}``: the
    autoencoder, then PCA, then the inputs as they are (whose trustworthiness is 1 by definition, left empty).
    """
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import StratifiedKFold

    check_is_fitted(estimator, "model_")
    cv = check_int(cv, name="cv", owner="compare_features", low=2)
    n_neighbors = check_int(n_neighbors, name="n_neighbors", owner="compare_features", low=1)
    if max_samples is not None:
        max_samples = check_int(max_samples, name="max_samples", owner="compare_features", low=10)
    # X_test and X_train go to the estimator as given: it checks them (NaN, shape) and a DataFrame's columns by name
    y = _check_class_labels(y_test, len(X_test))
    if max_samples is not None and len(X_test) > max_samples:
        rows = _stratified_draw(y, max_samples, random_state)
        X_test = X_test.iloc[rows] if hasattr(X_test, "iloc") else np.asarray(X_test)[rows]
        y = y[rows]
    smallest = int(np.unique(y, return_counts=True)[1].min())
    folds = StratifiedKFold(n_splits=min(cv, smallest), shuffle=True, random_state=random_state)
    neighbors = min(n_neighbors, len(X_test) - len(X_test) // min(cv, smallest) - 1)  # rows of a training fold
    if neighbors < 1:
        raise AekitError(f"compare_features needs more samples than {len(X_test)} to cross-validate a "
                         f"{n_neighbors}-neighbour vote. Pass more labelled samples.")

    codes = np.asarray(estimator.transform(X_test), dtype=np.float64).reshape(len(X_test), -1)  # (n, code)
    if not np.isfinite(codes).all():
        raise AekitError("The model's codes contain NaN or Inf: its weights diverged or are damaged. Train it "
                         "again (a lower learning rate or gradient clipping helps a diverging run).")
    code_size = codes.shape[1]
    name = f"autoencoder ({estimator.model})"
    if estimator.model_.likelihood.discrete:
        return [{"method": name, "code_size": code_size, **_feature_scores(codes, y, folds, neighbors, name)}]

    inputs = estimator.scaled_samples(X_test).reshape(len(X_test), -1).astype(np.float64)  # (n, features)
    fitted_on = estimator.scaled_samples(X_train)
    fitted_on = fitted_on.reshape(len(fitted_on), -1)
    pca = PCA(n_components=min(code_size, *fitted_on.shape), random_state=0).fit(fitted_on)
    projected = pca.transform(inputs)  # (n, components)
    rng = np.random.default_rng(random_state)
    shown = np.sort(rng.choice(len(X_test), size=min(len(X_test), 2000), replace=False))
    trust_neighbors = min(n_neighbors, (len(shown) - 1) // 2)  # scikit-learn's bound: under n_samples / 2

    def trust(features: np.ndarray) -> float | None:
        if trust_neighbors < 1:
            return None
        return float(trustworthiness(inputs[shown], features[shown], n_neighbors=trust_neighbors))

    return [
        {"method": name, "code_size": code_size, **_feature_scores(codes, y, folds, neighbors, name),
         "trustworthiness": trust(codes)},
        {"method": "PCA", "code_size": int(pca.n_components_), **_feature_scores(projected, y, folds, neighbors, "PCA"),
         "trustworthiness": trust(projected)},
        {"method": "input as is", "code_size": inputs.shape[1],
         **_feature_scores(inputs, y, folds, neighbors, "the inputs"), "trustworthiness": None},
    ]


# ------------------------------------------------------------------------------------------- sweep
def _check_latent_dims(latent_dims: Any) -> list[int]:
    if isinstance(latent_dims, (str, bytes)) or not isinstance(latent_dims, Sequence) or not latent_dims:
        raise AekitError(f"The 'latent_dims' parameter of sweep must be a non-empty list of positive ints. Got "
                         f"{latent_dims!r} instead. Pass e.g. [2, 4, 8, 16].")
    for value in latent_dims:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise AekitError(f"The 'latent_dims' parameter of sweep must hold positive ints only. Got {value!r} "
                             f"in {list(latent_dims)!r}. Pass e.g. [2, 4, 8, 16].")
    dims = [int(d) for d in latent_dims]
    if len(set(dims)) != len(dims):
        raise AekitError(f"The 'latent_dims' parameter of sweep must not repeat a code size. Got {dims!r}. "
                         "Pass each code size once.")
    return dims


def _check_estimator_params(params: dict[str, Any]) -> dict[str, Any]:
    from aekit.estimator import AutoEncoder

    valid = sorted(AutoEncoder().get_params())
    for key in params:
        if key == "latent_dim":
            raise AekitError("estimator_params must not set 'latent_dim': sweep sets it from latent_dims. Remove "
                             "it from estimator_params.")
        if key not in valid:
            raise AekitError(f"Unknown AutoEncoder parameter {key!r} in estimator_params. Valid: "
                             f"{', '.join(valid)}.{did_you_mean(key, valid)}")
    return dict(params)


def sweep(X_train: Any, X_test: Any, latent_dims: list[int], *, estimator_params: dict[str, Any],
          image: bool) -> list[dict[str, Any]]:
    """Autoencoder and PCA test errors for each code size: where does the elbow lie, and where does AE win?

    Parameters
    ----------
    X_train : array-like of shape (n_train, ...)
        Fits one ``aekit.AutoEncoder(latent_dim=d, **estimator_params)`` and one PCA per code size.
    X_test : array-like of shape (n_test, ...)
        Scores both, in original units.
    latent_dims : list of int
        Code sizes, each a positive int, no repeats.
    estimator_params : dict
        Every other AutoEncoder parameter, e.g. ``{"model": "conv", "max_epochs": 30, "random_state": 0}``.
    image : bool
        Add ``ae_psnr`` and ``pca_psnr`` (shared data range: the range of ``X_test``).

    Returns
    -------
    list of dict, one per code size in the given order:
    ``{"latent_dim", "pca_components", "ae_mse", "pca_mse", "ae_mae", "pca_mae"[, "ae_psnr", "pca_psnr"]}``;
    ``pca_components`` is below ``latent_dim`` where PCA runs out of components (min(n_samples, n_features)).
    """
    from aekit.estimator import AutoEncoder

    dims = _check_latent_dims(latent_dims)
    params = _check_estimator_params(estimator_params)
    X_train = _as_samples(X_train, name="X_train")
    X_test = _as_samples(X_test, name="X_test")
    train32 = X_train.astype(np.float32)
    rows = []
    for d in dims:
        logger.info("sweep: latent_dim=%d", d)
        estimator = AutoEncoder(latent_dim=d, **params).fit(train32)
        ae, pca = compare_with_pca(estimator, X_train, X_test, image=image)
        # PCA has at most min(n_samples, n_features) components: the row says how many it used
        row: dict[str, Any] = {"latent_dim": d, "pca_components": pca["code_size"], "ae_mse": ae["mse"],
                               "pca_mse": pca["mse"], "ae_mae": ae["mae"], "pca_mae": pca["mae"]}
        if image:
            row.update(ae_psnr=ae["psnr"], pca_psnr=pca["psnr"])
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------ output
def _format_value(value: Any) -> str:
    """A table cell: 4 significant digits for reals, ints as they are, text as it is, None empty."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        text = f"{float(value):#.4g}"  # '#' keeps trailing zeros (1.660, not 1.66) so columns line up by digit
        return text.removesuffix(".")
    return str(value)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every key of ``rows``, in order of first appearance."""
    return list(dict.fromkeys(key for row in rows for key in row))


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows of dicts as a plain-text table: numbers right-aligned, text left-aligned, 4 significant digits.

    Columns are the keys of the rows in order of first appearance; a missing key leaves its cell empty.
    Returns the table without a trailing newline (an empty string for no rows).
    """
    if not rows:
        return ""
    columns = _columns(rows)
    cells = [[_format_value(row.get(c)) for c in columns] for row in rows]
    numeric = [all(isinstance(row.get(c), numbers.Real) and not isinstance(row.get(c), bool)
                   for row in rows if row.get(c) is not None) for c in columns]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def sweep_plot(rows: list[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write the elbow curve of a :func:`sweep` (test MSE of AE and PCA against code size, log-x) as a PNG.

    The file is written atomically; returns its path.
    """
    from matplotlib.figure import Figure  # Figure, not pyplot: no GUI backend, no global figure registry

    if not rows:
        raise AekitError("sweep_plot needs at least one row. Pass the output of sweep().")
    missing = [k for k in ("latent_dim", "ae_mse", "pca_mse") if any(k not in row for row in rows)]
    if missing:
        raise AekitError(f"sweep_plot needs rows with latent_dim, ae_mse and pca_mse; {', '.join(missing)} is "
                         "missing. Pass the output of sweep().")
    ordered = sorted(rows, key=lambda r: r["latent_dim"])
    dims = [r["latent_dim"] for r in ordered]
    fig = Figure(figsize=(6, 4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(dims, [r["ae_mse"] for r in ordered], "o-", label="autoencoder")
    ax.plot(dims, [r["pca_mse"] for r in ordered], "s--", label="PCA")
    ax.set_xscale("log", base=2)
    ax.set_xticks(dims, [str(d) for d in dims])
    ax.minorticks_off()
    ax.set_xlabel("code size (latent_dim / n_components)")
    ax.set_ylabel("test MSE (original units)")
    ax.set_title("Reconstruction error against code size")
    ax.grid(True, alpha=0.3)
    ax.legend()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    return path
