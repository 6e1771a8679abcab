"""Clustering in latent space: aekit.LatentClustering against KMeans and PCA on MNIST, Fashion-MNIST and digits.

Protocol (the default; ``--quick`` shortens it):

- data: ``--n`` images drawn once (seed 0) from the training split of MNIST and of Fashion-MNIST (the original IDX
  files under ``../shared/data``, ``--data``), pixels scaled to [0, 1], and all 1,797 images of scikit-learn's
  built-in digits (8x8, values 0-16, scaled to [0, 1]). A dataset whose files are absent is skipped with a message.
  No method sees the labels; the number of clusters is the number of classes (10).
- baselines (scikit-learn): KMeans on the pixels; PCA to the autoencoder's code size, then KMeans; the same PCA,
  then a Gaussian mixture with full covariances (the fair match for aekit's "gmm"). KMeans and the mixtures have
  10 restarts (``n_init``), as aekit's.
- aekit: ``LatentClustering`` with its defaults (the default autoencoder: the dense preset, 10 latent dimensions,
  at most half the features; its default training), and each of its methods ("kmeans", "gmm", "idec") on the
  defaults' trained autoencoder (``prefit``), so the methods differ only in the clustering ("gmm", the default
  method, repeats the defaults' figures). The defaults' row includes the autoencoder's training; the methods' rows
  do not (the training time is its own row).
- metrics: clustering accuracy (the best one-to-one matching of clusters to classes, Hungarian algorithm), NMI and
  ARI (scikit-learn), mean ± std over ``--seeds`` seeds (the seed of every model and restart; the data draw is
  fixed); wall-clock seconds on this machine, which is shared: compare them within one run only.

Results go to ``benchmarks/results/clustering.{json,md}`` (``--out``) with the machine and the command.

    python benchmarks/clustering.py --threads 1     # the published results: 10,000 images, 5 seeds
    python benchmarks/clustering.py --quick         # smoke run: 2,000 images, 1 seed, digits and MNIST only
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    DATA,
    BenchmarkSkipped,
    load_mnist,
    machine_info,
    markdown_table,
    now,
    set_threads,
    write_results,
)
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from aekit import AutoEncoder, LatentClustering
from aekit.cluster import METHODS
from aekit.cluster.report import compare_with_labels

logger = logging.getLogger("benchmarks.clustering")
N_CLUSTERS = 10
LATENT_DIM = 10  # aekit's default code size for these data (LatentClustering's default autoencoder)
DATASETS = ("digits", "mnist", "fashion-mnist")


def scores(y: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy (clusters matched one-to-one to classes), NMI and ARI: what aekit's report gives."""
    agreement = compare_with_labels(y, labels, N_CLUSTERS)
    return {"acc": agreement.accuracy, "nmi": agreement.nmi, "ari": agreement.ari}


def load(name: str, n: int, data: Path) -> tuple[np.ndarray, np.ndarray]:
    """Flat images in [0, 1] and their classes."""
    if name == "digits":
        digits = load_digits()
        return (digits.data / 16.0).astype(np.float32), digits.target
    images, y = load_mnist("train", data, dataset=name)
    rows = np.random.default_rng(0).choice(len(images), size=min(n, len(images)), replace=False)
    return images[rows].reshape(len(rows), -1).astype(np.float32) / 255, y[rows].astype(np.int64)


def timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    labels = fn()
    return labels, time.perf_counter() - started


