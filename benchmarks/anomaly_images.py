"""Image anomaly benchmark: one-class MNIST and Fashion-MNIST, aekit's detectors against IsolationForest, ECOD
and PyOD's AutoEncoder.

Protocol (the one-class setting of Ruff et al., Deep SVDD, 2018): for each class c, the detectors are fitted on
the first N training images of class c (pixels in [0, 1]) and score the whole test set, where class c is normal
and the nine others are anomalies (90% of it). ROC-AUC per class, and the mean over the ten classes. Every
detector runs with its defaults: aekit's ``conv`` detector and its ``dense`` one (``aekit-dense-images``) read
the images (1, 28, 28), so they scale all pixels alike and score squared errors; ``aekit-dense`` and the
baselines read the 784 pixels as a row, which aekit treats as a table (robust scaling per pixel, standardized
errors, constant pixels left out).

    .venv/bin/python benchmarks/anomaly_images.py --jobs 2                       # both sets, all methods
    .venv/bin/python benchmarks/anomaly_images.py --datasets mnist --out anomaly_images_mnist   # the README's
    .venv/bin/python benchmarks/anomaly_images.py --datasets fashion-mnist --out anomaly_images_fashion
    .venv/bin/python benchmarks/anomaly_images.py --quick   # MNIST, classes 0 and 1, 200 images: about 6 minutes
    .venv/bin/python benchmarks/anomaly_images.py --methods aekit-conv --params '{"n_estimators": 3}' --jobs 2 \
        --out anomaly_images_conv3     # the conv detector with 3 members instead of 10, both sets

A full run is about 7.5 minutes a class and set on one thread, 2.5 hours in all with one job.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly_common import command_line, machine_info, machine_markdown, write_results
from anomaly_odds import detector
from common import BenchmarkSkipped, load_mnist

DATASETS = ("mnist", "fashion-mnist")
METHODS = ("aekit-conv", "aekit-dense-images", "aekit-dense", "iforest", "ecod", "pyod_ae")


@functools.cache
def _images(dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split's images and labels, read once per worker process (every class and method reuses them)."""
    return load_mnist(split, dataset=dataset)


def one_class(dataset: str, normal: int, n_train: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training images of class ``normal`` (n, 1, 28, 28), all test images, and their labels (1 = anomaly)."""
    train, train_labels = _images(dataset, "train")
    test, test_labels = _images(dataset, "test")
    X_train = train[train_labels == normal][:n_train, None].astype(np.float32) / 255
    return X_train, test[:, None].astype(np.float32) / 255, (test_labels != normal).astype(int)


def run_one(dataset: str, normal: int, method: str, n_train: int, seed: int, params: dict[str, Any]
            ) -> dict[str, Any]:
    import torch

    from aekit.anomaly.metrics import pr_auc, roc_auc

    torch.set_num_threads(1)
    X_train, X_test, y = one_class(dataset, normal, n_train)
    if method in ("aekit-conv", "aekit-dense-images"):
        fit, score = detector("aekit", seed, {"model": method.split("-")[1], **params})
    else:  # rows of 784 pixels
        X_train, X_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
        fit, score = detector("aekit" if method == "aekit-dense" else method, seed, params)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = score(fit(X_train), X_test)
    return {"dataset": dataset, "class": normal, "method": method, "seed": seed, "n_train": len(X_train),
            "seconds": time.perf_counter() - started, "roc_auc": roc_auc(y, scores), "pr_auc": pr_auc(y, scores)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--n-train", type=int, default=1000, help="training images of the normal class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel, one thread each")
    parser.add_argument("--out", default="anomaly_images")
    parser.add_argument("--params", type=json.loads, default={},
                        help="JSON parameters for aekit's detectors, e.g. '{\"n_estimators\": 3}'")
    parser.add_argument("--quick", action="store_true", help="smoke run: MNIST, classes 0 and 1, 200 images")
    args = parser.parse_args()
    if args.quick:
        args.datasets, args.classes, args.n_train, args.out = "mnist", "0,1", 200, f"{args.out}_quick"
    datasets = [d for d in args.datasets.split(",") if d]
    methods = [m for m in args.methods.split(",") if m]
    classes = [int(c) for c in args.classes.split(",") if c]
    if bad := [m for m in methods if m not in METHODS] + [d for d in datasets if d not in DATASETS]:
        sys.exit(f"Unknown method or dataset: {', '.join(bad)}. Methods: {', '.join(METHODS)}; datasets: "
                 f"{', '.join(DATASETS)}.")
    try:
        for dataset in datasets:
            load_mnist("test", dataset=dataset)
    except BenchmarkSkipped as exc:
        sys.exit(f"SKIPPED: {exc}")
    info = machine_info()
    jobs = [(d, c, m, args.n_train, args.seed, args.params) for d in datasets for c in classes for m in methods]
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for row in pool.map(run_one, *zip(*jobs)):
            rows.append(row)
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    lines = ["# One-class MNIST and Fashion-MNIST: aekit's image detectors against IsolationForest, ECOD and "
             "PyOD's AutoEncoder\n", __doc__.split("\n\n")[1] + "\n", machine_markdown(info, command_line()),
             f"Settings: {args.n_train} training images of the normal class, seed {args.seed}, test set of 10,000; "
             f"aekit's parameters {args.params or 'the defaults'}. "
             f"Total wall time {time.perf_counter() - started:.0f}s with {args.jobs} job(s).\n"]
    for dataset in datasets:
        lines += [f"### {dataset}: ROC-AUC per normal class\n",
                  "| class | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        table = {(r["class"], r["method"]): r for r in rows if r["dataset"] == dataset}
        for c in classes:
            lines.append(f"| {c} | " + " | ".join(f"{table[c, m]['roc_auc']:.4f}" for m in methods) + " |")
        for key, label in (("roc_auc", "mean ROC-AUC"), ("pr_auc", "mean PR-AUC"), ("seconds", "mean seconds")):
            values = [np.mean([table[c, m][key] for c in classes]) for m in methods]
            lines.append(f"| **{label}** | " + " | ".join(f"**{v:.4f}**" if key != "seconds" else f"{v:.1f}"
                                                         for v in values) + " |")
        lines.append("")
    lines.append("Seconds: fit on the normal class plus scoring the 10,000 test images, one thread.\n")
    payload = {"command": command_line(), "machine": info, "n_train": args.n_train, "seed": args.seed,
               "params": args.params, "rows": rows}
    paths = write_results(args.out, payload, "\n".join(lines))
    print("\n".join(lines))
    print(f"Wrote {paths[0]} and {paths[1]}")


if __name__ == "__main__":
    main()
