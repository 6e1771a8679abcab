"""NAB benchmark: point scores on six real series, aekit's window detectors against a rolling z-score and an
IsolationForest on the same windows.

Every detector is fitted on the whole series without labels (anomalies included, as in a batch analysis of a
log) and scores every time step. Labels: a step is anomalous when it lies inside one of NAB's label windows
(combined_windows.json), which are NAB's tolerance around each labeled anomaly. Metrics per series: ROC-AUC
of the point scores; event-level F1 (aekit.anomaly.metrics.event_f1, tolerance 0 since the windows already
are the tolerance) with the threshold every method gets the same way, the top 1% of its scores; and the best
event F1 over thresholds (an oracle that looks at the labels, shown for reference only).

One setting for all six series (no per-series tuning): windows of 32 steps, stride 1. The rolling z-score is
|x_t - mean| / std over the 32 steps before t. IsolationForest scores each window (its 32 values as features)
and gets point scores by the same overlap averaging as aekit.

    .venv/bin/python benchmarks/anomaly_nab.py              # 3 seeds for the learned detectors
    .venv/bin/python benchmarks/anomaly_nab.py --quick      # 1 seed, dense only, 2 members
    .venv/bin/python benchmarks/anomaly_nab.py --params '{"coarse_factor": 1}' --out anomaly_nab_no_coarse
    .venv/bin/python benchmarks/anomaly_nab.py --models transformer,recurrent-series --jobs 2 \
        --out anomaly_nab_sequence              # the sequence models with the detector's defaults (3 members)
    .venv/bin/python benchmarks/anomaly_nab.py --models transformer --params '{"n_estimators": 10}' --jobs 2 \
        --out anomaly_nab_transformer10         # the transformer detector with 10 members instead of 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly_common import DATA, command_line, machine_info, machine_markdown, write_results

SERIES = ("ambient_temperature_system_failure", "cpu_utilization_asg_misconfiguration",
          "ec2_request_latency_system_failure", "machine_temperature_system_failure", "nyc_taxi",
          "rogue_agent_key_hold")
WINDOW = 32
TOP_SHARE = 0.01


def load(name: str) -> tuple[pd.Series, np.ndarray]:
    from aekit.anomaly.metrics import load_nab_windows, windows_to_labels
    from aekit.anomaly.series import read_table

    frame = read_table(DATA / "nab" / f"{name}.csv")
    windows = load_nab_windows(DATA / "nab" / "combined_windows.json", f"{name}.csv")
    return frame["value"].astype(float), windows_to_labels(frame.index, windows)


def rolling_zscore(values: np.ndarray) -> np.ndarray:
    series = pd.Series(values)
    past = series.shift(1).rolling(WINDOW, min_periods=2)
    z = (series - past.mean()).abs() / past.std().replace(0, np.nan)
    return z.fillna(0.0).to_numpy()


def iforest_windows(values: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import IsolationForest

    from aekit.data.windows import make_windows, spread_window_values

    windows, starts = make_windows(values, WINDOW, 1)  # (n, 1, WINDOW)
    flat = windows.reshape(len(windows), -1)
    window_scores = -IsolationForest(random_state=seed).fit(flat).score_samples(flat)
    return spread_window_values(window_scores, starts, WINDOW, len(values))


def aekit_scores(values: pd.Series, model: str, seed: int, params: dict[str, Any]) -> np.ndarray:
    from aekit import AnomalyDetector

    detector = AnomalyDetector(model=model, window_size=WINDOW, window_stride=1, random_state=seed, device="cpu",
                               **params)
    return detector.fit(values).decision_function(values)


def evaluate(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    from aekit.anomaly.metrics import best_event_f1, event_f1, pr_auc, roc_auc

    threshold = np.quantile(scores, 1 - TOP_SHARE)
    at_top = event_f1(labels, (scores > threshold).astype(int))
    best, _ = best_event_f1(labels, scores)
    return {"roc_auc": roc_auc(labels, scores), "pr_auc": pr_auc(labels, scores), "event_f1": at_top.f1,
            "event_precision": at_top.precision, "event_recall": at_top.recall, "best_event_f1": best.f1}


def run_one(name: str, method: str, learned: tuple[str, dict[str, Any], int] | None, seed: int) -> dict[str, Any]:
    """One method on one series with one seed (a worker process, one torch thread)."""
    import torch

    torch.set_num_threads(1)
    values, labels = load(name)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if learned is not None:
            scores = aekit_scores(values, learned[0], seed, learned[1])
        elif method == "rolling-zscore":
            scores = rolling_zscore(values.to_numpy())
        else:
            scores = iforest_windows(values.to_numpy(), seed)
    return {"series": name, "method": method, "seed": seed, "n_steps": len(values),
            "seconds": time.perf_counter() - started, **evaluate(labels, scores)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="anomaly_nab")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel, one torch thread each")
    parser.add_argument("--params", type=json.loads, default={},
                        help="AnomalyDetector parameters (JSON) for both aekit detectors, e.g. an ablation")
    parser.add_argument("--models", default="dense,transformer",
                        help="aekit presets to run, comma-separated, each with the detector's defaults; dense "
                             "gets the seeds, sequence models (transformer, recurrent-series) one seed")
    args = parser.parse_args()
    if not (DATA / "nab").is_dir():
        sys.exit(f"The NAB data is absent ({DATA / 'nab'}); nothing to run.")
    from aekit import list_models

    seeds = 1 if args.quick else args.seeds
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in list_models()]
    if unknown:
        sys.exit(f"Unknown model(s) {', '.join(unknown)}; see 'aekit list-models'.")
    # name -> (preset, parameters beyond the defaults, seeds); CPU budget: a transformer or GRU step costs ~30x a
    # dense one here, so the sequence models get one seed (and, by the detector's default, 3 members to dense's 10)
    learned = {f"aekit-{m}": (m, {**args.params}, seeds if m == "dense" else 1) for m in models}
    if args.quick:
        learned = {"aekit-dense": ("dense", {"n_estimators": 2, **args.params}, 1)}
    methods = [*learned, "rolling-zscore", "iforest-windows"]
    info = machine_info()
    started_all = time.perf_counter()
    n_seeds = {m: learned[m][2] if m in learned else (seeds if m == "iforest-windows" else 1) for m in methods}
    runs = [(name, m, learned.get(m), seed) for name in SERIES for m in methods for seed in range(n_seeds[m])]
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for row in pool.map(run_one, *zip(*runs)):
            rows.append(row)
            print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    frame = pd.DataFrame(rows)
    summary = frame.groupby(["series", "method"])[["roc_auc", "event_f1", "best_event_f1", "seconds"]].agg(
        ["mean", "std"]).fillna(0.0)
    means = frame.groupby("method")[["roc_auc", "event_f1", "best_event_f1", "seconds"]].mean()

    def cell(series: str, method: str, key: str) -> str:
        m, s = summary.loc[(series, method), (key, "mean")], summary.loc[(series, method), (key, "std")]
        return f"{m:.3f}" + (f" ± {s:.3f}" if s > 0 else "")

    lines = ["# NAB: aekit window detectors vs rolling z-score and IsolationForest on windows\n",
             __doc__.split("\n\n")[1] + "\n", __doc__.split("\n\n")[2] + "\n",
             machine_markdown(info, command_line()),
             "Settings: " + "; ".join(f"{m}: {p or 'defaults'}, {n} seed(s)" for m, (_, p, n) in learned.items())
             + f"; iforest-windows: {seeds} seed(s). Total wall time {time.perf_counter() - started_all:.0f}s.\n"]
    for key, title in (("roc_auc", "ROC-AUC"), ("event_f1", f"Event F1, threshold at the top {TOP_SHARE:.0%}"),
                       ("best_event_f1", "Best event F1 over thresholds (oracle, reference only)")):
        lines += [f"### {title}\n", "| series | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        for name in SERIES:
            lines.append(f"| {name} | " + " | ".join(cell(name, m, key) for m in methods) + " |")
        lines.append("| **mean** | " + " | ".join(f"**{means.loc[m, key]:.3f}**" for m in methods) + " |\n")
    lines.append("Mean seconds per series (fit + score): " + ", ".join(
        f"{m} {means.loc[m, 'seconds']:.1f}" for m in methods) + ".\n")
    payload = {"command": command_line(), "machine": info, "window": WINDOW, "top_share": TOP_SHARE,
               "methods": methods, "rows": rows}
    stem = f"{args.out}_quick" if args.quick else args.out  # a smoke run never overwrites the full figures
    paths = write_results(stem, payload, "\n".join(lines))
    print("\n".join(lines))
    print(f"Wrote {paths[0]} and {paths[1]}")


if __name__ == "__main__":
    main()
