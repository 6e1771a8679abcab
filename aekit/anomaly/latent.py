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

The detector's ``latent_score="auto"`` picks isolation for series and Mahalanobis for tables and images, by
the NAB and ODDS benchmarks (``benchmarks/anomaly_nab.py``, ``anomaly_odds.py``).
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
    """Isolation forest on the codes, its trees kept as concatenated node arrays.

    A leaf's children are the leaf itself and its threshold is +inf, so every sample can take the same number
    of steps (the deepest leaf's depth) and stays put once it reaches a leaf; ``path_`` holds each leaf's
    path length (its depth plus c(samples in it)), the quantity scikit-learn averages over the trees.
    """

    name = "isolation"
    n_trees: ClassVar[int] = 100

    def fit(self, codes: np.ndarray, seed: int = 0) -> IsolationScore:
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(n_estimators=self.n_trees, random_state=seed).fit(np.asarray(codes, np.float32))
        trees = [estimator.tree_ for estimator in forest.estimators_]
        sizes = np.array([t.node_count for t in trees])
        self.offsets_ = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        nodes = np.arange(sizes.sum())
        leaf = np.concatenate([t.children_left < 0 for t in trees])
        # a tree's feature index -> the code's (each tree sees its own draw of the features)
        feature = np.concatenate([np.asarray(f)[np.maximum(t.feature, 0)]
                                  for f, t in zip(forest.estimators_features_, trees)])
        self.feature_ = np.where(leaf, 0, feature).astype(np.int64)
        self.threshold_ = np.where(leaf, np.inf, np.concatenate([t.threshold for t in trees]))
        self.left_ = np.where(leaf, nodes, np.concatenate([t.children_left + o for t, o in zip(trees, self.offsets_)]))
        self.right_ = np.where(leaf, nodes,
                               np.concatenate([t.children_right + o for t, o in zip(trees, self.offsets_)]))
        depth = np.zeros(len(nodes))
        frontier = self.offsets_[~leaf[self.offsets_]]
        while len(frontier):
            children = np.concatenate([self.left_[frontier], self.right_[frontier]])
            depth[children] = np.tile(depth[frontier] + 1.0, 2)
            frontier = children[~leaf[children]]
        samples = np.concatenate([t.n_node_samples for t in trees])
        self.path_ = np.where(leaf, depth + _average_path_length(samples), 0.0)
        self.max_depth_ = int(depth.max())
        self.max_samples_ = float(forest.max_samples_)
        return self

    def score(self, codes: np.ndarray) -> np.ndarray:
        # scikit-learn's trees compare float32 features with float64 thresholds; do the same for equal scores.
        # One tree at a time with flat takes: several times faster than 2-D fancy indexing or all trees at once.
        x = np.ascontiguousarray(np.asarray(codes, dtype=np.float32), dtype=np.float64)
        values, row_starts = x.ravel(), np.arange(len(x)) * x.shape[1]
        total = np.zeros(len(x))
        for root in self.offsets_:
            node = np.full(len(x), root)
            for _ in range(self.max_depth_):
                left = values.take(row_starts + self.feature_.take(node)) <= self.threshold_.take(node)
                node = np.where(left, self.left_.take(node), self.right_.take(node))
            total += self.path_.take(node)
        mean_path = total / len(self.offsets_)
        # c(1) = 0: a forest on one sample isolates nothing, and every score is 2^0 = 1 (not 0/0)
        return 2.0 ** (-mean_path / max(float(_average_path_length(np.array([self.max_samples_]))[0]), 1.0))

    def state(self) -> dict[str, np.ndarray]:
        return {"offsets": self.offsets_, "feature": self.feature_, "threshold": self.threshold_, "left": self.left_,
                "right": self.right_, "path": self.path_,
                "max_depth": np.array([self.max_depth_]), "max_samples": np.array([self.max_samples_])}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IsolationScore:
        scorer = cls()
        for key in ("offsets", "feature", "left", "right"):
            setattr(scorer, f"{key}_", np.asarray(state[key], np.int64))
        scorer.threshold_ = np.asarray(state["threshold"], np.float64)
        scorer.path_ = np.asarray(state["path"], np.float64)
        scorer.max_depth_ = int(np.asarray(state["max_depth"]).ravel()[0])
        scorer.max_samples_ = float(np.asarray(state["max_samples"]).ravel()[0])
        return scorer
