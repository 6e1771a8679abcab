"""Latent-space terms of the anomaly score: how unusual a sample's code is among the training codes.

Reconstruction error misses anomalies that an autoencoder reconstructs well (a level shift in a series, a
rare but smooth row); their codes still sit where few training codes are. Each member of
:class:`aekit.AnomalyDetector` fits one of these scorers on its training codes. A scorer is registered in
``LATENT_SCORES`` and has ``fit(codes)``, ``score(codes)`` (higher = more unusual) and a pickle-free state
(a dict of arrays for safetensors), so a new one joins by registering here, with no other change::

    @LATENT_SCORES.register("my-density")
    class MyDensity(LatentScore): ...

- ``"isolation"``: scikit-learn's IsolationForest on the codes: mean path length, which follows clusters of
  any shape. The fitted trees are kept as plain arrays and scored here, so a saved detector holds no pickle;
  the score equals ``-IsolationForest.score_samples``.
- ``"mahalanobis"``: Mahalanobis distance to the code mean (Ledoit-Wolf covariance), divided by the latent
  size: one elliptical cluster.

The default was picked on the ODDS and NAB benchmarks (``benchmarks/anomaly_odds.py``, ``anomaly_nab.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from aekit.registry import Registry

__all__ = ["LATENT_SCORES", "IsolationScore", "LatentScore", "MahalanobisScore"]

LATENT_SCORES: Registry[type[LatentScore]] = Registry("latent score")


class LatentScore:
    """Base of the latent scorers: fit on training codes, score codes, round-trip through arrays."""

    name: ClassVar[str]

    def fit(self, codes: np.ndarray, seed: int = 0) -> LatentScore:
        raise NotImplementedError

    def score(self, codes: np.ndarray) -> np.ndarray:
        """Unusualness of each code (n,), higher = more unusual."""
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        """The fitted scorer as named arrays (stored in the detector's safetensors file)."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LatentScore:
        raise NotImplementedError


@LATENT_SCORES.register("mahalanobis")
class MahalanobisScore(LatentScore):
    name = "mahalanobis"

    def fit(self, codes: np.ndarray, seed: int = 0) -> MahalanobisScore:
        from sklearn.covariance import LedoitWolf

        lw = LedoitWolf(assume_centered=False).fit(np.asarray(codes, dtype=np.float64))
        self.mean_, self.precision_ = lw.location_, lw.precision_
        return self

    def score(self, codes: np.ndarray) -> np.ndarray:
        centered = np.asarray(codes, dtype=np.float64) - self.mean_
        return np.einsum("ij,jk,ik->i", centered, self.precision_, centered) / codes.shape[1]

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean_, "precision": self.precision_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MahalanobisScore:
        scorer = cls()
        scorer.mean_ = np.asarray(state["mean"], dtype=np.float64)
        scorer.precision_ = np.asarray(state["precision"], dtype=np.float64)
        return scorer


def _average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful search in a binary search tree of n points (Liu et al.
    2008), the depth an isolation tree's leaf of n samples stands for."""
    n = np.asarray(n, dtype=np.float64)
    safe = np.maximum(n, 2.0)
    c = 2.0 * (np.log(safe - 1.0) + np.euler_gamma) - 2.0 * (safe - 1.0) / safe
    return np.where(n <= 1, 0.0, np.where(n <= 2, 1.0, c))


@LATENT_SCORES.register("isolation")
class IsolationScore(LatentScore):
    """Isolation forest on the codes; trees stored as concatenated node arrays with per-tree offsets."""

    name = "isolation"
    n_trees: ClassVar[int] = 100

    def fit(self, codes: np.ndarray, seed: int = 0) -> IsolationScore:
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(n_estimators=self.n_trees, random_state=seed).fit(np.asarray(codes, np.float32))
        trees = [estimator.tree_ for estimator in forest.estimators_]
        sizes = np.array([tree.node_count for tree in trees])
        self.offsets_ = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        features = [np.asarray(f)[np.maximum(t.feature, 0)] for f, t in zip(forest.estimators_features_, trees)]
        self.feature_ = np.concatenate(features).astype(np.int64)  # the tree's feature index -> the code's
        self.threshold_ = np.concatenate([t.threshold for t in trees]).astype(np.float64)
        # children as global node numbers; -1 marks a leaf
        self.left_ = np.concatenate([np.where(t.children_left >= 0, t.children_left + o, -1)
                                     for t, o in zip(trees, self.offsets_)]).astype(np.int64)
        self.right_ = np.concatenate([np.where(t.children_right >= 0, t.children_right + o, -1)
                                      for t, o in zip(trees, self.offsets_)]).astype(np.int64)
        self.leaf_depth_ = np.concatenate([_average_path_length(t.n_node_samples) for t in trees])
        self.max_samples_ = float(forest.max_samples_)
        return self

    def score(self, codes: np.ndarray) -> np.ndarray:
        # scikit-learn's trees compare float32 features with float64 thresholds; do the same for equal scores
        x = np.asarray(codes, dtype=np.float32).astype(np.float64)
        rows = np.arange(len(x))
        total = np.zeros(len(x))
        for start in self.offsets_:
            node = np.full(len(x), start, dtype=np.int64)
            depth = np.zeros(len(x))
            inner = self.left_[node] >= 0
            while inner.any():
                at = node[inner]
                go_left = x[rows[inner], self.feature_[at]] <= self.threshold_[at]
                node[inner] = np.where(go_left, self.left_[at], self.right_[at])
                depth[inner] += 1.0
                inner = self.left_[node] >= 0
            total += depth + self.leaf_depth_[node]
        mean_depth = total / len(self.offsets_)
        return 2.0 ** (-mean_depth / float(_average_path_length(np.array([self.max_samples_]))[0]))

    def state(self) -> dict[str, np.ndarray]:
        return {"offsets": self.offsets_, "feature": self.feature_, "threshold": self.threshold_, "left": self.left_,
                "right": self.right_, "leaf_depth": self.leaf_depth_, "max_samples": np.array([self.max_samples_])}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IsolationScore:
        scorer = cls()
        scorer.offsets_, scorer.feature_ = np.asarray(state["offsets"], np.int64), np.asarray(state["feature"], np.int64)
        scorer.threshold_ = np.asarray(state["threshold"], np.float64)
        scorer.left_, scorer.right_ = np.asarray(state["left"], np.int64), np.asarray(state["right"], np.int64)
        scorer.leaf_depth_ = np.asarray(state["leaf_depth"], np.float64)
        scorer.max_samples_ = float(np.asarray(state["max_samples"]).ravel()[0])
        return scorer
