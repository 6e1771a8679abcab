"""ODDS benchmark: aekit.AnomalyDetector (defaults) against IsolationForest, ECOD, PyOD's AutoEncoder and LOF.

Protocol (ADBench's unsupervised setting): sets over 10,000 rows are subsampled to 10,000 (seeded), then a
stratified 70/30 split; min-max scaling fitted on the training part; every detector is fitted on the training
part without labels (anomalies included) and scores the test part; ROC-AUC and PR-AUC (average precision) on
the test part. Seeds 0..N-1 change the subsample, the split and each detector's own seed.
(ADBench also duplicates rows of sets under 1,000 rows before splitting; we do not, since the copies would land
on both sides of the split.)

    .venv/bin/python benchmarks/anomaly_odds.py                 # all sets, 5 seeds, all methods
    .venv/bin/python benchmarks/anomaly_odds.py --quick         # 2 seeds, 4 small sets, aekit + IForest + ECOD
    .venv/bin/python benchmarks/anomaly_odds.py --aekit small='{"n_estimators": 1}' --methods iforest
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly_common import DATA, command_line, machine_info, machine_markdown, write_results

BASELINES = ("iforest", "ecod", "pyod_ae", "lof")
MAX_ROWS = 10_000
QUICK_SETS = ("breastw", "cardio", "pima", "thyroid")  # small sets of different kinds: a smoke run in minutes


def load_set(name: str) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    mat = scipy.io.loadmat(DATA / "odds" / f"{name}.mat")
    return np.asarray(mat["X"], dtype=np.float64), np.asarray(mat["y"]).ravel().astype(int)


def split(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    if len(y) > MAX_ROWS:
        rows = np.random.default_rng(seed).choice(len(y), MAX_ROWS, replace=False)
        X, y = X[rows], y[rows]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    scaler = MinMaxScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def detector(method: str, seed: int, params: dict[str, Any]) -> tuple[Any, Any]:
    """(fit(X) -> fitted, score(fitted, X) -> scores), higher = more anomalous."""
    if method == "iforest":
        from sklearn.ensemble import IsolationForest

        return IsolationForest(random_state=seed).fit, lambda m, X: -m.score_samples(X)
    if method == "ecod":
        from pyod.models.ecod import ECOD

        return ECOD().fit, lambda m, X: m.decision_function(X)
    if method == "lof":
        from pyod.models.lof import LOF

        return LOF().fit, lambda m, X: m.decision_function(X)
    if method == "pyod_ae":
        from pyod.models.auto_encoder import AutoEncoder

        # defaults (10 epochs, [64, 32], dropout 0.2, batch norm, standardization); only the seed varies
        return (AutoEncoder(random_state=seed, verbose=0, device="cpu").fit,
                lambda m, X: m.decision_function(X))
    from aekit import AnomalyDetector

    return (AnomalyDetector(random_state=seed, device="cpu", **params).fit,
            lambda m, X: m.decision_function(X))


def run_one(task: tuple[str, int, str, dict[str, Any]]) -> dict[str, Any]:
    import torch
    from sklearn.metrics import average_precision_score, roc_auc_score

    torch.set_num_threads(1)
    name, seed, method, params = task
    X, y = load_set(name)
    X_train, X_test, _, y_test = split(X, y, seed)
    fit, score = detector(method.split(":")[0] if method.split(":")[0] in BASELINES else "aekit", seed, params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        model = fit(X_train)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        scores = np.asarray(score(model, X_test), dtype=np.float64)
        score_seconds = time.perf_counter() - started
    if not np.isfinite(scores).all():
        raise RuntimeError(f"{method} gave non-finite scores on {name} (seed {seed})")
    return {"set": name, "seed": seed, "method": method, "roc_auc": float(roc_auc_score(y_test, scores)),
            "pr_auc": float(average_precision_score(y_test, scores)), "fit_seconds": fit_seconds,
            "score_seconds": score_seconds, "n_train": len(X_train), "n_test": len(X_test)}


def _mean(per_set: dict[str, dict[str, float]], key: str) -> float:
    return float(np.mean([v[key] for v in per_set.values()]))


def summarize(runs: list[dict[str, Any]], methods: list[str], sets: list[str]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for method in methods:
        per_set = {}
        for name in sets:
            rows = [r for r in runs if r["method"] == method and r["set"] == name]
            if not rows:
                continue
            roc, pr = np.array([r["roc_auc"] for r in rows]), np.array([r["pr_auc"] for r in rows])
            per_set[name] = {"roc_auc_mean": roc.mean(), "roc_auc_std": roc.std(), "pr_auc_mean": pr.mean(),
                             "pr_auc_std": pr.std(), "fit_seconds": float(np.mean([r["fit_seconds"] for r in rows]))}
        table[method] = {"per_set": per_set, "roc_auc_mean": _mean(per_set, "roc_auc_mean"),
                         "roc_auc_std_mean": _mean(per_set, "roc_auc_std"), "pr_auc_mean": _mean(per_set, "pr_auc_mean"),
                         "pr_auc_std_mean": _mean(per_set, "pr_auc_std"),
                         "rank_mean": None}
    # mean rank over sets by ROC-AUC (1 = best)
    for name in sets:
        present = [m for m in methods if name in table[m]["per_set"]]
        order = sorted(present, key=lambda m: -table[m]["per_set"][name]["roc_auc_mean"])
        for rank, m in enumerate(order, 1):
            table[m]["per_set"][name]["rank"] = rank
    for m in methods:
        table[m]["rank_mean"] = float(np.mean([v["rank"] for v in table[m]["per_set"].values()]))
    return table


def markdown(table: dict[str, Any], methods: list[str], sets: list[str], seeds: int) -> str:
    def cell(v: dict[str, Any], key: str) -> str:
        return f"{100 * v[key + '_mean']:.1f} ± {100 * v[key + '_std']:.1f}"

    lines = []
    for key, title in (("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC")):
        lines += [f"### {title} (%, mean ± std over {seeds} seeds)", "",
                  "| set | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for name in sets:
            row = [cell(table[m]["per_set"][name], key) if name in table[m]["per_set"] else "-" for m in methods]
            best = max(table[m]["per_set"][name][key + "_mean"] for m in methods if name in table[m]["per_set"])
            row = [f"**{c}**" if name in table[m]["per_set"] and table[m]["per_set"][name][key + "_mean"] == best
                   else c for c, m in zip(row, methods)]
            lines.append(f"| {name} | " + " | ".join(row) + " |")
        lines.append("| **mean over sets** | " + " | ".join(
            f"{100 * table[m][key + '_mean']:.1f} (std {100 * table[m][key + '_std_mean']:.1f})" for m in methods)
            + " |")
        lines.append("")
    lines += ["### Mean rank by ROC-AUC (1 = best) and fit time", "", "| method | mean rank | mean fit seconds |",
              "|---|---|---|"]
    for m in methods:
        fit = np.mean([v["fit_seconds"] for v in table[m]["per_set"].values()])
        lines.append(f"| {m} | {table[m]['rank_mean']:.2f} | {fit:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sets", default=None, help="comma-separated ODDS names (default: every .mat file)")
    parser.add_argument("--methods", default=",".join(BASELINES), help="baselines to run beside aekit")
    parser.add_argument("--aekit", action="append", default=None, metavar="NAME=JSON",
                        help="an aekit variant: label=JSON params (repeatable); default: aekit with defaults")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 4 small sets; baselines iforest,ecod")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (1 torch thread each)")
    parser.add_argument("--out", default="anomaly_odds", help="stem of the result files in benchmarks/results")
    args = parser.parse_args()
    if not (DATA / "odds").is_dir():
        sys.exit(f"The ODDS data is absent ({DATA / 'odds'}); nothing to run.")
    seeds = 2 if args.quick and args.seeds == 5 else args.seeds
    baselines = ["iforest", "ecod"] if args.quick and args.methods == ",".join(BASELINES) else \
        [m for m in args.methods.split(",") if m]
    sets = args.sets.split(",") if args.sets else sorted(p.stem for p in (DATA / "odds").glob("*.mat"))
    if args.quick and not args.sets:
        sets = [name for name in QUICK_SETS if name in sets]
    variants = {"aekit": {}}
    if args.aekit:
        variants = {}
        for item in args.aekit:
            label, _, params = item.partition("=")
            variants[f"aekit:{label}" if label != "aekit" else "aekit"] = json.loads(params or "{}")
    methods = [*variants, *baselines]
    tasks = [(name, seed, method, variants.get(method, {})) for name in sets for seed in range(seeds)
             for method in methods]
    info = machine_info()
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            for result in pool.map(run_one, tasks):
                runs.append(result)
                print(json.dumps(result), flush=True)
    else:
        for task in tasks:
            runs.append(run_one(task))
            print(json.dumps(runs[-1]), flush=True)
    table = summarize(runs, methods, sets)
    command = command_line()
    md = (f"# ODDS benchmark: aekit.AnomalyDetector vs IsolationForest, ECOD, PyOD AutoEncoder, LOF\n\n"
          f"{__doc__.split(chr(10) + chr(10))[1]}\n\n{machine_markdown(info, command)}\n"
          f"Variants: {json.dumps(variants)}. Wall time {time.perf_counter() - started:.0f}s with {args.jobs} "
          f"job(s).\n\n{markdown(table, methods, sets, seeds)}")
    payload = {"command": command, "machine": info, "seeds": seeds, "sets": sets, "variants": variants,
               "summary": table, "runs": runs}
    stem = f"{args.out}_quick" if args.quick else args.out  # a smoke run never overwrites the full figures
    paths = write_results(stem, payload, md)
    print(markdown(table, methods, sets, seeds))
    print(f"Wrote {paths[0]} and {paths[1]}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
