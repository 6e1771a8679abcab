"""Codes as features: aekit's autoencoder codes against PCA's of the same size, and the pixels as they are.

Protocol (the default; ``--quick`` shortens it):

- data: MNIST and Fashion-MNIST (the original IDX files under ``../shared/data``, ``--data``): ``--n`` images drawn
  once (seed 0) from the training split to fit on, ``--n-test`` drawn from the test split to score on; pixels
  scaled to [0, 1]. scikit-learn's built-in digits (8x8, values 0-16): a stratified 2/3 - 1/3 split (seed 0). A
  dataset whose files are absent is skipped with a message.
- aekit: ``AutoEncoder`` with its defaults (the dense preset and its default training) at each code size of
  ``--latent-dims``, one fit per seed; PCA with as many components, fitted on the same training images.
- measures: ``aekit.evaluation.compare_features`` on the held-out images, exactly what ``aekit evaluate
  --features`` prints: cross-validated (5 stratified folds) accuracy of a linear probe (logistic regression on
  standardized features) and of a 5-nearest-neighbour vote, and trustworthiness (5 neighbours, 2,000 images).
  Labels are used only to score. Mean ± std over ``--seeds`` seeds (the autoencoder's seed and the folds'; PCA's
  and the pixels' spread is the folds' alone).

Results go to ``benchmarks/results/features.{json,md}`` (``--out``) with the machine and the command.

    python benchmarks/features.py --threads 1     # the published results: 10,000 + 5,000 images, 3 seeds
    python benchmarks/features.py --quick         # smoke run: digits only, 1 seed, code size 10
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import DATA, BenchmarkSkipped, load_mnist, machine_info, markdown_table, now, set_threads, write_results
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from aekit import AutoEncoder
from aekit.evaluation import compare_features

logger = logging.getLogger("benchmarks.features")
DATASETS = ("digits", "mnist", "fashion-mnist")
MEASURES = ("linear_accuracy", "knn_accuracy", "trustworthiness")


def load(name: str, n: int, n_test: int, data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat training images, held-out images and their classes, pixels in [0, 1]."""
    if name == "digits":
        digits = load_digits()
        X_train, X_test, _, y_test = train_test_split(digits.data / 16.0, digits.target, test_size=1 / 3,
                                                      stratify=digits.target, random_state=0)
        return X_train.astype(np.float32), X_test.astype(np.float32), y_test
    rng = np.random.default_rng(0)
    train, _ = load_mnist("train", data, dataset=name)
    test, y = load_mnist("test", data, dataset=name)
    rows = rng.choice(len(train), size=min(n, len(train)), replace=False)
    held = rng.choice(len(test), size=min(n_test, len(test)), replace=False)
    return flat(train[rows]), flat(test[held]), y[held].astype(np.int64)


def flat(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28) uint8 images as (n, 784) float32 rows in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255


def run(X_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, latent_dim: int, seed: int) -> dict[str, Any]:
    """One fit and its rows of compare_features, keyed by method, with the fit's seconds."""
    started = time.perf_counter()
    autoencoder = AutoEncoder(latent_dim=latent_dim, random_state=seed).fit(X_train)
    fit_seconds = time.perf_counter() - started
    rows = compare_features(autoencoder, X_train, X_test, y_test, random_state=seed)
    return {"fit_seconds": fit_seconds, "rows": {row["method"].split(" (")[0]: row for row in rows}}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and std over seeds of every measure of every method."""
    methods = list(runs[0]["rows"])
    out: dict[str, Any] = {"fit_seconds": float(np.mean([r["fit_seconds"] for r in runs])), "methods": {}}
    for method in methods:
        cells = {}
        for measure in MEASURES:
            values = [r["rows"][method][measure] for r in runs if r["rows"][method].get(measure) is not None]
            if values:
                cells[measure] = {"mean": float(np.mean(values)), "std": float(np.std(values)),
                                  "per_seed": [float(v) for v in values]}
        out["methods"][method] = {"code_size": runs[0]["rows"][method]["code_size"], **cells}
    return out


def cell(stats: dict[str, Any] | None) -> str:
    if stats is None:
        return ""
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}" if len(stats["per_seed"]) > 1 else f"{stats['mean']:.3f}"


def markdown(results: dict[str, Any], args: argparse.Namespace) -> str:
    settings = {k: v for k, v in vars(args).items() if k != "out"} | {"data": str(args.data)}
    parts = ["\n\n".join(__doc__.split("\n\n")[:3]).strip(), f"Settings: {settings}."]
    for name, by_dim in results.items():
        if "skipped" in by_dim:
            parts.append(f"### {name}\n\nSkipped: {by_dim['skipped']}")
            continue
        rows = []
        for latent_dim, summary in by_dim.items():
            for method, stats in summary["methods"].items():
                if method == "input as is" and latent_dim != next(iter(by_dim)):
                    continue  # the pixels do not depend on the code size: once per data set
                rows.append([method, stats["code_size"], *(cell(stats.get(m)) for m in MEASURES)])
        fits = ", ".join(f"{s['fit_seconds']:.0f} s at {d}" for d, s in by_dim.items())
        parts.append(f"### {name}\n\n" + markdown_table(["method", "code size", "linear probe accuracy",
                                                          "5-NN accuracy", "trustworthiness"], rows)
                     + f"\n\nAutoencoder fit, mean seconds: {fits}.")
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="training images drawn from each MNIST-format set")
    parser.add_argument("--n-test", type=int, default=5_000, help="held-out images drawn from each test split")
    parser.add_argument("--latent-dims", default="10,32")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: one per core)")
    parser.add_argument("--quick", action="store_true", help="digits only, 1 seed, code size 10")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.datasets, args.latent_dims = 1, "digits", "10"
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("aekit").setLevel(logging.WARNING)  # not every epoch of every autoencoder
    set_threads(args.threads)
    info, started, t0 = machine_info(), now(), time.perf_counter()
    results: dict[str, Any] = {}
    for name in args.datasets.split(","):
        try:
            X_train, X_test, y_test = load(name, args.n, args.n_test, args.data)
        except BenchmarkSkipped as exc:
            logger.warning("%s skipped: %s", name, exc)
            results[name] = {"skipped": str(exc)}
            continue
        results[name] = {}
        for latent_dim in (int(d) for d in args.latent_dims.split(",")):
            runs = []
            for seed in range(args.seeds):
                runs.append(run(X_train, X_test, y_test, latent_dim, seed))
                logger.info("%s, code size %d, seed %d: %s", name, latent_dim, seed,
                            {m: round(r["linear_accuracy"], 3) for m, r in runs[-1]["rows"].items()})
            results[name][latent_dim] = summarize(runs)
    settings = {k: v for k, v in vars(args).items() if k != "out"} | {"data": str(args.data)}
    write_results("features" + ("_quick" if args.quick else ""), {"settings": settings, "results": results},
                  markdown(results, args), info=info, started=started, seconds=time.perf_counter() - t0,
                  out=args.out)


if __name__ == "__main__":
    main()