def run_seed(X: np.ndarray, seed: int) -> dict[str, tuple[np.ndarray, float]]:
    """Labels and seconds of every method for one seed."""
    latent_dim = min(LATENT_DIM, X.shape[1] // 2)
    out: dict[str, tuple[np.ndarray, float]] = {}
    out["KMeans (pixels)"] = timed(lambda: KMeans(N_CLUSTERS, n_init=10, random_state=seed).fit_predict(X))

    def pca_then(model: Any) -> np.ndarray:
        return model.fit_predict(PCA(latent_dim, random_state=seed).fit_transform(X))

    out["PCA + KMeans"] = timed(lambda: pca_then(KMeans(N_CLUSTERS, n_init=10, random_state=seed)))
    out["PCA + GMM"] = timed(lambda: pca_then(GaussianMixture(N_CLUSTERS, n_init=10, random_state=seed)))
    default = LatentClustering(N_CLUSTERS, random_state=seed)
    out["aekit defaults"] = timed(lambda: default.fit(X).labels_)
    # the defaults' own autoencoder, trained again alone for its time (same seed: the same model)
    seeded = default.autoencoder_.get_params()["random_state"]
    _, training = timed(lambda: AutoEncoder(latent_dim=latent_dim, random_state=seeded).fit(X))
    out["aekit autoencoder training"] = (np.array([]), training)
    for method in METHODS:  # on the defaults' trained autoencoder: the methods differ only in the clustering
        clustering = LatentClustering(N_CLUSTERS, autoencoder=default.autoencoder_, prefit=True, method=method,
                                      random_state=seed)
        out[f"aekit {method}"] = timed(lambda c=clustering: c.fit(X).labels_)
    return out


def summarize(per_seed: list[dict[str, tuple[np.ndarray, float]]], y: np.ndarray) -> dict[str, Any]:
    methods = per_seed[0].keys()
    result: dict[str, Any] = {}
    for method in methods:
        runs = [run[method] for run in per_seed]
        entry: dict[str, Any] = {"seconds": [round(seconds, 2) for _, seconds in runs]}
        if len(runs[0][0]):
            values = [scores(y, labels) for labels, _ in runs]
            for metric in ("acc", "nmi", "ari"):
                entry[metric] = [round(v[metric], 4) for v in values]
        result[method] = entry
    return result


def cell(values: list[float] | None) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def markdown(results: dict[str, Any], args: argparse.Namespace) -> str:
    parts = [__doc__.split("\n\n", 1)[1].split("Results go to")[0].strip(),
             f"Settings: {args.n} images per MNIST-format dataset, seeds {list(range(args.seeds))}."]
    for name, methods in results.items():
        if "skipped" in methods:
            parts.append(f"### {name}\n\nSkipped: {methods['skipped']}")
            continue
        rows = [[method, cell(entry.get("acc")), cell(entry.get("nmi")), cell(entry.get("ari")),
                 f"{np.mean(entry['seconds']):.1f}"] for method, entry in methods.items()]
        parts.append(f"### {name}\n\n" + markdown_table(["method", "accuracy", "NMI", "ARI", "seconds"], rows))
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="images drawn from each MNIST-format training split")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: one per core)")
    parser.add_argument("--quick", action="store_true", help="2,000 images, 1 seed, digits and MNIST")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.seeds, args.datasets = 2_000, 1, "digits,mnist"
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("aekit").setLevel(logging.WARNING)  # not every epoch of every autoencoder
    set_threads(args.threads)
    info, started, t0 = machine_info(), now(), time.perf_counter()
    results: dict[str, Any] = {}
    for name in args.datasets.split(","):
        try:
            X, y = load(name, args.n, args.data)
        except BenchmarkSkipped as exc:
            logger.warning("%s skipped: %s", name, exc)
            results[name] = {"skipped": str(exc)}
            continue
        per_seed = []
        for seed in range(args.seeds):
            per_seed.append(run_seed(X, seed))
            logger.info("%s seed %d: %s", name, seed, {m: round(scores(y, labels)["acc"], 3)
                                                       for m, (labels, _) in per_seed[-1].items() if len(labels)})
        results[name] = summarize(per_seed, y)
    write_results("clustering" + ("_quick" if args.quick else ""), {"settings": vars(args) | {"data": str(args.data)},
                                                                      "results": results},
                  markdown(results, args), info=info, started=started, seconds=time.perf_counter() - t0,
                  out=args.out)


if __name__ == "__main__":
    main()
