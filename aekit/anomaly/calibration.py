"""From anomaly scores to probabilities and to the confidence of a 0/1 label, as PyOD defines them.

Both take the detector's training scores as the reference, so they work for any detector and any threshold:

- :func:`outlier_probability`: ``"linear"`` min-max scales the scores by the training scores' range and clips
  to [0, 1]; ``"unify"`` is Kriegel et al.'s (SDM 2011) Gaussian scaling, ``erf((s - mean) / (std * sqrt 2))``
  clipped to [0, 1], so scores at or below the training mean get 0.
- :func:`label_confidence`: ExCeeD (Perini, Vercruyssen and Davis, ECML PKDD 2020). How likely the row would get
  the same label if the training set were drawn again: the row's rank among the ``n`` training scores gives
  a posterior probability ``p = (1 + k) / (2 + n)`` that a training score falls at or below it; the chance
  that it lands among the ``m`` training rows flagged by the threshold is ``P(Binomial(n, p) > n - m)``. That is
  the confidence of a 1; a 0 gets one minus it. ``m`` is the number of training scores above the threshold,
  so the rule holds for a threshold set from a contamination, a false-positive rate or a fixed value (PyOD
  takes ``int(n * contamination)``, which can differ from the flagged count by one through rounding).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aekit.errors import check_choice

__all__ = ["PROBABILITY_METHODS", "label_confidence", "outlier_probability"]

PROBABILITY_METHODS = ("linear", "unify")


def outlier_probability(scores: Any, train_scores: Any, method: str = "linear") -> np.ndarray:
    """P(inlier), P(outlier) per row, shape (n_rows, 2), from ``scores`` against ``train_scores``."""
    check_choice(method, PROBABILITY_METHODS, name="method", owner="predict_proba")
    scores = np.asarray(scores, dtype=np.float64).ravel()
    reference = np.asarray(train_scores, dtype=np.float64).ravel()
    if method == "linear":
        low, high = float(reference.min()), float(reference.max())
        outlier = (scores - low) / (high - low if high > low else 1.0)
    else:
        from scipy.special import erf

        spread = float(reference.std())
        outlier = erf((scores - float(reference.mean())) / ((spread if spread > 0 else 1.0) * np.sqrt(2.0)))
    outlier = np.clip(outlier, 0.0, 1.0)
    return np.column_stack([1.0 - outlier, outlier])


def label_confidence(scores: Any, train_scores: Any, threshold: float) -> np.ndarray:
    """ExCeeD confidence in [0, 1] of each row's label (1 above ``threshold``, else 0); see the module doc."""
    from scipy.stats import binom

    scores = np.asarray(scores, dtype=np.float64).ravel()
    reference = np.sort(np.asarray(train_scores, dtype=np.float64).ravel())
    n = len(reference)
    n_flagged = int(np.sum(reference > threshold))
    at_or_below = np.searchsorted(reference, scores, side="right")  # training scores <= each score
    posterior = (1.0 + at_or_below) / (2.0 + n)
    outlier_confidence = binom.sf(n - n_flagged, n, posterior)  # P(Binomial(n, p) > n - m)
    return np.where(scores > threshold, outlier_confidence, 1.0 - outlier_confidence)
