"""Fit and score time per 10,000 rows: aekit.AnomalyDetector against PyOD's AutoEncoder, both with defaults.

Data: 10,000 rows of the ODDS 'pendigits' and 'mnist' sets (resampled with replacement to exactly 10,000
rows, seed 0), min-max scaled, so the figures cover 16 and 100 features. CPU, one process; each figure is
the median of ``--repeats`` runs. aekit is also shown with one member (``n_estimators=1``), the cost of a
single autoencoder.

    .venv/bin/python benchmarks/anomaly_timing.py --threads 1   # 3 repeats (the published figures)
    .venv/bin/python benchmarks/anomaly_timing.py --quick       # 1 repeat, pendigits only
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly_common import DATA, command_line, machine_info, machine_markdown, write_results

ROWS = 10_000


def data(name: str) -> np.ndarray:
    import scipy.io
    from sklearn.preprocessing import MinMaxScaler

    X = np.asarray(scipy.io.loadmat(DATA / "odds" / f"{name}.mat")["X"], dtype=np.float64)
    X = X[np.random.default_rng(0).choice(len(X), ROWS, replace=True)]
    return MinMaxScaler().fit_transform(X)


def make(method: str) -> Any:
    if method == "pyod_ae":
        from pyod.models.auto_encoder import AutoEncoder

        return AutoEncoder(random_state=0, verbose=0, device="cpu")
    from aekit import AnomalyDetector

    return AnomalyDetector(random_state=0, device="cpu", n_estimators=1 if method == "aekit-1-member" else 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="anomaly_timing")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    sets = ["pendigits"] if args.quick else ["pendigits", "mnist"]
    methods = ["aekit", "aekit-1-member", "pyod_ae"]
    info = machine_info()
    results: list[dict[str, Any]] = []
    for name in sets:
        X = data(name)
        for method in methods:
            fits, scores = [], []
            for _ in range(repeats):
                model = make(method)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    started = time.perf_counter()
                    model.fit(X)
                    fits.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    model.decision_function(X)
                    scores.append(time.perf_counter() - started)
            row = {"set": name, "n_features": X.shape[1], "method": method, "fit_seconds": float(np.median(fits)),
                   "score_seconds": float(np.median(scores)), "fit_runs": fits, "score_runs": scores}
            results.append(row)
            print(row, flush=True)
    lines = ["# Fit and score time per 10,000 rows\n", __doc__.split("\n\n")[1] + "\n",
             machine_markdown(info, command_line()), f"torch threads: {args.threads}; repeats: {repeats}.\n",
             "| data | method | fit s / 10k rows | score s / 10k rows |", "|---|---|---|---|"]
    for row in results:
        lines.append(f"| {row['set']} ({row['n_features']} features) | {row['method']} | {row['fit_seconds']:.2f} | "
                     f"{row['score_seconds']:.3f} |")
    payload = {"command": command_line(), "machine": info, "threads": args.threads, "repeats": repeats,
               "results": results}
    stem = f"{args.out}_quick" if args.quick else args.out  # a smoke run never overwrites the full figures
    paths = write_results(stem, payload, "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"Wrote {paths[0]} and {paths[1]}")


if __name__ == "__main__":
    main()
